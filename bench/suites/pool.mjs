// SPDX-License-Identifier: LGPL-3.0-or-later
/**
 * Pool suite. Every row has a machine-checked target:
 *  - tiny `pool: true` messages per second through hrmr against piscina called
 *    directly from a plain `net` server (same threads, same pipelining);
 *    alternating pinned rounds, medians (bench/lib/measure.mjs);
 *  - main-thread PING latency (p99) while a pool task burns CPU 500 ms at a time;
 *  - N RELOADs of a changed pool module, each followed by a pool request on a
 *    new connection (so every reload's generation is used, then released):
 *    the process's total RSS (main thread and every worker) after N reloads
 *    against the RSS before them, the RSS growth per reload, the worker
 *    generations still alive once the connections are closed, and the time
 *    per RELOAD.
 * BENCH_POOL_RELOADS sets N (default 300).
 */
import { writeFileSync } from 'node:fs';
import net from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startHrmr } from '../lib/hrmr.mjs';
import { alternate, median, percentile } from '../lib/measure.mjs';
import { collect, spawnTracked, stop, waitForLine } from '../lib/proc.mjs';
import { row } from '../lib/rows.mjs';
import { fmt } from '../lib/table.mjs';

const PIPELINE = fileURLToPath(new URL('../clients/pipeline.mjs', import.meta.url));
const PISCINA = fileURLToPath(new URL('../baselines/piscina-server.mjs', import.meta.url));
const MODULE_FILE = 'poolbench.mjs';
const THREADS = 2;
const RELOADS = Math.max(10, Number(process.env.BENCH_POOL_RELOADS ?? 300) || 300);

const TARGET = {
  throughput: 0.8, // hrmr / piscina direct, at least
  pingP99Ms: 5, // at most
  rssRatio: 2, // RSS after N reloads / before, at most
  rssPerReloadKiB: 256, // at most (a leaked worker generation costs megabytes)
  generations: 2, // live generations after the reloads, connections closed, at most
  reloadMs: 250, // median ms per RELOAD of a pool module, at most
};

function moduleSource(tag) {
  return `
const burn = (ms) => { const end = Date.now() + ms; while (Date.now() < end); };
export default { routes: [
  { prefix: 'TINY', pool: true, message: () => 'OK\\n' },
  { prefix: 'BURN ', pool: true, message: (m) => { burn(Number(m.toString().slice(5))); return 'BURNT\\n'; } },
  { prefix: 'TAG', pool: true, message: () => '${tag}\\n' },
  { prefix: 'PING', message: () => 'PONG\\n' },
] };`;
}

/** A temporary module file to hand to startHrmr (it copies it). */
function moduleFile(dir, tag) {
  const f = join(dir, MODULE_FILE);
  writeFileSync(f, moduleSource(tag));
  return f;
}

/** One request line on a fresh connection; resolves with the reply line (bounded). */
function request(port, line, timeoutMs = 30_000) {
  return new Promise((resolve, reject) => {
    const s = net.connect({ port, host: '127.0.0.1', noDelay: true }, () => s.write(line + '\n'));
    let buf = '';
    const t = setTimeout(() => {
      s.destroy();
      reject(new Error(`no reply to ${line} within ${timeoutMs} ms`));
    }, timeoutMs);
    s.setEncoding('utf8');
    s.on('data', (d) => {
      buf += d;
      const i = buf.indexOf('\n');
      if (i >= 0) {
        clearTimeout(t);
        s.destroy();
        resolve(buf.slice(0, i));
      }
    });
    s.on('error', (err) => {
      clearTimeout(t);
      reject(err);
    });
  });
}

async function status(port) {
  const r = await request(port, 'STATUS');
  if (!r.startsWith('OK ')) throw new Error(`STATUS: ${r}`);
  return JSON.parse(r.slice(3));
}

/** The pipelining load client on the load CPU: `conns` connections, `window` requests in flight each. */
async function pipeline(port, seconds, conns = 16, window = 16) {
  const ms = Math.round(seconds * 1000);
  const child = spawnTracked(process.execPath, [PIPELINE, String(port), String(conns), String(window), String(ms), 'TINY', 'OK'], { role: 'load' });
  const out = collect(child);
  const killer = setTimeout(() => void stop(child, 500), ms + 15_000);
  const code = await child.exited;
  clearTimeout(killer);
  let r;
  try {
    r = JSON.parse(out.stdout.trim().split('\n').pop());
  } catch {
    throw new Error(`pipeline client failed (exit ${code}): ${out.stderr.trim()}`);
  }
  if (r.bad > 0 || r.errors > 0) throw new Error(`pipeline client: ${r.bad} wrong replies, ${r.errors} errors`);
  if (!(r.ok > 0)) throw new Error('pipeline client: no replies');
  return { rps: r.rps, requests: r.ok };
}

