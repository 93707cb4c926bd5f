// SPDX-License-Identifier: LGPL-3.0-or-later
/**
 * rhttp suite: a GET through hrmr -> Redis -> one Node service -> back
 * (the rhttp module, built modules/rhttp.mjs) against the same service logic
 * called over plain node:http, 50 concurrent keep-alive connections (wrk
 * --latency), run alternately. Rows: requests per second (target: at least
 * a quarter of the direct call), p50 and p99 latency. The CPU each process
 * (hrmr, redis-server, the service) spends per request on the rhttp path is
 * recorded too: it says what dominates.
 *
 * Servers (hrmr, redis-server, the service) share the server CPU; wrk runs
 * on the load CPU (bench/lib/config.mjs).
 */
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { createServer } from 'node:net';
import { ROOT } from '../lib/config.mjs';
import { cpuMicros } from '../lib/cpu.mjs';
import { alternate, median } from '../lib/measure.mjs';
import { collect, jsonLines, spawnTracked, stop, waitForLine } from '../lib/proc.mjs';
import { row } from '../lib/rows.mjs';
import { fmt } from '../lib/table.mjs';
import { ensureWrk, parseWrk } from '../lib/wrk.mjs';
import { freePort } from '../lib/ports.mjs';

const CONNS = 50;
const TARGET = 0.25;


