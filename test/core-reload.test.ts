// SPDX-License-Identifier: LGPL-3.0-or-later
// RELOAD: the 503 window, Erlang-style old versions, dispose, failed reloads,
// delete/restore, conflicts, reserved prefixes, broken files at start-up.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { admin, exchange, LineClient, startHrmr, tempDir, waitUntil } from './helpers/hrmr.ts';

/** A module "ver" whose replies carry its label; dispose drops a marker file. */
function ver(label: string, marks: string, extra = ''): string {
  return `import { writeFileSync } from 'node:fs';
export default { name: 'ver',
  routes: [{ prefix: 'VER', message: (m, ctx) => '${label} v' + ctx.version + '\\n' }],
  ${extra}
  dispose() { writeFileSync(${JSON.stringify(marks)} + '/disposed-${label}', 'x'); },
};`;
}
const OTHER = `export default { routes: [{ prefix: 'OTHER', message: () => 'other\\n' }] };`;
const RELOAD_OK = /^OK reloaded (\d+) modules in \d+ ms$/;

function marks(t: { after(fn: () => void): void }): string {
  const d = tempDir('hrmr-marks-');
  t.after(() => rmSync(d, { recursive: true, force: true }));
  return d;
}

test('503 window: while a module swaps, new connections to it get 503; other modules keep serving', async (t) => {
  const m = marks(t);
  const h = await startHrmr({ modules: { ver: ver('a', m), other: OTHER } });
  t.after(() => h.kill());
  assert.equal(await exchange(h.port, 'VER\n', { end: true }), 'a v1\n');
  // v2's setup waits for a "go" file, so the window stays open as long as the test needs.
  h.writeModule('ver', ver('b', m, `async setup() {
    const fs = await import('node:fs');
    fs.writeFileSync(${JSON.stringify(m)} + '/started', 'x');
    for (let i = 0; i < 1000 && !fs.existsSync(${JSON.stringify(m)} + '/go'); i++) await new Promise((r) => setTimeout(r, 10));
  },`));
  const reply = admin(h.port, 'RELOAD');
  await waitUntil(() => existsSync(join(m, 'started')), 'setup to start');
  const r503 = await exchange(h.port, 'VER\n');
  assert.ok(r503.startsWith('HTTP/1.1 503 Service Unavailable\r\n'), JSON.stringify(r503));
  const head = r503.slice(0, r503.indexOf('\r\n\r\n'));
  assert.match(head, /\r\nRetry-After: 1(\r\n|$)/);
  assert.match(head, /\r\nConnection: close(\r\n|$)/);
  // Other modules and admin keep serving meanwhile.
  assert.equal(await exchange(h.port, 'OTHER\n', { end: true }), 'other\n');
  const st = JSON.parse((await admin(h.port, 'STATUS')).slice(3)) as { modules: Array<{ name: string; swapping: boolean }> };
  assert.equal(st.modules.find((x) => x.name === 'ver')?.swapping, true);
  writeFileSync(join(m, 'go'), 'x');
  assert.match(await reply, RELOAD_OK);
  assert.equal(await exchange(h.port, 'VER\n', { end: true }), 'b v2\n');
});

test('old connections stay on their version; new ones get the new one; dispose runs when the last old one closes', async (t) => {
  const m = marks(t);
  const h = await startHrmr({ modules: { ver: ver('a', m), other: OTHER } });
  t.after(() => h.kill());
  const old = await LineClient.open(h.port);
  assert.equal(await old.request('VER'), 'a v1');
  h.writeModule('ver', ver('b', m));
  assert.match(await admin(h.port, 'RELOAD'), RELOAD_OK);
  const fresh = await LineClient.open(h.port);
  assert.equal(await fresh.request('VER'), 'b v2');
  assert.equal(await old.request('VER'), 'a v1', 'old connection keeps the old version');
  assert.equal(existsSync(join(m, 'disposed-a')), false, 'not disposed while a connection uses it');
  const st = JSON.parse((await admin(h.port, 'STATUS')).slice(3)) as { modules: Array<{ name: string; version: number; draining: Array<{ version: number; connections: number }> }> };
  const v = st.modules.find((x) => x.name === 'ver')!;
  assert.equal(v.version, 2);
  assert.deepEqual(v.draining.map((d) => [d.version, d.connections]), [[1, 1]]);
  old.close();
  await waitUntil(() => existsSync(join(m, 'disposed-a')), 'dispose of v1 after its last connection closed');
  assert.equal(await fresh.request('VER'), 'b v2');
  assert.equal(existsSync(join(m, 'disposed-b')), false);
  fresh.close();
});

