// SPDX-License-Identifier: LGPL-3.0-or-later
// Issue 20, point 4: a setup that never resolves must not block reloads
// forever. Past --setup-timeout the load fails with HRMR_SETUP_TIMEOUT naming
// the module and the timeout, the old version keeps serving (no 503 once it
// is over), RELOAD answers ERR, later reloads proceed; at start-up the module
// is skipped. A load that finishes late is disposed, never served.
import { rmSync } from 'node:fs';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { admin, exchange, runCli, startHrmr, waitUntil } from './helpers/hrmr.ts';
import { repoTempDir } from './helpers/bundled.ts';

const good = (tag: string): string => `export default {
  routes: [{ prefix: 'SVC', message: () => 'svc ${tag}\\n' }],
};`;

/** `setup` never settles (or settles after `lateMs`); dispose logs so a test can see it ran. */
const hung = (tag: string, lateMs = 0): string => `let log;
export default {
  setup(ctx) { log = ctx.log; return new Promise((r) => { ${lateMs > 0 ? `setTimeout(r, ${lateMs});` : ''} }); },
  dispose() { log.info('late version disposed ${tag}'); },
  routes: [{ prefix: 'SVC', message: () => 'svc ${tag}\\n' }],
};`;

const ask = (port: number): Promise<string> => exchange(port, 'SVC\n', { end: true, timeoutMs: 10_000 });

test('RELOAD of a module whose setup never settles answers ERR HRMR_SETUP_TIMEOUT; the old version serves; later reloads proceed', async (t) => {
  const h = await startHrmr({ modules: { svc: good('v1') }, args: ['--setup-timeout', '600'] });
  t.after(() => h.kill());
  assert.equal(await ask(h.port), 'svc v1\n');
  h.writeModule('svc', hung('v2'));
  const started = Date.now();
  const reply = await admin(h.port, 'RELOAD', 20_000);
  assert.match(reply, /^ERR reload failed for 1 module: svc: setup timed out \(HRMR_SETUP_TIMEOUT\): setup of svc did not finish within 600 ms/);
  assert.ok(Date.now() - started < 15_000);
  // The default 503 mode: the swap is over, the old version answers (not 503).
  assert.equal(await ask(h.port), 'svc v1\n');
  const err = h.logs.find((l) => l.level >= 50 && /setup timed out \(HRMR_SETUP_TIMEOUT\)/.test(l.msg));
  assert.ok(err, 'the failure is logged');
  assert.match(err.msg, /svc/);
  // The same hung file again: not loaded a second time, still named.
  assert.match(await admin(h.port, 'RELOAD', 20_000), /^ERR reload failed for 1 module: svc: setup timed out/);
  // A fixed version loads at once.
  h.writeModule('svc', good('v3'));
  assert.match(await admin(h.port, 'RELOAD', 20_000), /^OK reloaded 1 modules/);
  assert.equal(await ask(h.port), 'svc v3\n');
  const st = JSON.parse((await admin(h.port, 'STATUS')).slice(3)) as { modules: Array<{ name: string; swapping: boolean }> };
  assert.equal(st.modules.find((m) => m.name === 'svc')?.swapping, false);
});

test('a setup that finishes after the timeout: that version is disposed and never serves', async (t) => {
  const h = await startHrmr({ modules: { svc: good('v1') }, args: ['--setup-timeout', '400'] });
  t.after(() => h.kill());
  h.writeModule('svc', hung('v2', 1500));
  assert.match(await admin(h.port, 'RELOAD', 20_000), /^ERR reload failed for 1 module: svc: setup timed out/);
  await h.waitForLog((l) => l.msg === 'late version disposed v2', 10_000);
  await h.waitForLog((l) => /finished after --setup-timeout/.test(l.msg), 5000);
  assert.equal(await ask(h.port), 'svc v1\n');
  const st = JSON.parse((await admin(h.port, 'STATUS')).slice(3)) as { modules: Array<{ name: string; version: number }> };
  assert.equal(st.modules.find((m) => m.name === 'svc')?.version, 1);
});

