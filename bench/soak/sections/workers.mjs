// SPDX-License-Identifier: LGPL-3.0-or-later
/**
 * Section `workers` (--workers 2):
 *
 * 1. Bounded reload memory: 1,000 RELOADs, each after rewriting one module
 *    (one new import per worker per reload), with --recycle-after 50, so
 *    every worker is replaced by a fresh one about every 50 reloads. At the
 *    end the RSS of every process (supervisor and each worker) must be back
 *    under its start + 20 MiB. A single process would keep all 1,000
 *    versions (see the memory section).
 * 2. Reload under load with workers: the reload section's load generator
 *    (100 connections, PING and STRM, reconnecting every 10 requests)
 *    while 100 RELOADs fan out to both workers, in graceful mode: no wrong
 *    or lost reply, no connection error, no 503.
 */
import { coreModule, modulesDir, smallModule } from '../modules.mjs';
import { kill, startServer, startWorker } from '../proc.mjs';
import { admin, MB, oneShot, poll, sleep, status } from '../net.mjs';
import { mib, must, row } from '../table.mjs';

const RELOADS = 1000;
const RECYCLE_AFTER = 50;
const LIMIT = 20 * MB;

const sec = 'workers';

function rssOf(st) {
  return {
    supervisor: st.supervisor.memory.rssBytes,
    workers: st.workers.map((w) => ({ worker: w.worker, pid: w.pid, state: w.state, rss: w.memory?.rssBytes ?? NaN })),
  };
}

async function memoryPart(say) {
  const mods = modulesDir({ churn: smallModule(0, 'start'), steady: smallModule(1, 'steady') });
  const server = await startServer({ modulesDir: mods.dir, args: ['--workers', '2', '--recycle-after', String(RECYCLE_AFTER), '--threads', '1', '--drain-timeout', '2000'], timeoutMs: 60_000 });
  try {
    // Both workers answer once before the baseline is taken.
    for (let i = 0; i < 4; i++) await oneShot(server.port, 'S1 x');
    const start = rssOf(await status(server.port));
    const startWorkerMax = Math.max(...start.workers.map((w) => w.rss));
    say(`start: supervisor ${mib(start.supervisor)}, workers ${start.workers.map((w) => mib(w.rss)).join(', ')}`);
    let failures = 0;
    let firstFailure = null;
    const t0 = performance.now();
    for (let i = 1; i <= RELOADS; i++) {
      mods.write('churn', smallModule(0, `content-${i}-${'x'.repeat(200)}`));
      const r = await admin(server.port, 'RELOAD');
      if (!/^OK reloaded 2 modules in \d+ ms on 2 workers$/.test(r)) {
        failures++;
        firstFailure ??= r;
      }
      if (i % 250 === 0) {
        const st = await status(server.port);
        say(`after ${i} reloads: recycled ${st.supervisor.recycled}, workers ${st.workers.map((w) => `${w.pid} ${w.state} ${w.memory ? mib(w.memory.rssBytes) : '-'}`).join(', ')} (${((performance.now() - t0) / 1000).toFixed(1)} s)`);
      }
    }
    const reloadS = (performance.now() - t0) / 1000;
    // Let the last recycle finish: two ready workers, nothing retiring.
    const settled = await poll(async () => {
      const st = await status(server.port);
      return st.workers.length === 2 && st.workers.every((w) => w.state === 'ready') ? st : null;
    }, 60_000, 250);
    await sleep(1000);
    const endSt = await status(server.port);
    const end = rssOf(endSt);
    const worstWorker = Math.max(...end.workers.map((w) => w.rss));
    const supOk = end.supervisor < start.supervisor + LIMIT;
    const workersOk = end.workers.every((w) => w.rss < startWorkerMax + LIMIT);
    const imports = endSt.workers.map((w) => w.imports);
    say(`end: supervisor ${mib(end.supervisor)}, workers ${end.workers.map((w) => mib(w.rss)).join(', ')}; recycled ${endSt.supervisor.recycled}, restarts ${endSt.supervisor.restarts}; imports held now ${imports.join(', ')}`);
    return [
      row(sec, `RELOADs ok (--workers 2 --recycle-after ${RECYCLE_AFTER})`, `${RELOADS - failures}/${RELOADS}`, { check: must(failures === 0 && server.alive() && !!settled), note: firstFailure ? firstFailure.slice(0, 80) : `${reloadS.toFixed(1)} s` }),
      row(sec, 'workers recycled / crashed', `${endSt.supervisor.recycled} / ${endSt.supervisor.restarts}`, { check: must(endSt.supervisor.recycled >= 10 && endSt.supervisor.restarts === 0), note: `a worker is recycled once it has imported ${RECYCLE_AFTER} versions; reloads that arrive while its replacement boots still go to it` }),
      row(sec, 'supervisor RSS end (start + 20 MiB max)', mib(end.supervisor), { baseline: mib(start.supervisor), check: must(supOk), note: `${((end.supervisor - start.supervisor) / MB).toFixed(1)} MiB growth` }),
      row(sec, 'worst worker RSS end (start + 20 MiB max)', mib(worstWorker), { baseline: mib(startWorkerMax), check: must(workersOk), note: `workers ${end.workers.map((w) => mib(w.rss)).join(', ')}; versions held now ${imports.join(', ')}` }),
    ];
  } finally {
    await kill(server.proc);
    mods.remove();
  }
}