test('--drain-timeout closes old connections, then dispose runs', async (t) => {
  const m = marks(t);
  const h = await startHrmr({ modules: { ver: ver('a', m) }, args: ['--drain-timeout', '300'] });
  t.after(() => h.kill());
  const old = await LineClient.open(h.port);
  assert.equal(await old.request('VER'), 'a v1');
  h.writeModule('ver', ver('b', m));
  assert.match(await admin(h.port, 'RELOAD'), RELOAD_OK);
  assert.equal(await old.read(5000), null, 'old connection closed by the drain timeout');
  await waitUntil(() => existsSync(join(m, 'disposed-a')), 'dispose after the drain timeout');
  assert.equal(await exchange(h.port, 'VER\n', { end: true }), 'b v2\n');
});

test('failed reload (syntax error, setup throws) keeps the old version serving; RELOAD says ERR naming the module', async (t) => {
  const m = marks(t);
  const h = await startHrmr({ modules: { ver: ver('a', m), other: OTHER } });
  t.after(() => h.kill());
  const old = await LineClient.open(h.port);
  assert.equal(await old.request('VER'), 'a v1');

  h.writeModule('ver', 'export default { routes: [ { prefix: "VER", message: () => "x" ');
  const r1 = await admin(h.port, 'RELOAD');
  assert.match(r1, /^ERR reload failed for 1 module\b.*: ver: .*import failed/);
  assert.equal(await exchange(h.port, 'VER\n', { end: true }), 'a v1\n');
  assert.equal(await old.request('VER'), 'a v1');
  await h.waitForLog((l) => l.module === 'ver' && l.level >= 50 && /failed/.test(l.msg));

  h.writeModule('ver', ver('b', m, `setup() { throw new Error('bad setup'); },`));
  const r2 = await admin(h.port, 'RELOAD');
  assert.match(r2, /^ERR reload failed for 1 module\b.*ver: .*bad setup/);
  assert.equal(await exchange(h.port, 'VER\n', { end: true }), 'a v1\n');
  assert.equal(existsSync(join(m, 'disposed-a')), false, 'the old version was not retired');
  assert.equal(await exchange(h.port, 'OTHER\n', { end: true }), 'other\n');

  // Two broken modules: both named.
  h.writeModule('other', 'export default 42;');
  const r3 = await admin(h.port, 'RELOAD');
  assert.match(r3, /^ERR reload failed for 2 modules: /);
  assert.match(r3, /other: /);
  assert.match(r3, /ver: /);
  assert.equal(await exchange(h.port, 'OTHER\n', { end: true }), 'other\n');

  h.writeModule('other', OTHER);
  h.writeModule('ver', ver('c', m));
  assert.match(await admin(h.port, 'RELOAD'), RELOAD_OK);
  assert.match(await exchange(h.port, 'VER\n', { end: true }), /^c v\d+\n$/);
  assert.equal(await old.request('VER'), 'a v1');
  old.close();
  await waitUntil(() => existsSync(join(m, 'disposed-a')), 'v1 disposed');
});