test('a pool route whose setup hangs in the workers: the pool preparation times out, the old version serves', async (t) => {
  const pooled = (tag: string, hang: boolean): string => `export default {
    setup(ctx) { if (${hang} && ctx.thread === 'worker') return new Promise(() => {}); },
    routes: [{ prefix: 'SVC', pool: true, message: () => 'svc ${tag}\\n' }],
  };`;
  const h = await startHrmr({ modules: { svc: pooled('v1', false) }, args: ['--setup-timeout', '800', '--task-timeout', '0'] });
  t.after(() => h.kill());
  assert.equal(await ask(h.port), 'svc v1\n');
  h.writeModule('svc', pooled('v2', true));
  assert.match(await admin(h.port, 'RELOAD', 20_000), /^ERR reload failed for 1 module: svc: (setup timed out \(HRMR_SETUP_TIMEOUT\): pool preparation of svc did not finish within 800 ms|pool workers could not load it)/);
  assert.equal(await ask(h.port), 'svc v1\n');
  // The hung loads do not keep the pool's threads: the pool still serves, and a fixed version loads.
  h.writeModule('svc', pooled('v3', false));
  assert.match(await admin(h.port, 'RELOAD', 20_000), /^OK reloaded 1 modules/);
  assert.equal(await ask(h.port), 'svc v3\n');
});

test('at start-up a module whose setup never settles is skipped; the others serve', async (t) => {
  const started = Date.now();
  const stuckImport = `await new Promise(() => {});\nexport default { routes: [{ prefix: 'IMP', message: () => 'imp\\n' }] };`;
  const h = await startHrmr({ modules: { svc: good('v1'), stuck: hung('x').replace("'SVC'", "'STUCK'"), stuckimp: stuckImport }, args: ['--setup-timeout', '700'] });
  t.after(() => h.kill());
  assert.ok(Date.now() - started < 15_000);
  assert.equal(await ask(h.port), 'svc v1\n');
  const err = h.logs.find((l) => l.level >= 50 && /stuck/.test(String(l.msg)) && /setup timed out \(HRMR_SETUP_TIMEOUT\)/.test(String(l.msg)));
  assert.ok(err, 'the skipped module is logged');
  assert.ok(h.logs.some((l) => l.level >= 50 && /import of stuckimp did not finish within 700 ms/.test(String(l.msg))), 'a hung import is named too');
  const st = JSON.parse((await admin(h.port, 'STATUS')).slice(3)) as { modules: Array<{ name: string }> };
  assert.deepEqual(st.modules.map((m) => m.name), ['svc']);
});

test('--setup-timeout and HRMR_SETUP_TIMEOUT are validated', async () => {
  const bad = await runCli(['--setup-timeout', 'soon', '--port', '0']);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /--setup-timeout must be an integer/);
  const badEnv = await runCli(['--port', '0'], { env: { HRMR_SETUP_TIMEOUT: '-1' } });
  assert.equal(badEnv.code, 2);
  assert.match(badEnv.stderr, /--setup-timeout/);
});

test('--workers 2: the bound holds in every worker (the flag reaches them); RELOAD names the module', async (t) => {
  const dir = repoTempDir('setup-timeout-');
  const h = await startHrmr({ dir, modules: { svc: good('v1') }, env: { HRMR_SETUP_TIMEOUT: '700' }, args: ['--workers', '2'] });
  t.after(async () => {
    await h.kill();
    rmSync(dir, { recursive: true, force: true });
  });
  await waitUntil(async () => (await ask(h.port)) === 'svc v1\n', 'the workers serving', 30_000);
  h.writeModule('svc', hung('v2'));
  const reply = await admin(h.port, 'RELOAD', 60_000);
  assert.match(reply, /^ERR reload failed on 2 of 2 workers: /);
  assert.equal(reply.match(/svc: setup timed out \(HRMR_SETUP_TIMEOUT\): setup of svc did not finish within 700 ms/g)?.length, 2, reply);
  for (let i = 0; i < 4; i++) assert.equal(await ask(h.port), 'svc v1\n');
  h.writeModule('svc', good('v3'));
  assert.match(await admin(h.port, 'RELOAD', 60_000), /^OK reloaded 1 modules in \d+ ms on 2 workers$/);
  for (let i = 0; i < 4; i++) assert.equal(await ask(h.port), 'svc v3\n');
});
