// SPDX-License-Identifier: LGPL-3.0-or-later
// Issue 21, point 5: with --workers 2 and no --redis, relay and lhttp refuse
// to load (documented). That is reported once, at start-up; it must not turn
// every later `RELOAD`, `hrmr reload` and SIGHUP into `ERR reload failed on
// 2 of 2 workers` (exit 1) when nothing changed.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { admin, exchange, runCli, waitUntil } from './helpers/hrmr.ts';
import { startBundled } from './helpers/bundled.ts';

test('--workers 2 without --redis: relay and lhttp are reported once; RELOAD, hrmr reload and SIGHUP answer OK when nothing changed', async (t) => {
  const h = await startBundled(['relay', 'lhttp', 'hash'], { args: ['--workers', '2'] });
  t.after(() => h.kill());
  // Reported at start-up, by each worker.
  await h.waitForLog((l) => l.level >= 50 && /relay/.test(String(l.module ?? l.msg)) && /not loaded/.test(l.msg), 30_000);
  await waitUntil(async () => /^[0-9a-f]{64}\n$/.test(await exchange(h.port, 'HASH sha256 x\n', { end: true })), 'hash serving', 30_000);
  const errorsBefore = h.logs.filter((l) => l.level >= 50 && /memory store cannot be shared/.test(l.msg)).length;
  assert.ok(errorsBefore >= 1);

  assert.match(await admin(h.port, 'RELOAD', 60_000), /^OK reloaded 1 modules in \d+ ms on 2 workers$/);
  const cli = await runCli(['reload', '--port', String(h.port)], { timeoutMs: 60_000 });
  assert.equal(cli.code, 0, cli.stdout + cli.stderr);
  assert.match(cli.stdout + cli.stderr, /OK reloaded 1 modules in \d+ ms on 2 workers/);
  const isFanout = (l: { msg: string; pid?: unknown }): boolean => /reload/.test(l.msg) && l.pid === h.proc.pid;
  const seen = h.logs.filter(isFanout).length;
  process.kill(h.proc.pid!, 'SIGHUP');
  const line = await waitUntil(() => h.logs.filter(isFanout)[seen], 'the SIGHUP fan-out', 60_000);
  assert.match(line.msg, /^OK reloaded 1 modules in \d+ ms on 2 workers$/);
  // Not reported again on every reload.
  assert.equal(h.logs.filter((l) => l.level >= 50 && /memory store cannot be shared/.test(l.msg)).length, errorsBefore);
  // A real change still reloads (and a module that still cannot load is still named when it changes).
  assert.equal(await exchange(h.port, 'HASH sha256 x\n', { end: true }), '2d711642b726b04401627ca9fbac32f5c8530fb1903cc4db02258717921a4881\n');
});