test('delete a module, RELOAD, route gone; put it back, RELOAD, served again', async (t) => {
  const m = marks(t);
  const h = await startHrmr({ modules: { ver: ver('a', m), other: OTHER } });
  t.after(() => h.kill());
  const src = ver('a', m);
  h.removeModule('ver');
  assert.equal(RELOAD_OK.exec(await admin(h.port, 'RELOAD'))?.[1], '1');
  assert.equal(await exchange(h.port, 'VER\n'), 'ERR no route\n');
  await waitUntil(() => existsSync(join(m, 'disposed-a')), 'dispose of the deleted module');
  const st = JSON.parse((await admin(h.port, 'STATUS')).slice(3)) as { modules: Array<{ name: string }> };
  assert.deepEqual(st.modules.map((x) => x.name), ['other']);
  h.writeModule('ver', src);
  const r = await admin(h.port, 'RELOAD');
  assert.equal(RELOAD_OK.exec(r)?.[1], '2', r);
  assert.match(await exchange(h.port, 'VER\n', { end: true }), /^a v\d+\n$/);
  // And once more: delete, reload, restore, reload.
  h.removeModule('ver');
  assert.equal(RELOAD_OK.exec(await admin(h.port, 'RELOAD'))?.[1], '1');
  h.writeModule('ver', src);
  assert.equal(RELOAD_OK.exec(await admin(h.port, 'RELOAD'))?.[1], '2');
  assert.match(await exchange(h.port, 'VER\n', { end: true }), /^a v\d+\n$/);
});

test('RELOAD loads new files and reports how many modules serve', async (t) => {
  const h = await startHrmr({ modules: { other: OTHER } });
  t.after(() => h.kill());
  assert.equal(await exchange(h.port, 'NEWMOD\n'), 'ERR no route\n');
  h.writeModule('newmod', `export default { routes: [{ prefix: 'NEWMOD', message: () => 'new\\n' }] };`);
  const r = await admin(h.port, 'RELOAD');
  assert.equal(RELOAD_OK.exec(r)?.[1], '2', r);
  assert.equal(await exchange(h.port, 'NEWMOD\n', { end: true }), 'new\n');
  await h.waitForLog((l) => l.msg === 'module loaded' && l.module === 'newmod');
  // Unchanged files are not reloaded: still version 1.
  const st = JSON.parse((await admin(h.port, 'STATUS')).slice(3)) as { modules: Array<{ name: string; version: number }> };
  assert.deepEqual(st.modules.map((x) => [x.name, x.version]), [['newmod', 1], ['other', 1]]);
});

test('two modules claiming one prefix: the earlier in name order keeps it; RELOAD and logs report it; nothing crashes', async (t) => {
  const h = await startHrmr({
    modules: {
      alpha: `export default { routes: [{ prefix: 'DUP', message: () => 'alpha\\n' }] };`,
      beta: `export default { routes: [{ prefix: 'DUP', message: () => 'beta\\n' }, { prefix: 'BETA', message: () => 'beta only\\n' }] };`,
    },
  });
  t.after(() => h.kill());
  await h.waitForLog((l) => l.msg === 'route conflict' && l.module === 'beta');
  assert.equal(await exchange(h.port, 'DUP\n', { end: true }), 'alpha\n');
  assert.equal(await exchange(h.port, 'BETA\n', { end: true }), 'beta only\n');
  const r = await admin(h.port, 'RELOAD');
  assert.match(r, /^OK reloaded 2 modules in \d+ ms; conflicts: prefix DUP of beta is already claimed by alpha$/);
  // Removing the owner hands the prefix to the other module.
  h.removeModule('alpha');
  assert.match(await admin(h.port, 'RELOAD'), RELOAD_OK);
  assert.equal(await exchange(h.port, 'DUP\n', { end: true }), 'beta\n');
});

