// SPDX-License-Identifier: LGPL-3.0-or-later
// The supervisor's pure decisions: crash backoff, fan-out answers, STATUS aggregation, stack reading, line cutting.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  aggregateStatus,
  beatInterval,
  CrashHistory,
  describeFrames,
  formatFanout,
  importsOf,
  LineSplitter,
  mergeReloads,
  moduleFromStack,
  moduleFromUrl,
  type FanoutResult,
  type WorkerReload,
} from '../src/supervisor/policy.ts';

function report(over: Partial<WorkerReload> = {}): WorkerReload {
  return { ok: true, modules: 3, loaded: [], reloaded: [], unloaded: [], failed: [], conflicts: [], refused: [], ms: 4, ...over };
}

test('CrashHistory: 5 crashes in 30 s restart at once, then 1 s, 2 s, 4 s ... capped at 30 s; old crashes leave the window', () => {
  const h = new CrashHistory();
  const t0 = 1_000_000;
  for (let i = 0; i < 5; i++) assert.deepEqual(h.record(t0 + i * 100), { delayMs: 0, crashes: i + 1, backoff: false });
  assert.deepEqual(h.record(t0 + 600), { delayMs: 1000, crashes: 6, backoff: true });
  assert.deepEqual(h.record(t0 + 700), { delayMs: 2000, crashes: 7, backoff: true });
  assert.deepEqual(h.record(t0 + 800), { delayMs: 4000, crashes: 8, backoff: true });
  for (let i = 0; i < 10; i++) h.record(t0 + 900 + i);
  assert.equal(h.record(t0 + 1000).delayMs, 30_000);
  // 30 s after all of that: a fresh window.
  assert.deepEqual(h.record(t0 + 31_001), { delayMs: 0, crashes: 1, backoff: false });
});

test('formatFanout: OK line names modules, time and workers', () => {
  const rs: FanoutResult[] = [
    { worker: 1, pid: 11, report: report() },
    { worker: 2, pid: 12, report: report() },
  ];
  assert.equal(formatFanout(rs, 12.4), 'OK reloaded 3 modules in 12 ms on 2 workers');
  assert.equal(formatFanout([rs[0]!], 7), 'OK reloaded 3 modules in 7 ms on 1 worker');
  assert.equal(formatFanout([{ worker: 1, pid: 1, report: report({ conflicts: ['a vs b'] }) }], 1), 'OK reloaded 3 modules in 1 ms on 1 worker; conflicts: a vs b');
  assert.equal(formatFanout([], 1), 'ERR reload failed: no worker is serving');
});

test('formatFanout: ERR names each failing worker and each module with its error', () => {
  const rs: FanoutResult[] = [
    { worker: 1, pid: 11, report: report() },
    { worker: 2, pid: 12, report: report({ ok: false, failed: [{ module: 'flaky', error: 'setup threw:\nnope' }, { module: 'b', error: 'x' }] }) },
    { worker: 3, pid: 13, report: null, error: 'the worker exited during the reload' },
  ];
  assert.equal(formatFanout(rs, 5), 'ERR reload failed on 2 of 3 workers: worker 2 (pid 12): flaky: setup threw: nope; b: x | worker 3 (pid 13): the worker exited during the reload');
  const refused: FanoutResult[] = [{ worker: 1, pid: 5, report: report({ ok: false, refused: ['/x (a)'] }) }];
  assert.equal(formatFanout(refused, 1), 'ERR reload failed on 1 of 1 worker: worker 1 (pid 5): refused /x (a)');
});

test('mergeReloads and importsOf', () => {
  const m = mergeReloads(
    [
      { worker: 1, pid: 1, report: report({ reloaded: ['a'], loaded: ['n'] }) },
      { worker: 2, pid: 2, report: report({ ok: false, reloaded: ['a'], failed: [{ module: 'f', error: 'e' }] }) },
    ],
    9.6,
  );
  assert.equal(m.ok, false);
  assert.deepEqual(m.reloaded, ['a']);
  assert.deepEqual(m.loaded, ['n']);
  assert.deepEqual(m.failed, [{ module: 'f', error: 'worker 2 (pid 2): e' }]);
  assert.equal(m.ms, 10);
  assert.equal(importsOf(report({ loaded: ['a'], reloaded: ['b', 'c'], failed: [{ module: 'd', error: '' }] })), 4);
  assert.equal(mergeReloads([], 1).ok, false);
});

