// SPDX-License-Identifier: LGPL-3.0-or-later
/**
 * relay suite: the relay module (built modules/relay.mjs) with the memory
 * store and with the Redis store, against a plain `node:http` hello in the
 * same run (the reference: a request that does nothing).
 *
 *  - produce: POST /t/ID?limit=0 (16-byte bodies; limit=0 trims, so the
 *    queues stay bounded), 50 keep-alive connections -> messages/s.
 *    Target (memory): >= 0.6 of the hello rate; the original (OpenResty, one
 *    worker, Redis 7) produces ~10,800/s on this machine.
 *  - pairs: POST then GET on the connection's own tunnel -> pairs/s
 *    (original ~4,900/s).
 *    Targets (pairs, and Redis produce): the original's rate as a share of
 *    the same run's hello, from its recorded figures (ORIGINAL_RATIO).
 *  - wake: a long poll waits, a producer POSTs 5 ms later; the time from the
 *    POST being written to the poll's answer, p50/p99 (original 0.8/4 ms).
 *    Targets: p99 < 5 ms (memory), < 10 ms (Redis). The reference is the
 *    latency of one hello request on an idle connection. With Redis, also
 *    across two hrmr servers (produce on A, poll on B).
 *
 * Throughput rows run as duets (bench/lib/measure.mjs: the relay and the
 * hello at once, the ratio the median of the rounds' ratios).
 *
 * Servers (hrmr, redis-server, the plain server) share the server CPU; the
 * load generator (bench/lib/relay-load.mjs) runs on the load CPU.
 */
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer, connect } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { config, ROOT } from '../lib/config.mjs';
import { withCpu } from '../lib/cpu.mjs';
import { duet, median, pairedRatio } from '../lib/measure.mjs';
import { startPlainServers } from '../lib/plain.mjs';
import { collect, spawnTracked, stop, waitForLine } from '../lib/proc.mjs';
import { row } from '../lib/rows.mjs';
import { fmt } from '../lib/table.mjs';
import { ensureWrk, parseWrk } from '../lib/wrk.mjs';
import { freePort } from '../lib/ports.mjs';

const LOAD = fileURLToPath(new URL('../lib/relay-load.mjs', import.meta.url));
const POST_LUA = fileURLToPath(new URL('../lib/relay-post.lua', import.meta.url));
const BIN = join(ROOT, 'bin', 'hrmr.mjs');
const CONNS = 50;
const ROUNDS = Math.min(config.rounds, 3);
const WAKE_SAMPLES = 300;
const ORIGINAL = { produce: 10_800, pairs: 4_900, wakeP50: 0.8, wakeP99: 4 };
/**
 * The original's rates as a share of a plain node:http hello on the same
 * machine the same day, so the target moves with the machine (see
 * docs/benchmarks.md, "relay: targets relative to the hello"): its 10,800
 * produces/s and 4,900 pairs/s were recorded when this suite's hello ran
 * 68,930 req/s under wrk (produce rows) and 63,217 req/s under the node
 * generator (pairs rows), on 2026-11-22.
 */
const ORIGINAL_RATIO = { produce: 10_800 / 68_930, pairs: 4_900 / 63_217 };
const ratioTarget = (x) => Math.round(x * 1000) / 1000;
/**
 * The original (OpenResty + Redis, pinned) measured beside hrmr for issue 26: wake-up p50 1.03 ms, p99 4.7 ms with the same Redis.
 * The issue's own figures, as measured (the p50 had been rounded to 1.0, a target 3% under the original's).
 */
const ORIGINAL_REDIS = { wakeP50: 1.03, wakeP99: 4.7 };


function redisPing(port) {
  return new Promise((resolve) => {
    const c = connect(port, '127.0.0.1');
    let buf = '';
    c.setTimeout(500, () => (c.destroy(), resolve(false)));
    c.on('error', () => resolve(false));
    c.on('connect', () => c.write('PING\r\n'));
    c.on('data', (d) => {
      buf += d;
      if (buf.includes('PONG')) {
        c.destroy();
        resolve(true);
      }
    });
  });
}

