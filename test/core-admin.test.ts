// SPDX-License-Identifier: LGPL-3.0-or-later
// Admin sessions: STATUS, CLOSE, command lines, --admin-token, SHUTDOWN draining, signals.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { admin, connect, exchange, LineClient, startHrmr, tempDir, waitUntil } from './helpers/hrmr.ts';
import { isLoopback } from '../src/admin/session.ts';

const OTHER = `export default { routes: [{ prefix: 'OTHER', message: () => 'other\\n' }] };`;
function slow(marks: string, label = 'a'): string {
  return `import { writeFileSync } from 'node:fs';
export default { name: 'slow', routes: [
  { prefix: 'SLOW', message: async () => { writeFileSync(${JSON.stringify(marks)} + '/started', 'x'); await new Promise((r) => setTimeout(r, 400)); return 'slow done ${label}\\n'; } },
  { prefix: 'HOLD', connection: (s) => { s.on('data', () => {}); } },
  { prefix: 'V', message: (m, ctx) => '${label} v' + ctx.version + '\\n' },
], dispose() { writeFileSync(${JSON.stringify(marks)} + '/disposed-${label}', 'x'); } };`;
}
function marks(t: { after(fn: () => void): void }): string {
  const d = tempDir('hrmr-marks-');
  t.after(() => rmSync(d, { recursive: true, force: true }));
  return d;
}

interface Status {
  connections: number;
  reloads: number;
  modules: Array<{ name: string; version: number; connections: number; routes: Array<{ prefix: string; kind: string; connections: number }> }>;
}
const status = async (port: number): Promise<Status> => {
  const r = await admin(port, 'STATUS');
  assert.match(r, /^OK \{.*\}$/);
  return JSON.parse(r.slice(3)) as Status;
};

test('STATUS: one line of JSON with modules, versions, routes, connections and the reload count', async (t) => {
  const m = marks(t);
  const h = await startHrmr({ modules: { slow: slow(m), other: OTHER } });
  t.after(() => h.kill());
  const st0 = await status(h.port);
  assert.equal(st0.reloads, 0, 'the start-up load is not a RELOAD');
  assert.deepEqual(st0.modules.map((x) => [x.name, x.version]), [['other', 1], ['slow', 1]]);
  assert.deepEqual(st0.modules[1]!.routes.map((r) => [r.prefix, r.kind]), [['"SLOW"', 'message'], ['"HOLD"', 'stream'], ['"V"', 'message']]);
  const held = await connect(h.port);
  held.write('HOLD');
  const st1 = await waitUntil(async () => {
    const s = await status(h.port);
    return s.modules[1]!.connections === 1 ? s : null;
  }, 'the held connection to show');
  assert.equal(st1.modules[1]!.routes[1]!.connections, 1);
  assert.ok(st1.connections >= 2, 'the held connection and this admin session');
  h.writeModule('slow', slow(m, 'b'));
  assert.match(await admin(h.port, 'RELOAD'), /^OK reloaded 2 modules/);
  assert.match(await admin(h.port, 'RELOAD'), /^OK reloaded 2 modules/);
  const st2 = await status(h.port);
  assert.equal(st2.reloads, 2);
  assert.equal(st2.modules[1]!.version, 2);
  held.destroy();
});