test('aggregateStatus: totals over answering workers, per-worker section, supervisor memory counted', () => {
  const sup = { pid: 1, started: 1000, workers: 2, sched: 'none' as const, restarts: 3, recycled: 1, hangKills: 0, reloads: 7, hangTimeout: 10000, recycleAfter: 100, port: 8080, memory: { rssBytes: 10, heapUsedBytes: 1 } };
  const w = (worker: number, pid: number) => ({ worker, id: worker, pid, state: 'ready' as const, started: 2000, restarts: worker - 1, imports: 4 });
  const s = aggregateStatus(
    sup,
    [
      { info: w(1, 101), status: { connections: 2, accepted: 10, rejected: { noRoute: 1 }, reloads: 7, memory: { rssBytes: 100, heapUsedBytes: 20 }, modules: [{ name: 'm' }], uptimeSeconds: 5 } },
      { info: w(2, 102), status: { connections: 3, accepted: 5, rejected: { noRoute: 2, peekTimeout: 1 }, reloads: 6, memory: { rssBytes: 200, heapUsedBytes: 30 } } },
      { info: { ...w(2, 103), state: 'starting' as const }, status: null },
    ],
    12_000,
  );
  assert.equal(s.uptimeSeconds, 11);
  assert.equal(s.connections, 5);
  assert.equal(s.accepted, 15);
  assert.deepEqual(s.rejected, { noRoute: 3, peekTimeout: 1 });
  assert.equal(s.reloads, 7);
  assert.deepEqual(s.memory, { rssBytes: 310, heapUsedBytes: 51 });
  assert.deepEqual(s.modules, [{ name: 'm' }]);
  const ws = s.workers as Array<Record<string, unknown>>;
  assert.deepEqual(
    ws.map((x) => [x.worker, x.pid, x.state, x.connections, x.restarts, x.reloads, x.uptimeSeconds]),
    [
      [1, 101, 'ready', 2, 0, 7, 10],
      [2, 102, 'ready', 3, 1, 6, 10],
      [2, 103, 'starting', null, 1, null, 10],
    ],
  );
  assert.equal(ws[2]!.answered, false);
  assert.equal((s.supervisor as { restarts: number }).restarts, 3);
});

test('moduleFromUrl / moduleFromStack / describeFrames find the module in snapshot URLs', () => {
  assert.equal(moduleFromUrl('file:///srv/modules/.hrmr/4242/kv.0123456789abcdef.7.mjs'), 'kv');
  assert.equal(moduleFromUrl('file:///srv/modules/.hrmr/4242/my.mod.0123456789abcdef.1.mjs'), 'my.mod');
  assert.equal(moduleFromUrl('file:///srv/modules/kv.mjs?v=3'), 'kv');
  assert.equal(moduleFromUrl('file:///work/dist/hrmr.mjs'), null);
  assert.equal(moduleFromUrl('node:internal/timers'), null);
  const stack = 'Error: process.exit() called\n    at process.exit (file:///work/dist/hrmr.mjs:10:5)\n    at Object.message (file:///m/.hrmr/77/crash.0123456789abcdef.2.mjs:3:46)\n    at MessageSession.invoke (file:///work/dist/hrmr.mjs:99:1)';
  assert.equal(moduleFromStack(stack), 'crash');
  assert.equal(moduleFromStack('Error\n    at f (node:internal/x:1:1)'), null);
  const d = describeFrames([
    { functionName: 'spin', url: 'file:///m/.hrmr/77/hang.0123456789abcdef.1.mjs', line: 4, column: 9 },
    { functionName: 'message', url: 'file:///m/.hrmr/77/hang.0123456789abcdef.1.mjs', line: 8, column: 1 },
  ]);
  assert.deepEqual(d, { module: 'hang', doing: 'module hang, in spin (hang.0123456789abcdef.1.mjs:4:9)' });
  assert.deepEqual(describeFrames([]), { module: null, doing: 'unknown' });
  assert.equal(describeFrames([{ functionName: '', url: 'node:fs', line: 1, column: 1 }]).module, null);
});

test('LineSplitter keeps partial lines until their newline; beatInterval stays within 25 ms..1 s', () => {
  const s = new LineSplitter();
  assert.deepEqual(s.push('{"a":1}\n{"b"'), ['{"a":1}']);
  assert.deepEqual(s.push(':2}\n\n'), ['{"b":2}', '']);
  assert.deepEqual(s.push('tail'), []);
  assert.equal(s.end(), 'tail');
  assert.equal(s.end(), null);
  assert.equal(beatInterval(10_000), 1000);
  assert.equal(beatInterval(1500), 300);
  assert.equal(beatInterval(50), 25);
});