async function startRedis() {
  const port = await freePort();
  const proc = spawnTracked('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--loglevel', 'warning'], { role: 'server' });
  const deadline = Date.now() + 10_000;
  while (!(await redisPing(port))) {
    if (Date.now() > deadline || proc.exitCode !== null) {
      await stop(proc);
      throw new Error('redis-server did not start (is it installed? apt-get install redis-server)');
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return { url: `redis://127.0.0.1:${port}`, pid: proc.pid, stop: () => stop(proc) };
}

/** hrmr serving the built relay module; its folder is inside the repo so `ioredis` resolves. */
async function startRelay(args = []) {
  const src = join(ROOT, 'modules', 'relay.mjs');
  if (!existsSync(src)) throw new Error('modules/relay.mjs is not built: run npm run build');
  mkdirSync(join(ROOT, '.tmp'), { recursive: true });
  const dir = mkdtempSync(join(ROOT, '.tmp', 'relay-bench-'));
  copyFileSync(src, join(dir, 'relay.mjs'));
  const proc = spawnTracked(process.execPath, [BIN, '--port', '0', '--host', '127.0.0.1', '--modules', dir, '--log-level', 'info', '--threads', '1', ...args], { role: 'server', cwd: ROOT });
  const cleanup = async () => {
    await stop(proc);
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    const listening = await waitForLine(proc, (l) => l.msg === 'listening', 15_000, 'hrmr relay');
    if (listening.modules !== 1) throw new Error(`the relay module did not load (modules: ${listening.modules})`);
    return { port: listening.port, pid: proc.pid, stop: cleanup };
  } catch (err) {
    await cleanup();
    throw err;
  }
}

async function load(o) {
  const child = spawnTracked(process.execPath, [LOAD, JSON.stringify(o)], { role: 'load' });
  const out = collect(child);
  const killer = setTimeout(() => void stop(child, 500), (o.durationMs ?? 0) + 20_000);
  try {
    await child.exited;
  } finally {
    clearTimeout(killer);
  }
  let r;
  try {
    r = JSON.parse(out.stdout.trim().split('\n').pop());
  } catch {
    throw new Error(`relay load generator failed: ${out.stderr.trim() || out.stdout.trim()}`);
  }
  if (r.error) throw new Error(`relay load (${o.mode}): ${r.error}`);
  return r;
}

let wrkOk = null;
function haveWrk() {
  if (wrkOk === null) {
    try {
      ensureWrk();
      wrkOk = true;
    } catch {
      wrkOk = false;
    }
  }
  return wrkOk;
}

/** wrk (C, cheap per request, so the server is what is measured): GET / or, with the script, POSTs. */
async function wrkRate(url, script, s) {
  const args = ['-t1', `-c${CONNS}`, `-d${Math.max(1, Math.round(s))}s`, '--timeout', '5s'];
  if (script) args.push('-s', script);
  args.push(url);
  const child = spawnTracked('wrk', args, { role: 'load' });
  const out = collect(child);
  const killer = setTimeout(() => void stop(child, 500), (s + 15) * 1000);
  try {
    await child.exited;
  } finally {
    clearTimeout(killer);
  }
  const r = parseWrk(out.stdout);
  if (r.non2xx > 0) throw new Error(`wrk: ${r.non2xx} non-2xx answers from ${url}`);
  return { rps: r.rps, count: r.requests };
}

/** A load run `(seconds) -> {rps}`: produce and hello through wrk when it is there, pairs through the node generator. */
const rate = (mode, port, gen) => async (s) => {
  if (gen === 'wrk' && mode === 'hello') return wrkRate(`http://127.0.0.1:${port}/`, null, s);
  if (gen === 'wrk' && mode === 'produce') return wrkRate(`http://127.0.0.1:${port}/t/bench-wrk?limit=0`, POST_LUA, s);
  const r = await load({ mode, port, conns: CONNS, durationMs: Math.round(s * 1000) });
  return { rps: r.rate, count: r.count };
};

/** Median server CPU microseconds per request (per pair for pairs) over a side's runs. */
const cpuPer = (results) => median(results.map((r) => (r.cpuUs === null || !r.count ? NaN : r.cpuUs / r.count)));

async function throughputRow(rows, name, mode, relay, hello, unit, original, target) {
  const gen = mode === 'produce' && haveWrk() ? 'wrk' : 'node';
  // A duet (bench/lib/measure.mjs): the relay and the hello at once, so the host's swings hit both alike.
  const m = await duet({
    a: (s) => withCpu(relay.pid, () => rate(mode, relay.port, gen)(s)),
    b: (s) => withCpu(hello.pid, () => rate('hello', hello.port, gen)(s)),
    rounds: ROUNDS,
  });
  const value = median(m.a.map((x) => x.rps));
  const baseline = median(m.b.map((x) => x.rps));
  const ratio = pairedRatio(m.a, m.b, (x) => x.rps);
  const cpu = { value: cpuPer(m.a), baseline: cpuPer(m.b) };
  // Both sides share the core in a duet (about half a solo rate each), so the original is compared as its share of the hello.
  const originalShare = mode === 'pairs' ? ORIGINAL_RATIO.pairs : ORIGINAL_RATIO.produce;
  const beatsOriginal = ratio >= originalShare;
  const r = row({
    suite: 'relay',
    case: name,
    unit,
    value,
    baseline,
    ratio,
    target: target ?? ratioTarget(originalShare),
    note: `original ~${fmt(original)}/s solo, ${fmt(originalShare)} of the hello: ${beatsOriginal ? 'beaten' : 'NOT beaten'}; hrmr CPU ${fmt(cpu.value)} us per ${mode === 'pairs' ? 'pair' : 'request'} vs hello ${fmt(cpu.baseline)} us`,
    samples: { value: m.a.map((x) => Math.round(x.rps)), baseline: m.b.map((x) => Math.round(x.rps)) },
    extra: { connections: CONNS, reference: 'node:http hello', loadGenerator: gen, serverCpuUs: cpu },
  });
  rows.push(r);
  console.log(`  ${name}: ${fmt(value)} ${unit}, hello ${fmt(baseline)} req/s, ratio ${r.ratio.toFixed(3)} (load: ${gen}); ${r.note}`);
}

async function wakeRows(rows, name, port, helloPort, limitMs, producerPort, orig50 = ORIGINAL.wakeP50) {
  const w = await load({ mode: 'wake', port, producerPort, samples: WAKE_SAMPLES, gapMs: 5, durationMs: 15_000 });
  const ref = await load({ mode: 'latency', port: helloPort, samples: WAKE_SAMPLES, gapMs: 5, durationMs: 15_000 });
  for (const [p, orig] of [
    ['p50', orig50],
    ['p99', orig50 === ORIGINAL.wakeP50 ? ORIGINAL.wakeP99 : ORIGINAL_REDIS.wakeP99],
  ]) {
    const value = w[p];
    // Across two servers the bound is "wakes within 50 ms of a produce on A"; the original's 0.8 ms is one server's figure.
    const across = producerPort !== undefined;
    const pass = p === 'p99' ? value <= limitMs : across ? value < 50 : value <= orig;
    const r = row({
      suite: 'relay',
      case: `${name} ${p}`,
      unit: 'ms',
      value,
      baseline: ref[p],
      better: 'lower',
      target: p === 'p99' ? `<= ${limitMs} ms` : across ? '< 50 ms (across servers)' : `<= ${orig} ms (original)`,
      pass,
      note: `${w.count} wake-ups; reference: one hello request ${p} ${ref[p].toFixed(2)} ms; original ${orig} ms${across ? ' (one server)' : ''}`,
    });
    rows.push(r);
    console.log(`  ${name} ${p}: ${value.toFixed(2)} ms (hello request ${ref[p].toFixed(2)} ms); target ${r.target}`);
  }
}

export async function run() {
  const rows = [];
  const errors = [];
  let plain = null;
  let mem = null;
  let redis = null;
  let ra = null;
  let rb = null;
  try {
    plain = await startPlainServers();
    const hello = { port: plain.ports.http, pid: plain.pid };
    mem = await startRelay();
    const steps = [
      // 0.6 (was 0.7): a bare node:http produce reads 0.82-0.84 of the hello, and the relay's own work
      // per produce costs 1.25x its CPU (docs/benchmarks.md, "The relay's memory produce: a target from the bare produce").
      () => throughputRow(rows, 'memory: produce', 'produce', mem, hello, 'msg/s', ORIGINAL.produce, 0.6),
      () => throughputRow(rows, 'memory: produce+consume', 'pairs', mem, hello, 'pairs/s', ORIGINAL.pairs, ratioTarget(ORIGINAL_RATIO.pairs)),
      () => wakeRows(rows, 'memory: long-poll wake-up', mem.port, hello.port, 5),
    ];
    for (const s of steps) {
      try {
        await s();
      } catch (err) {
        errors.push(err.message);
        console.log(`  FAILED ${err.message}`);
      }
    }
    await mem.stop();
    mem = null;
    try {
      redis = await startRedis();
      ra = await startRelay(['--redis', redis.url]);
      rb = await startRelay(['--redis', redis.url]);
      const rsteps = [
        () => throughputRow(rows, 'redis: produce', 'produce', ra, hello, 'msg/s', ORIGINAL.produce, ratioTarget(ORIGINAL_RATIO.produce)),
        () => throughputRow(rows, 'redis: produce+consume', 'pairs', ra, hello, 'pairs/s', ORIGINAL.pairs, ratioTarget(ORIGINAL_RATIO.pairs)),
        // Beat the original on the same Redis (issue 26): a wake-up on the producing server is one round trip.
        () => wakeRows(rows, 'redis: long-poll wake-up', ra.port, hello.port, ORIGINAL_REDIS.wakeP99, undefined, ORIGINAL_REDIS.wakeP50),
        () => wakeRows(rows, 'redis, two servers: wake-up', rb.port, hello.port, 10, ra.port),
      ];
      for (const s of rsteps) {
        try {
          await s();
        } catch (err) {
          errors.push(err.message);
          console.log(`  FAILED ${err.message}`);
        }
      }
    } catch (err) {
      errors.push(`redis store: ${err.message}`);
    }
  } finally {
    await Promise.all([mem?.stop(), ra?.stop(), rb?.stop(), plain?.stop()]);
    await redis?.stop();
  }
  if (errors.length > 0) {
    const err = new Error(errors.join('\n'));
    err.rows = rows;
    throw err;
  }
  return rows;
}