test('a module added later cannot take a live prefix: RELOAD refuses its route and names both; traffic stays', async (t) => {
  const h = await startHrmr({ modules: { kv: `export default { routes: [{ prefix: 'KV ', message: () => 'kv\\n' }] };` } });
  t.after(() => h.kill());
  assert.equal(await exchange(h.port, 'KV GET a\n', { end: true }), 'kv\n');
  // 'akv' sorts before 'kv': by name order alone it would take the prefix.
  h.writeModule('akv', `export default { routes: [{ prefix: 'KV ', message: () => 'akv\\n' }, { prefix: 'AKV', message: () => 'akv own\\n' }] };`);
  const r = await admin(h.port, 'RELOAD');
  assert.equal(r, 'ERR reload refused 1 route: prefix KV  of akv is already claimed by kv');
  assert.equal(await exchange(h.port, 'KV GET a\n', { end: true }), 'kv\n');
  assert.equal(await exchange(h.port, 'AKV\n', { end: true }), 'akv own\n');
  const st = JSON.parse((await admin(h.port, 'STATUS')).slice(3)) as { modules: Array<{ name: string; routes: Array<{ prefix: string; refused?: boolean }> }> };
  const akv = st.modules.find((m) => m.name === 'akv')!;
  assert.deepEqual(akv.routes.map((x) => [x.prefix, x.refused ?? false]), [['KV ', true], ['AKV', false]]);
  // Nothing changed since: the next RELOAD reports the conflict but does not fail.
  assert.match(await admin(h.port, 'RELOAD'), /^OK reloaded 2 modules in \d+ ms; conflicts: prefix KV  of akv is already claimed by kv$/);
});

test('RELOAD names every failure and every conflict in one line', async (t) => {
  const h = await startHrmr({ modules: { alpha: `export default { routes: [{ prefix: 'SAME', message: () => 'a\\n' }] };`, beta: `export default { routes: [{ prefix: 'SAME', message: () => 'b\\n' }] };` } });
  t.after(() => h.kill());
  h.writeModule('zreserved', `export default { routes: [{ prefix: 'RELOAD', message: () => 'x\\n' }] };`);
  h.writeModule('broken', 'export default {{{');
  const r = await admin(h.port, 'RELOAD');
  assert.match(r, /^ERR reload failed for 2 modules: /);
  for (const name of ['beta', 'zreserved', 'broken']) assert.ok(r.includes(name), `${name} missing from ${r}`);
  assert.ok(r.includes('prefix SAME of beta is already claimed by alpha'), r);
});

test('a module shadowing a built-in command is rejected at load; the rest load and admin still works', async (t) => {
  const h = await startHrmr({
    modules: {
      bad: `export default { routes: [{ prefix: 'STATUS', message: () => 'hijack\\n' }] };`,
      other: OTHER,
    },
  });
  t.after(() => h.kill());
  await h.waitForLog((l) => l.module === 'bad' && l.level >= 50 && JSON.stringify(l).includes('STATUS'));
  assert.match(await admin(h.port, 'STATUS'), /^OK \{/);
  assert.equal(await exchange(h.port, 'OTHER\n', { end: true }), 'other\n');
  assert.match(await admin(h.port, 'RELOAD'), /^ERR reload failed for 1 module: bad: .*shadows the built-in command STATUS/);
});

test('a module file with a syntax error at start-up is logged and skipped; the rest load', async (t) => {
  const h = await startHrmr({ modules: { broken: 'export default {{{', other: OTHER } });
  t.after(() => h.kill());
  await h.waitForLog((l) => l.module === 'broken' && l.level >= 50);
  assert.equal(await exchange(h.port, 'OTHER\n', { end: true }), 'other\n');
  const st = JSON.parse((await admin(h.port, 'STATUS')).slice(3)) as { modules: Array<{ name: string }> };
  assert.deepEqual(st.modules.map((x) => x.name), ['other']);
  h.writeModule('broken', `export default { routes: [{ prefix: 'FIXED', message: () => 'fixed\\n' }] };`);
  assert.equal(RELOAD_OK.exec(await admin(h.port, 'RELOAD'))?.[1], '2');
  assert.equal(await exchange(h.port, 'FIXED\n', { end: true }), 'fixed\n');
});
