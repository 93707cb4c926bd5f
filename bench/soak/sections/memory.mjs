// SPDX-License-Identifier: LGPL-3.0-or-later
/**
 * Section 4, memory across reloads: 5 small modules (one of them a
 * `pool: true` module) rewritten with new content before each of 1,000
 * RELOADs. The server runs with --expose-gc; a never-reloaded probe module
 * answers `MEM` with memoryUsage() after a GC on the main thread, and the
 * pool module answers `PMEM` with its worker's heapUsed after a GC there.
 * Reports heap and RSS growth per reload. Cache-busted ESM imports are never
 * freed by Node, so some growth per reload is expected: this measures it.
 */
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { modulesDir, poolModule, PROBE_MODULE, smallModule } from '../modules.mjs';
import { kill, startServer } from '../proc.mjs';
import { admin, oneShot, sleep, status } from '../net.mjs';
import { mib, must, row } from '../table.mjs';

const RELOADS = 1000;
const WARMUP = 20;
const SMALL = 4;

function writeAll(mods, i) {
  const content = `content-${i}-${'x'.repeat(200)}`;
  for (let k = 0; k < SMALL; k++) mods.write(`small${k}`, smallModule(k, content));
  mods.write('poolmem', poolModule(content));
}

async function mem(port) {
  const r = await oneShot(port, 'MEM');
  return JSON.parse(r.reply);
}
async function poolMem(port) {
  const r = await oneShot(port, 'PMEM');
  return JSON.parse(r.reply);
}

export async function run(say) {
  const mods = modulesDir({ probe: PROBE_MODULE });
  writeAll(mods, 0);
  const server = await startServer({ modulesDir: mods.dir, nodeArgs: ['--expose-gc'], args: ['--threads', '1', '--drain-timeout', '2000'] });
  try {
    let failures = 0;
    let firstFailure = null;
    const reload = async (i) => {
      writeAll(mods, i);
      const r = await admin(server.port, 'RELOAD');
      if (!/^OK reloaded 6 modules/.test(r)) {
        failures++;
        firstFailure ??= r;
      }
    };
    for (let i = 1; i <= WARMUP; i++) await reload(i);
    await sleep(500);
    const base = await mem(server.port);
    const basePool = await poolMem(server.port);
    if (!base.gc) say('warning: gc() not exposed; figures are without a forced GC');
    const points = [];
    const t0 = performance.now();
    for (let i = 1; i <= RELOADS; i++) {
      await reload(WARMUP + i);
      if (i % 250 === 0) {
        const m = await mem(server.port);
        points.push({ i, heap: m.heapUsed, rss: m.rss });
        say(`after ${i} reloads: heap ${mib(m.heapUsed)}, rss ${mib(m.rss)} (${((performance.now() - t0) / 1000).toFixed(1)} s)`);
      }
    }
    const reloadS = (performance.now() - t0) / 1000;
    await sleep(1000);
    const end = await mem(server.port);
    // A generation loads at most 16 versions: the next reload starts a new
    // one and the old one closes with its workers (no connection holds it).
    // Then one more reload, after a request has bound the current generation.
    const idlePool = await poolMem(server.port);
    await reload(WARMUP + RELOADS + 1);
    await sleep(1000);
    const endPool = await poolMem(server.port);
    const st = await status(server.port);
    const draining = st.modules.reduce((a, m) => a + m.draining.length, 0);
    const snapshots = readdirSync(join(mods.dir, '.hrmr'), { recursive: true }).filter((f) => String(f).endsWith('.mjs')).length;
    const heapPer = (end.heapUsed - base.heapUsed) / RELOADS;
    const rssPer = (end.rss - base.rss) / RELOADS;
    const poolGrowth = endPool.heapUsed - basePool.heapUsed;
    say(`heap ${mib(base.heapUsed)} -> ${mib(end.heapUsed)} (${Math.round(heapPer)} B/reload), rss ${mib(base.rss)} -> ${mib(end.rss)} (${Math.round(rssPer)} B/reload); pool worker heap ${mib(basePool.heapUsed)} -> ${mib(idlePool.heapUsed)} without traffic, ${mib(endPool.heapUsed)} after traffic + 1 reload; draining versions ${draining}; snapshot files ${snapshots}; pool ${JSON.stringify(st.pool ?? {}).slice(0, 200)}`);
    return [
      row('memory', `RELOADs ok (5 modules rewritten each)`, `${RELOADS + WARMUP + 1 - failures}/${RELOADS + WARMUP + 1}`, { check: must(failures === 0 && server.alive()), note: firstFailure ? firstFailure.slice(0, 80) : `${RELOADS} in ${reloadS.toFixed(1)} s` }),
      row('memory', 'main heap per reload (after GC)', `${(heapPer / 1024).toFixed(1)} KiB`, { baseline: `${mib(base.heapUsed)} -> ${mib(end.heapUsed)}`, note: `${(heapPer / 5 / 1024).toFixed(1)} KiB per module import` }),
      row('memory', 'RSS per reload', `${(rssPer / 1024).toFixed(1)} KiB`, { baseline: `${mib(base.rss)} -> ${mib(end.rss)}`, note: points.map((p) => `${p.i}: ${mib(p.rss)}`).join(', ') }),
      row('memory', 'pool worker heap, 1,000 reloads without pool traffic', mib(idlePool.heapUsed), { baseline: `${mib(basePool.heapUsed)} at start`, note: 'a generation holds 16 versions at most, then a new one starts' }),
      row('memory', 'pool worker heap after traffic + 1 reload (after GC)', mib(endPool.heapUsed), { baseline: `${mib(basePool.heapUsed)} at start; ${poolGrowth >= 0 ? '+' : ''}${(poolGrowth / 1024).toFixed(0)} KiB`, check: must(endPool.heapUsed < basePool.heapUsed + 8 * 1048576), note: 'versions past 16 went to new generations; old ones closed with their workers' }),
      row('memory', 'old versions left draining / snapshot files', `${draining} / ${snapshots}`, { check: must(draining === 0 && snapshots === 6), note: 'all retired versions disposed; one snapshot per live module' }),
    ];
  } finally {
    await kill(server.proc);
    mods.remove();
  }
}
