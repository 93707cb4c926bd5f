// SPDX-License-Identifier: LGPL-3.0-or-later
/**
 * Section 1, slow clients: 2,000 clients at once, each sending one byte a
 * second of a prefix that is never completed, reopened as the server closes
 * them. Checks every one is closed by --peek-timeout (with some slack for a
 * busy 2-core box) and reports a well-behaved client's latency (new
 * connection + PING + reply) with and without them, and the ratio.
 */
import { coreModule, modulesDir } from '../modules.mjs';
import { kill, startServer, startWorker } from '../proc.mjs';
import { oneShot, sleep, status, summarize } from '../net.mjs';
import { must, row, target } from '../table.mjs';

const CLIENTS = 2000;
const PEEK_TIMEOUT_MS = 2000;
/** Scheduling slack on top of the peek timeout before a slow client counts as held too long. */
const SLACK_MS = 1500;
const PROBES = 400;

async function probe(port, n, maxMs) {
  const ms = [];
  let wrong = 0;
  const end = performance.now() + maxMs;
  for (let i = 0; i < n && performance.now() < end; i++) {
    const r = await oneShot(port, `PING p${i}`);
    if (r.reply !== `PONG p${i} slow`) wrong++;
    ms.push(r.ms);
  }
  return { ...summarize(ms), wrong };
}

export async function run(say) {
  const mods = modulesDir({ core: coreModule('slow', 0) });
  const server = await startServer({ modulesDir: mods.dir, args: ['--peek-timeout', String(PEEK_TIMEOUT_MS)] });
  let slow = null;
  try {
    await probe(server.port, 100, 5000); // warm-up
    const idle = await probe(server.port, PROBES, 10_000);
    const before = await status(server.port);
    slow = startWorker('slow', { port: server.port, clients: CLIENTS, durationMs: 9000, drainMs: PEEK_TIMEOUT_MS + 5000, prefix: 'SLOWPREFIX-THAT-NEVER-COMPLETES', localAddress: '127.0.0.21' });
    const ramped = await slow.next(30_000);
    // Let the population reach its steady churn (first timeouts) before probing.
    await sleep(PEEK_TIMEOUT_MS + 500);
    const loaded = await probe(server.port, PROBES, 5000);
    const during = await status(server.port);
    const done = await slow.next(40_000);
    const after = await status(server.port);
    const timeouts = after.rejected.peekTimeout - before.rejected.peekTimeout;
    say(`slow clients: ${ramped.open} open after ramp-up (${ramped.ms} ms); ${done.opened} opened, ${done.closed} closed by the server, ${done.stillOpen} still open, ${done.errors} errors; held p50 ${Math.round(done.p50HeldMs)} ms, max ${Math.round(done.maxHeldMs)} ms; peek timeouts counted ${timeouts}; connections during ${during.connections}`);
    say(`probe latency p50/p99: idle ${idle.p50.toFixed(2)}/${idle.p99.toFixed(2)} ms, loaded ${loaded.p50.toFixed(2)}/${loaded.p99.toFixed(2)} ms (${loaded.n} probes)`);
    const r50 = loaded.p50 / idle.p50;
    const r99 = loaded.p99 / idle.p99;
    return [
      row('slow', `slow clients closed by --peek-timeout ${PEEK_TIMEOUT_MS}`, `${done.closed}/${done.opened}`, { check: must(done.closed === done.opened && done.stillOpen === 0 && done.errors === 0 && timeouts >= done.closed), note: `${CLIENTS} at once, 1 byte/s; STATUS peekTimeout +${timeouts}` }),
      row('slow', 'longest a slow client was held (ms)', Math.round(done.maxHeldMs), { baseline: `limit ${PEEK_TIMEOUT_MS} + ${SLACK_MS} slack`, check: must(done.maxHeldMs <= PEEK_TIMEOUT_MS + SLACK_MS), note: `p50 ${Math.round(done.p50HeldMs)} ms` }),
      row('slow', 'well-behaved client p50 (ms)', loaded.p50, { baseline: `idle ${idle.p50.toFixed(2)}; ratio ${r50.toFixed(2)}`, check: target(r50 <= 2), note: 'target: within 2x; new connection + PING + reply' }),
      row('slow', 'well-behaved client p99 (ms)', loaded.p99, { baseline: `idle ${idle.p99.toFixed(2)}; ratio ${r99.toFixed(2)}`, note: `${loaded.n} probes during the load` }),
      row('slow', 'well-behaved replies correct', `${idle.n + loaded.n - idle.wrong - loaded.wrong}/${idle.n + loaded.n}`, { check: must(idle.wrong + loaded.wrong === 0 && server.alive()) }),
    ];
  } finally {
    await slow?.kill();
    await kill(server.proc);
    mods.remove();
  }
}