async function startPiscina() {
  const proc = spawnTracked(process.execPath, [PISCINA, String(THREADS)], { role: 'server' });
  const ready = await waitForLine(proc, (l) => /^\d+$/.test(String(l.msg ?? l).trim()) || typeof l === 'number', 10_000, 'piscina baseline');
  const port = typeof ready === 'number' ? ready : Number(String(ready.msg).trim());
  return { port, stop: () => stop(proc) };
}

/** Tiny pool messages/s: hrmr vs piscina direct, alternating pinned rounds. */
async function throughput(dir) {
  const h = await startHrmr({ modules: [moduleFile(dir, 'v0')], args: ['--threads', String(THREADS), '--task-timeout', '0'] });
  let base = null;
  try {
    base = await startPiscina();
    const m = await alternate({ a: (s) => pipeline(h.port, s), b: (s) => pipeline(base.port, s) });
    const st = await status(h.port);
    if (st.pool?.threads !== THREADS) throw new Error(`hrmr pool has ${st.pool?.threads} threads, expected ${THREADS}`);
    return row({
      suite: 'pool',
      case: `tiny pool messages, ${THREADS} threads, 16 conns x 16 pipelined`,
      unit: 'msg/s',
      value: median(m.a.map((x) => x.rps)),
      baseline: median(m.b.map((x) => x.rps)),
      target: TARGET.throughput,
      note: 'baseline: piscina called directly from a plain net server',
      samples: { value: m.a.map((x) => x.rps), baseline: m.b.map((x) => x.rps) },
    });
  } finally {
    await Promise.all([h.stop(), base?.stop()]);
  }
}

/** Main-thread PING p50/p99 while one pool task after another burns CPU for 500 ms. */
async function pingUnderBurn(dir, seconds) {
  // Not pinned: the point is that a burning worker thread does not stall the main thread when it
  // has a core of its own; pinning the whole process to one CPU would only measure the scheduler.
  const h = await startHrmr({ modules: [moduleFile(dir, 'v0')], args: ['--threads', '1', '--task-timeout', '0'], role: null });
  const sockets = [];
  try {
    const open = () =>
      new Promise((resolve, reject) => {
        const s = net.connect({ port: h.port, host: '127.0.0.1', noDelay: true }, () => resolve(s));
        s.once('error', reject);
        s.setEncoding('utf8');
        sockets.push(s);
      });
    const ask = (s, line) =>
      new Promise((resolve, reject) => {
        const t = setTimeout(() => reject(new Error(`no reply to ${line}`)), 10_000);
        s.once('data', (d) => {
          clearTimeout(t);
          resolve(d);
        });
        s.write(line + '\n');
      });
    const pinger = await open();
    const idle = [];
    for (let i = 0; i < 200; i++) {
      const t0 = process.hrtime.bigint();
      await ask(pinger, 'PING');
      idle.push(Number(process.hrtime.bigint() - t0) / 1e6);
    }
    const burner = await open();
    let burning = true;
    let burns = 0;
    const burnLoop = (async () => {
      while (burning) {
        const r = await ask(burner, 'BURN 500');
        if (r !== 'BURNT\n') throw new Error(`BURN: ${JSON.stringify(r)}`);
        burns++;
      }
    })();
    // Wait until the first task is running on the worker.
    const deadline = Date.now() + 5000;
    while ((await status(h.port)).pool.running < 1) if (Date.now() > deadline) throw new Error('the burn task never started');
    const lat = [];
    const end = Date.now() + seconds * 1000;
    while (Date.now() < end) {
      const t0 = process.hrtime.bigint();
      const r = await ask(pinger, 'PING');
      if (r !== 'PONG\n') throw new Error(`PING: ${JSON.stringify(r)}`);
      lat.push(Number(process.hrtime.bigint() - t0) / 1e6);
      await new Promise((r2) => setTimeout(r2, 2));
    }
    burning = false;
    await burnLoop;
    const p99 = percentile(lat, 0.99);
    return row({
      suite: 'pool',
      case: 'main-thread PING p99 while a pool task burns CPU (500 ms tasks)',
      unit: 'ms',
      value: p99,
      target: TARGET.pingP99Ms,
      better: 'lower',
      note: `${lat.length} pings over ${burns} burns; p50 ${fmt(percentile(lat, 0.5))} ms; idle p99 ${fmt(percentile(idle, 0.99))} ms; not pinned`,
      extra: { p50: percentile(lat, 0.5), idleP50: percentile(idle, 0.5), idleP99: percentile(idle, 0.99) },
    });
  } finally {
    for (const s of sockets) s.destroy();
    await h.stop();
  }
}