async function loadPart(say) {
  const RELOADS_L = 100;
  const mods = modulesDir({ core: coreModule('t0', 5) });
  const server = await startServer({ modulesDir: mods.dir, args: ['--workers', '2', '--reload-mode', 'graceful', '--drain-timeout', '5000', '--recycle-after', '0'], timeoutMs: 60_000 });
  const load = startWorker('load', { port: server.port, conns: 100, reqsPerConn: 10, localAddress: '127.0.0.33' });
  try {
    await load.next(10_000);
    await sleep(500);
    let reloadErrors = 0;
    let firstReloadError = null;
    const t0 = performance.now();
    for (let i = 1; i <= RELOADS_L; i++) {
      mods.write('core', coreModule(`t${i}`, 5));
      const r = await admin(server.port, 'RELOAD');
      if (!/^OK reloaded 1 modules in \d+ ms on 2 workers/.test(r)) {
        reloadErrors++;
        firstReloadError ??= r;
      }
    }
    const reloadS = (performance.now() - t0) / 1000;
    await sleep(300);
    load.send({ type: 'stop' });
    const res = await load.next(30_000);
    const lasts = new Set();
    for (let i = 0; i < 8; i++) lasts.add((await oneShot(server.port, 'PING final')).reply);
    const st = await status(server.port);
    say(`graceful, 2 workers: ${RELOADS_L} reloads in ${reloadS.toFixed(1)} s; ok ${res.ok}, wrong ${res.wrong}, lost ${res.lost}, conn errors ${res.connErrors}, 503s ${res.r503}; workers' connections ${st.workers.map((w) => w.connections).join(', ')}`);
    if (res.samples.length) say(`  samples: ${res.samples.join(' | ')}`);
    const s = `${sec} reload (graceful)`;
    return [
      row(s, 'RELOADs ok on both workers', `${RELOADS_L - reloadErrors}/${RELOADS_L}`, { check: must(reloadErrors === 0), note: firstReloadError ? firstReloadError.slice(0, 80) : `${reloadS.toFixed(1)} s, ${res.tags} versions seen by clients` }),
      row(s, 'correct replies', res.ok, { note: `${res.connections} connections over the run` }),
      row(s, 'wrong / lost replies', `${res.wrong} / ${res.lost}`, { check: must(res.wrong === 0 && res.lost === 0), note: res.samples[0] ?? '' }),
      row(s, 'connection errors / 503s', `${res.connErrors} / ${res.r503}`, { check: must(res.connErrors === 0 && res.r503 === 0) }),
      row(s, 'new connections after the last reload', [...lasts].join(', '), { check: must(lasts.size === 1 && lasts.has(`PONG final t${RELOADS_L}`) && server.alive()), note: 'every worker on the last version' }),
    ];
  } finally {
    await load.kill();
    await kill(server.proc);
    mods.remove();
  }
}

export async function run(say) {
  return [...(await memoryPart(say)), ...(await loadPart(say))];
}