test('an admin session takes many commands, with \\n or \\r\\n; CLOSE says OK bye and closes', async (t) => {
  const h = await startHrmr({ modules: { other: OTHER } });
  t.after(() => h.kill());
  const got = await exchange(h.port, 'STATUS\r\nRELOAD\r\nnonsense\nSTATUS\nCLOSE\nSTATUS\n');
  const lines = got.split('\n');
  assert.equal(lines.length, 6, got);
  assert.match(lines[0]!, /^OK \{/);
  assert.match(lines[1]!, /^OK reloaded 1 modules in \d+ ms$/);
  assert.match(lines[2]!, /^ERR /);
  assert.match(lines[3]!, /^OK \{/);
  assert.equal(lines[4], 'OK bye');
  assert.equal(lines[5], '');
  for (const cmd of ['RELOAD', 'CLOSE', 'SHUTDOWN', 'STATUS']) {
    // The admin word must be the whole first line: a longer word is not a command (and routes nowhere here).
    assert.equal(await exchange(h.port, `${cmd}X\n`), 'ERR no route\n');
  }
  assert.equal(await exchange(h.port, 'OTHER\n', { end: true }), 'other\n');
});

test('--admin-token: commands before AUTH get ERR forbidden; a wrong token is refused; the right one unlocks', async (t) => {
  const h = await startHrmr({ modules: { other: OTHER }, args: ['--admin-token', 's3cret'] });
  t.after(() => h.kill());
  const c = await LineClient.open(h.port);
  assert.equal(await c.request('STATUS'), 'ERR forbidden');
  assert.equal(await c.request('RELOAD'), 'ERR forbidden');
  assert.equal(await c.request('SHUTDOWN'), 'ERR forbidden');
  assert.equal(await c.request('AUTH wrong'), 'ERR forbidden');
  assert.equal(await c.request('AUTH s3cret'), 'OK');
  assert.match((await c.request('STATUS')) ?? '', /^OK \{/);
  assert.match((await c.request('RELOAD')) ?? '', /^OK reloaded 1 modules/);
  assert.equal(await c.request('CLOSE'), 'OK bye');
  assert.equal(await c.read(), null);
  // A session may start with AUTH.
  assert.match(await exchange(h.port, 'AUTH s3cret\nSTATUS\nCLOSE\n'), /^OK\nOK \{.*\}\nOK bye\n$/);
  assert.equal(await exchange(h.port, 'OTHER\n', { end: true }), 'other\n');
});

test('admin commands are for loopback peers only (without a token)', () => {
  for (const a of ['127.0.0.1', '127.1.2.3', '::1', '::ffff:127.0.0.1']) assert.equal(isLoopback(a), true, a);
  for (const a of ['10.0.0.1', '192.0.2.2', '::ffff:10.0.0.1', '', undefined, '::', '0.0.0.0']) assert.equal(isLoopback(a), false, String(a));
});

test('SHUTDOWN: replies, refuses new connections, lets an in-flight message finish, runs dispose, exits 0', async (t) => {
  const m = marks(t);
  const h = await startHrmr({ modules: { slow: slow(m), other: OTHER }, args: ['--drain-timeout', '5000'] });
  t.after(() => h.kill());
  const c = await LineClient.open(h.port);
  c.send('SLOW');
  await waitUntil(() => existsSync(join(m, 'started')), 'the slow handler to start');
  assert.equal(await admin(h.port, 'SHUTDOWN'), 'OK shutting down');
  // No longer accepting: refused, or closed without a reply.
  const late = await exchange(h.port, 'OTHER\n').catch((e: NodeJS.ErrnoException) => e.code ?? 'error');
  assert.ok(late === '' || late === 'ECONNREFUSED' || late === 'ECONNRESET', JSON.stringify(late));
  assert.equal(await c.read(), 'slow done a', 'the in-flight reply still arrives');
  assert.equal(await c.read(), null, 'then the connection is closed');
  assert.equal(await h.exited, 0);
  assert.ok(existsSync(join(m, 'disposed-a')), 'dispose ran');
  await h.waitForLog((l) => l.msg === 'shutdown complete');
});

test('SHUTDOWN with a connection that never finishes: closed at --drain-timeout, then exit 0', async (t) => {
  const m = marks(t);
  const h = await startHrmr({ modules: { slow: slow(m) }, args: ['--drain-timeout', '300'] });
  t.after(() => h.kill());
  const held = await LineClient.open(h.port);
  held.socket.write('HOLD');
  await waitUntil(async () => (await status(h.port)).modules[0]!.connections === 1, 'held connection');
  assert.equal(await admin(h.port, 'SHUTDOWN'), 'OK shutting down');
  assert.equal(await held.read(5000), null);
  assert.equal(await h.exited, 0);
  assert.ok(existsSync(join(m, 'disposed-a')));
});

test('SIGHUP reloads', async (t) => {
  const m = marks(t);
  const h = await startHrmr({ modules: { slow: slow(m) } });
  t.after(() => h.kill());
  assert.equal(await exchange(h.port, 'V\n', { end: true }), 'a v1\n');
  h.writeModule('slow', slow(m, 'b'));
  h.proc.kill('SIGHUP');
  await h.waitForLog((l) => l.msg === 'module reloaded' && l.module === 'slow');
  assert.equal(await exchange(h.port, 'V\n', { end: true }), 'b v2\n');
  await waitUntil(() => existsSync(join(m, 'disposed-a')), 'old version disposed');
});

for (const sig of ['SIGTERM', 'SIGINT'] as const) {
  test(`${sig} shuts down gracefully: in-flight reply, dispose, exit 0`, async (t) => {
    const m = marks(t);
    const h = await startHrmr({ modules: { slow: slow(m) } });
    t.after(() => h.kill());
    const c = await LineClient.open(h.port);
    c.send('SLOW');
    await waitUntil(() => existsSync(join(m, 'started')), 'the slow handler to start');
    h.proc.kill(sig);
    assert.equal(await c.read(), 'slow done a');
    assert.equal(await h.exited, 0);
    assert.ok(existsSync(join(m, 'disposed-a')));
  });
}