/** N RELOADs of a changed pool module, each then used by a pool request on a new connection. */
async function reloads(dir, n) {
  const h = await startHrmr({ modules: [moduleFile(dir, 'v0')], args: ['--threads', String(THREADS), '--task-timeout', '0'] });
  try {
    if ((await request(h.port, 'TAG')) !== 'v0') throw new Error('pool module did not answer');
    // Warm up: a few reloads so the start figure already includes the first generations' one-off costs.
    const reloadOnce = async (i) => {
      writeFileSync(join(h.dir, MODULE_FILE), moduleSource(`v${i}`));
      const t0 = performance.now();
      const r = await request(h.port, 'RELOAD', 60_000);
      const ms = performance.now() - t0;
      if (!r.startsWith('OK reloaded')) throw new Error(`RELOAD ${i}: ${r}`);
      const tag = await request(h.port, 'TAG');
      if (tag !== `v${i}`) throw new Error(`after RELOAD ${i} the pool answered ${tag}`);
      return ms;
    };
    for (let i = 1; i <= 5; i++) await reloadOnce(i);
    const before = await status(h.port);
    const times = [];
    const trace = [];
    for (let i = 6; i < 6 + n; i++) {
      times.push(await reloadOnce(i));
      if ((i - 5) % Math.max(1, Math.floor(n / 4)) === 0) {
        const st = await status(h.port);
        trace.push(`${i - 5}: ${(st.memory.rssBytes / 2 ** 20).toFixed(0)} MiB, ${st.pool.generations} gen`);
      }
    }
    // Every connection is closed: generations other than the current one should go. Wait for it (bounded).
    let after = await status(h.port);
    const deadline = Date.now() + 10_000;
    while (after.pool.generations > 1 && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 100));
      after = await status(h.port);
    }
    const mib = (b) => b / 2 ** 20;
    const note = `after ${n} reloads; ${trace.join('; ')}`;
    return [
      row({ suite: 'pool', case: `total RSS after ${n} RELOADs of a pool module`, unit: 'MiB', value: mib(after.memory.rssBytes), baseline: mib(before.memory.rssBytes), target: TARGET.rssRatio, better: 'lower', note: 'baseline: RSS before them (main thread and all workers)', extra: { heapUsed: { before: before.memory.heapUsedBytes, after: after.memory.heapUsedBytes } } }),
      row({ suite: 'pool', case: `RSS growth per RELOAD of a pool module (${n})`, unit: 'KiB', value: (after.memory.rssBytes - before.memory.rssBytes) / 1024 / n, target: TARGET.rssPerReloadKiB, better: 'lower', note }),
      row({ suite: 'pool', case: `live worker generations after ${n} RELOADs, connections closed`, unit: 'count', value: after.pool.generations, target: TARGET.generations, better: 'lower', note: `before: ${before.pool.generations}` }),
      row({ suite: 'pool', case: 'RELOAD of a pool module in use, median', unit: 'ms', value: median(times), target: TARGET.reloadMs, better: 'lower', note: `p95 ${fmt(percentile(times, 0.95))} ms over ${n} (a new generation every 16 versions)` }),
    ];
  } finally {
    await h.stop();
  }
}

export async function run() {
  const { mkdtempSync, rmSync } = await import('node:fs');
  const { tmpdir } = await import('node:os');
  const dir = mkdtempSync(join(tmpdir(), 'hrmr-bench-pool-'));
  const rows = [];
  const errors = [];
  const step = async (name, fn) => {
    try {
      const r = await fn();
      for (const x of [r].flat()) {
        rows.push(x);
        console.log(`  ${x.case}: ${fmt(x.value)} ${x.unit}${x.baseline !== null ? ` (baseline ${fmt(x.baseline)}, ratio ${fmt(x.ratio)})` : ''}${x.note ? `; ${x.note}` : ''}`);
      }
    } catch (err) {
      errors.push(`${name}: ${err.message}`);
      console.log(`  ${name}: FAILED ${err.message}`);
    }
  };
  try {
    await step('throughput', () => throughput(dir));
    await step('ping under burn', () => pingUnderBurn(dir, 5));
    await step('reloads', () => reloads(dir, RELOADS));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  if (errors.length > 0) {
    const err = new Error(errors.join('\n'));
    err.rows = rows;
    throw err;
  }
  return rows;
}
