// SPDX-License-Identifier: LGPL-3.0-or-later
/**
 * `--workers 2`: one scrape (on whichever worker accepts it) returns the sum
 * over both workers; per-worker values (RSS, event-loop lag) carry a
 * `worker` label, the rest none.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { repoTempDir } from './helpers/bundled.ts';
import { exchange, startHrmr, type Hrmr } from './helpers/hrmr.ts';
import { get, promtool, scrape, value } from './helpers/metrics.ts';
import { onWorker, Pids, PROBE, readyWorkers, twoPids } from './workers-lib.ts';

let h: Hrmr;
const pids = new Pids();

before(async () => {
  h = await startHrmr({ dir: repoTempDir('metrics-workers-'), modules: { probe: PROBE }, args: ['--workers', '2'] });
  const s = await readyWorkers(h.port, 2);
  pids.add(...s.workers.map((w) => w.pid));
});

after(async () => {
  await h?.kill();
  pids.killAll();
});

/** Sends `n` PID messages on one connection that lands on worker `pid`; checks every reply came from it. */
async function sendOn(pid: number, n: number): Promise<void> {
  const out = await onWorker(h.port, pid, () => exchange(h.port, 'PID\n'.repeat(n), { end: true, timeoutMs: 15_000 }));
  assert.deepEqual(out.trim().split('\n'), Array.from({ length: n }, () => String(pid)));
}

test('one scrape sums both workers; RSS and event-loop lag per worker', { timeout: 120_000 }, async () => {
  const [a, b] = await twoPids(h.port);
  const before = value((await scrape(h.port)).samples, 'hrmr_requests_total', { module: 'probe', route: 'PID' });
  await sendOn(a, 3);
  await sendOn(b, 4);
  // Several scrapes: each lands on either worker, each must show the sum.
  for (let i = 0; i < 4; i++) {
    const { text, samples } = await scrape(h.port);
    assert.equal(value(samples, 'hrmr_requests_total', { module: 'probe', route: 'PID', outcome: 'ok' }) - before, 7, `scrape ${i}`);
    const rss = samples.filter((s) => s.name === 'process_resident_memory_bytes');
    assert.deepEqual(rss.map((s) => s.labels.worker).sort(), ['1', '2']);
    assert.ok(rss.every((s) => s.value > 1e6));
    const lag = samples.filter((s) => s.name === 'nodejs_eventloop_lag_seconds');
    assert.deepEqual(lag.map((s) => s.labels.worker).sort(), ['1', '2']);
    // Summed values carry no worker label.
    assert.ok(samples.filter((s) => s.name === 'hrmr_connections').every((s) => s.labels.worker === undefined));
    assert.equal(value(samples, 'hrmr_module_versions', { state: 'live' }), 2, 'one live version per worker, summed');
    const check = promtool(text);
    assert.equal(check.code, 0, check.output);
  }
  // The status page's data shows both workers.
  const j = JSON.parse((await get(h.port, '/_hrmr/status.json')).text) as { workers: Array<{ pid: number }>; modules: Array<{ label: string; routes: Array<{ route: string; requests: number }> }> };
  assert.deepEqual(j.workers.map((w) => w.pid).sort(), [a, b].sort());
  assert.equal(j.modules.find((m) => m.label === 'probe v1')!.routes.find((r) => r.route === 'PID')!.requests - before, 7);
});
