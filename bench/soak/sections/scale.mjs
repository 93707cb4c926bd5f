// SPDX-License-Identifier: LGPL-3.0-or-later
/**
 * Section 5, scale: 20,000 concurrent idle connections held by one hrmr
 * process (each sent `HOLD\n`, a stream route that keeps the socket), opened
 * by two client processes from several 127.0.0.x source addresses. Checks
 * all are accepted and still open, reports RSS, and times a new client.
 * One process cannot hold more sockets than its hard RLIMIT_NOFILE allows:
 * where that is below 20,000 plus a margin, the target is lowered to fit
 * and the table says so.
 */
import { coreModule, modulesDir, PROBE_MODULE } from '../modules.mjs';
import { hardFdLimit, kill, startServer, startWorker } from '../proc.mjs';
import { oneShot, poll, sleep, status, summarize } from '../net.mjs';
import { mib, must, row } from '../table.mjs';

const WANTED = 20_000;
/** fds the server needs besides connections: stdio, epoll, pool threads, admin, files. */
const FD_MARGIN = 120;
const CLIENT_PROCS = 2;

export async function run(say) {
  const hard = hardFdLimit();
  const count = Math.min(WANTED, hard - FD_MARGIN);
  if (count < WANTED) say(`hard fd limit is ${hard}: holding ${count} connections instead of ${WANTED}`);
  const mods = modulesDir({ core: coreModule('scale', 0), probe: PROBE_MODULE });
  const server = await startServer({ modulesDir: mods.dir, args: ['--max-connections', String(count + 50), '--threads', '1'] });
  const workers = [];
  try {
    const before = await status(server.port);
    const unloaded = [];
    for (let i = 0; i < 50; i++) unloaded.push((await oneShot(server.port, `PING u${i}`)).ms);
    const per = Math.ceil(count / CLIENT_PROCS);
    const t0 = performance.now();
    for (let k = 0; k < CLIENT_PROCS; k++) {
      const n = Math.min(per, count - k * per);
      const localAddresses = [0, 1, 2, 3].map((j) => `127.0.0.${100 + k * 4 + j}`);
      workers.push(startWorker('hold', { port: server.port, count: n, inflight: 128, line: 'HOLD\n', localAddresses }));
    }
    const held = await Promise.all(workers.map((w) => w.next(90_000)));
    const openMs = Math.round(performance.now() - t0);
    const heldTotal = held.reduce((a, h) => a + h.held, 0);
    const errors = held.reduce((a, h) => a + h.errors, 0);
    say(`opened ${heldTotal}/${count} in ${openMs} ms (${errors} errors${held.find((h) => h.firstError)?.firstError ? `, first: ${held.find((h) => h.firstError).firstError}` : ''})`);
    // Every connection must be routed to HOLD (counted on the route), not stuck in the peek.
    const st = await poll(async () => {
      const s = await status(server.port);
      const core = s.modules.find((m) => m.name === 'core');
      const hold = core.routes.find((r) => r.prefix.includes('HOLD'));
      return hold.connections >= heldTotal ? s : null;
    }, 15_000);
    const s = st ?? (await status(server.port));
    const holdConns = s.modules.find((m) => m.name === 'core').routes.find((r) => r.prefix.includes('HOLD')).connections;
    const loaded = [];
    for (let i = 0; i < 50; i++) loaded.push((await oneShot(server.port, `PING l${i}`)).ms);
    const u = summarize(unloaded);
    const l = summarize(loaded);
    await sleep(200);
    workers.forEach((w) => w.send({ type: 'check' }));
    const checked = await Promise.all(workers.map((w) => w.next(10_000)));
    const stillOpen = checked.reduce((a, c) => a + c.open, 0);
    say(`routed to HOLD: ${holdConns}; still open: ${stillOpen}; rss ${mib(s.memory.rssBytes)} (before ${mib(before.memory.rssBytes)}); new client p50 ${l.p50.toFixed(2)} ms (idle server ${u.p50.toFixed(2)} ms)`);
    const perConn = (s.memory.rssBytes - before.memory.rssBytes) / Math.max(1, heldTotal);
    return [
      row('scale', 'idle connections held', `${heldTotal}/${count}`, { check: must(heldTotal === count && errors === 0 && holdConns === count && stillOpen === count), note: count < WANTED ? `target lowered from ${WANTED}: hard fd limit ${hard}` : `opened in ${(openMs / 1000).toFixed(1)} s` }),
      row('scale', 'server RSS with them', mib(s.memory.rssBytes), { baseline: `${mib(before.memory.rssBytes)} idle; ${(perConn / 1024).toFixed(1)} KiB/conn` }),
      row('scale', 'new client latency p50 / p99 (ms)', `${l.p50.toFixed(2)} / ${l.p99.toFixed(2)}`, { baseline: `${u.p50.toFixed(2)} / ${u.p99.toFixed(2)} idle`, note: 'connect + PING + reply, 50 runs' }),
      row('scale', 'server up, rejected', server.alive() ? `up, ${s.rejected.maxConnections} busy` : 'DOWN', { check: must(server.alive() && s.rejected.maxConnections === 0) }),
    ];
  } finally {
    for (const w of workers) await w.kill();
    await kill(server.proc);
    mods.remove();
  }
}