async function startRedis() {
  const port = await freePort();
  const proc = spawnTracked('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--loglevel', 'warning'], { role: 'server' });
  const deadline = Date.now() + 10_000;
  for (;;) {
    const ok = await new Promise((resolve) => {
      const s = createServer();
      void s;
      import('node:net').then(({ connect }) => {
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
    });
    if (ok) break;
    if (Date.now() > deadline || proc.exitCode !== null) throw new Error('redis-server did not start');
    await new Promise((r) => setTimeout(r, 50));
  }
  return { proc, url: `redis://127.0.0.1:${port}` };
}

async function startService(url) {
  const proc = spawnTracked(process.execPath, [join(ROOT, 'bench', 'lib', 'rhttp-service.mjs'), url], { role: 'server', cwd: ROOT });
  const ready = await waitForLine(proc, (l) => l.msg === 'ready', 15_000, 'rhttp bench service');
  return { proc, port: ready.port };
}

/** hrmr with only the built rhttp module, in a folder inside the repo (so `ioredis` resolves). */
async function startGateway(url) {
  const built = join(ROOT, 'modules', 'rhttp.mjs');
  if (!existsSync(built)) throw new Error('modules/rhttp.mjs is not built: run npm run build');
  mkdirSync(join(ROOT, '.tmp'), { recursive: true });
  const dir = mkdtempSync(join(ROOT, '.tmp', 'bench-rhttp-'));
  copyFileSync(built, join(dir, 'rhttp.mjs'));
  const proc = spawnTracked(process.execPath, [join(ROOT, 'bin', 'hrmr.mjs'), '--port', '0', '--host', '127.0.0.1', '--modules', dir, '--log-level', 'info', '--threads', '1', '--redis', url], { role: 'server', cwd: ROOT });
  const cleanup = async () => {
    await stop(proc);
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    const listening = await waitForLine(proc, (l) => l.msg === 'listening', 15_000, 'hrmr');
    const problems = [];
    const joined = new Promise((resolve) => {
      jsonLines(proc.stdout, (l) => {
        if (l.msg === 'rhttp service joined') resolve();
        else if (typeof l.level === 'number' && l.level >= 40 && problems.length < 20) problems.push(l);
      });
    });
    await Promise.race([joined, new Promise((_, reject) => setTimeout(() => reject(new Error('the bench service did not join within 10 s')), 10_000))]);
    return { proc, port: listening.port, problems, stop: cleanup };
  } catch (err) {
    await cleanup();
    throw err;
  }
}

const UNIT_MS = { us: 1e-3, ms: 1, s: 1e3, m: 6e4 };

/** wrk's "Latency Distribution" percentile (50, 75, 90, 99) in ms. */
export function wrkPercentile(text, p) {
  const m = new RegExp(`^\\s*${p}%\\s+([\\d.]+)(us|ms|s|m)\\s*$`, 'm').exec(text);
  return m ? Number(m[1]) * UNIT_MS[m[2]] : NaN;
}

async function wrk(url, seconds) {
  ensureWrk();
  const s = Math.max(1, Math.round(seconds));
  const child = spawnTracked('wrk', ['-t1', `-c${CONNS}`, `-d${s}s`, '--timeout', '5s', '--latency', url], { role: 'load' });
  const out = collect(child);
  const killer = setTimeout(() => void stop(child, 500), (s + 15) * 1000);
  const code = await child.exited;
  clearTimeout(killer);
  if (code !== 0) throw new Error(`wrk exited ${code}: ${(out.stderr.trim() || out.stdout.trim()).split('\n')[0]}`);
  const r = parseWrk(out.stdout);
  if (r.non2xx > 0) throw new Error(`wrk: ${r.non2xx} non-2xx responses from ${url}`);
  const errs = r.errors.connect + r.errors.read + r.errors.write + r.errors.timeout;
  if (r.requests !== null && errs > Math.max(10, r.requests * 0.01)) throw new Error(`wrk: ${errs} socket errors for ${r.requests} requests`);
  return { rps: r.rps, requests: r.requests, p50: wrkPercentile(out.stdout, 50), p99: wrkPercentile(out.stdout, 99) };
}

/** Runs `fn` and adds the CPU microseconds each of `procs` used meanwhile. */
async function withCpus(procs, fn) {
  const before = Object.fromEntries(Object.entries(procs).map(([k, p]) => [k, cpuMicros(p.pid)]));
  const r = await fn();
  const cpu = {};
  for (const [k, p] of Object.entries(procs)) {
    const a = before[k];
    const b = cpuMicros(p.pid);
    cpu[k] = a === null || b === null ? null : b - a;
  }
  return { ...r, cpu };
}

export async function run() {
  ensureWrk();
  let redis = null;
  let svc = null;
  let gw = null;
  try {
    redis = await startRedis();
    svc = await startService(redis.url);
    gw = await startGateway(redis.url);
    const procs = { hrmr: gw.proc, redis: redis.proc, service: svc.proc };
    const m = await alternate({
      a: (s) => withCpus(procs, () => wrk(`http://127.0.0.1:${gw.port}/api/hello`, s)),
      b: (s) => withCpus({ service: svc.proc }, () => wrk(`http://127.0.0.1:${svc.port}/hello`, s)),
    });
    const perReq = (runs, k) => median(runs.map((x) => (x.cpu[k] === null || !x.requests ? NaN : x.cpu[k] / x.requests)));
    const cpu = { hrmr: perReq(m.a, 'hrmr'), redis: perReq(m.a, 'redis'), service: perReq(m.a, 'service'), direct: perReq(m.b, 'service') };
    const cpuNote = `CPU/req: hrmr ${fmt(cpu.hrmr)} us, redis ${fmt(cpu.redis)} us, service ${fmt(cpu.service)} us; direct service ${fmt(cpu.direct)} us`;
    const rows = [
      row({
        suite: 'rhttp',
        case: 'GET via hrmr -> Redis -> service, 50 keep-alive',
        unit: 'req/s',
        value: median(m.a.map((x) => x.rps)),
        baseline: median(m.b.map((x) => x.rps)),
        target: TARGET,
        note: cpuNote,
        samples: { value: m.a.map((x) => Math.round(x.rps)), baseline: m.b.map((x) => Math.round(x.rps)) },
        extra: { cpuUsPerRequest: cpu, connections: CONNS },
      }),
      row({ suite: 'rhttp', case: 'p50 latency (vs direct)', unit: 'ms', value: median(m.a.map((x) => x.p50)), baseline: median(m.b.map((x) => x.p50)), better: 'lower' }),
      row({ suite: 'rhttp', case: 'p99 latency (vs direct)', unit: 'ms', value: median(m.a.map((x) => x.p99)), baseline: median(m.b.map((x) => x.p99)), better: 'lower' }),
    ];
    const [rps, p50, p99] = rows;
    console.log(`  rhttp: ${fmt(rps.value)} req/s, direct ${fmt(rps.baseline)} req/s, ratio ${rps.ratio.toFixed(3)} (target ${TARGET})`);
    console.log(`  p50 ${fmt(p50.value)} ms vs ${fmt(p50.baseline)} ms; p99 ${fmt(p99.value)} ms vs ${fmt(p99.baseline)} ms`);
    console.log(`  ${cpuNote}`);
    if (gw.problems.length > 0) {
      const err = new Error(`hrmr logged warnings/errors during the run: ${gw.problems.map((p) => p.msg).join('; ')}`);
      err.rows = rows;
      throw err;
    }
    return rows;
  } finally {
    await gw?.stop();
    await stop(svc?.proc);
    await stop(redis?.proc);
  }
}
