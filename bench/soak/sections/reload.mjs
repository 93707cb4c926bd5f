// SPDX-License-Identifier: LGPL-3.0-or-later
/**
 * Section 3, reload under load: a load generator keeps 100 connections doing
 * request/response through a message route (PING) and a stream route (STRM),
 * reconnecting every few requests, while 100 RELOADs run back to back, each
 * after rewriting the module with a new tag (setup awaits a timer, so the
 * swap window is real). Run once in the default 503 mode (503s allowed and
 * counted) and once with --reload-mode graceful (no 503 allowed).
 */
import { coreModule, modulesDir } from '../modules.mjs';
import { kill, startServer, startWorker } from '../proc.mjs';
import { admin, oneShot, sleep } from '../net.mjs';
import { must, row } from '../table.mjs';

const RELOADS = 100;
const CONNS = 100;
const SETUP_MS = 5;

async function runMode(mode, say) {
  const mods = modulesDir({ core: coreModule('t0', SETUP_MS) });
  const server = await startServer({ modulesDir: mods.dir, args: ['--reload-mode', mode, '--drain-timeout', '5000'] });
  const load = startWorker('load', { port: server.port, conns: CONNS, reqsPerConn: 10, localAddress: mode === 'graceful' ? '127.0.0.32' : '127.0.0.31' });
  try {
    await load.next(10_000);
    await sleep(500);
    let reloadErrors = 0;
    let firstReloadError = null;
    const ms = [];
    const t0 = performance.now();
    for (let i = 1; i <= RELOADS; i++) {
      mods.write('core', coreModule(`t${i}`, SETUP_MS));
      const r = await admin(server.port, 'RELOAD');
      const m = /^OK reloaded \d+ modules in (\d+) ms/.exec(r);
      if (m) ms.push(Number(m[1]));
      else {
        reloadErrors++;
        firstReloadError ??= r;
      }
    }
    const reloadS = (performance.now() - t0) / 1000;
    await sleep(300);
    load.send({ type: 'stop' });
    const res = await load.next(30_000);
    // A fresh connection after the last reload must see the last version.
    const last = await oneShot(server.port, 'PING final');
    const up = server.alive();
    say(`${mode}: ${RELOADS} reloads in ${reloadS.toFixed(1)} s; ok ${res.ok}, wrong ${res.wrong}, lost ${res.lost}, conn errors ${res.connErrors}, 503s ${res.r503}, connections ${res.connections}, tags seen ${res.tags}`);
    if (res.samples.length) say(`  samples: ${res.samples.join(' | ')}`);
    const sec = `reload (${mode})`;
    const rows = [
      row(sec, 'RELOADs ok (module rewritten each time)', `${RELOADS - reloadErrors}/${RELOADS}`, { check: must(reloadErrors === 0), note: firstReloadError ? firstReloadError.slice(0, 80) : `${reloadS.toFixed(1)} s, ${res.tags} versions seen by clients` }),
      row(sec, 'correct replies', res.ok, { note: `${res.connections} connections over the run` }),
      row(sec, 'wrong / lost replies', `${res.wrong} / ${res.lost}`, { check: must(res.wrong === 0 && res.lost === 0), note: res.samples[0] ?? '' }),
      row(sec, 'connection errors', res.connErrors, { check: must(res.connErrors === 0) }),
      row(sec, '503 replies', res.r503, mode === 'graceful' ? { check: must(res.r503 === 0), note: 'graceful: must be 0' } : { note: 'allowed in 503 mode' }),
      row(sec, 'new connection after the last reload', last.reply === `PONG final t${RELOADS}` ? 'latest version' : JSON.stringify(last.reply), { check: must(last.reply === `PONG final t${RELOADS}` && up) }),
    ];
    return rows;
  } finally {
    await load.kill();
    await kill(server.proc);
    mods.remove();
  }
}

export async function run(say) {
  return [...(await runMode('503', say)), ...(await runMode('graceful', say))];
}
