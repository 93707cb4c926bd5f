// SPDX-License-Identifier: LGPL-3.0-or-later
// Pool bench: throughput of tiny `pool: true` messages through hrmr against
// piscina called directly from a plain net server; main-thread ping latency
// while pool tasks burn CPU; worker heap across 1,000 reloads of a pool module.
//   node bench/suites/pool.mjs
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const children = new Set();

function moduleSource(tag) {
  return `
const burn = (ms) => { const end = Date.now() + ms; while (Date.now() < end); };
export default { routes: [
  { prefix: 'TINY', pool: true, message: () => 'OK\\n' },
  { prefix: 'BURN ', pool: true, message: (m) => { burn(Number(m.toString().slice(5))); return 'BURNT\\n'; } },
  { prefix: 'HEAP', pool: true, message: () => process.memoryUsage().heapUsed + ' ${tag}\\n' },
  { prefix: 'PING', message: () => 'PONG\\n' },
] };`;
}

function spawnChild(args, opts = {}) {
  const p = spawn(process.execPath, args, { cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit'], ...opts });
  children.add(p);
  p.once('exit', () => children.delete(p));
  return p;
}

/** Resolves with the first stdout line matching `pick` (returns a value or undefined). */
function firstLine(p, pick, timeoutMs = 15_000) {
  return new Promise((resolve, reject) => {
    let buf = '';
    const t = setTimeout(() => reject(new Error('child did not report in time')), timeoutMs);
    p.stdout.setEncoding('utf8');
    p.stdout.on('data', (d) => {
      buf += d;
      let i;
      while ((i = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, i);
        buf = buf.slice(i + 1);
        const v = pick(line);
        if (v !== undefined) {
          clearTimeout(t);
          resolve(v);
        }
      }
    });
    p.once('exit', () => reject(new Error('child exited early')));
  });
}

async function startHrmr(dir, threads) {
  const p = spawnChild(['bin/hrmr.mjs', '--port', '0', '--modules', dir, '--threads', String(threads), '--log-level', 'info', '--task-timeout', '0']);
  const port = await firstLine(p, (l) => {
    try {
      const j = JSON.parse(l);
      return j.msg === 'listening' ? j.port : undefined;
    } catch {
      return undefined;
    }
  });
  return { p, port };
}

async function load(port, conns, window, ms, req, expect) {
  const c = spawnChild(['bench/clients/pipeline.mjs', String(port), String(conns), String(window), String(ms), req, expect]);
  const r = JSON.parse(await firstLine(c, (l) => l, ms + 20_000));
  if (r.bad > 0 || r.errors > 0) throw new Error(`load client saw ${r.bad} wrong replies and ${r.errors} errors`);
  return r.rps;
}

function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

function request(port, line) {
  return new Promise((resolve, reject) => {
    const s = net.connect({ port, host: '127.0.0.1', noDelay: true }, () => s.write(line + '\n'));
    let buf = '';
    s.setEncoding('utf8');
    s.on('data', (d) => {
      buf += d;
      if (buf.includes('\n')) {
        s.destroy();
        resolve(buf.slice(0, buf.indexOf('\n')));
      }
    });
    s.on('error', reject);
  });
}

function admin(port, cmd) {
  return request(port, cmd);
}

/** Tiny pool messages/s, hrmr vs piscina direct, alternating rounds. */
async function throughput(dir, threads, rounds = 3, ms = 4000) {
  const h = await startHrmr(dir, threads);
  const base = spawnChild(['bench/baselines/piscina-server.mjs', String(threads)]);
  const basePort = Number(await firstLine(base, (l) => l));
  const a = [];
  const b = [];
  try {
    await load(h.port, 8, 8, 500, 'TINY', 'OK'); // warm-up
    await load(basePort, 8, 8, 500, 'TINY', 'OK');
    for (let i = 0; i < rounds; i++) {
      a.push(await load(h.port, 16, 16, ms, 'TINY', 'OK'));
      b.push(await load(basePort, 16, 16, ms, 'TINY', 'OK'));
    }
  } finally {
    h.p.kill('SIGKILL');
    base.kill('SIGKILL');
  }
  return { hrmr: median(a), direct: median(b) };
}

/** p50/p99 of a main-thread ping while `burners` pool tasks burn CPU 500 ms each, back to back. */
async function pingUnderBurn(dir, burners, ms = 5000) {
  const h = await startHrmr(dir, burners);
  try {
    let stop = false;
    const burn = async () => {
      const s = net.connect({ port: h.port, host: '127.0.0.1' });
      s.setEncoding('utf8');
      await new Promise((r) => s.once('connect', r));
      while (!stop) {
        s.write('BURN 500\n');
        await new Promise((r) => s.once('data', r));
      }
      s.destroy();
    };
    const burning = Array.from({ length: burners }, burn);
    await new Promise((r) => setTimeout(r, 300));
    const s = net.connect({ port: h.port, host: '127.0.0.1', noDelay: true });
    s.setEncoding('utf8');
    await new Promise((r) => s.once('connect', r));
    const lat = [];
    const end = Date.now() + ms;
    while (Date.now() < end) {
      const t0 = process.hrtime.bigint();
      s.write('PING\n');
      await new Promise((r) => s.once('data', r));
      lat.push(Number(process.hrtime.bigint() - t0) / 1e6);
      await new Promise((r) => setTimeout(r, 2));
    }
    stop = true;
    s.destroy();
    await Promise.all(burning);
    lat.sort((x, y) => x - y);
    return { n: lat.length, p50: lat[Math.floor(lat.length * 0.5)], p99: lat[Math.floor(lat.length * 0.99)] };
  } finally {
    h.p.kill('SIGKILL');
  }
}

/** Worker heap (as seen from a pool route) after each of `reloads` reloads that change the module. */
async function heapAcrossReloads(reloads) {
  const dir = mkdtempSync(join(tmpdir(), 'hrmr-bench-reload-'));
  writeFileSync(join(dir, 'poolbench.mjs'), moduleSource('v0'));
  const h = await startHrmr(dir, 1);
  const samples = [];
  try {
    const heap = async () => Number((await request(h.port, 'HEAP')).split(' ')[0]);
    samples.push([0, await heap()]);
    const t0 = Date.now();
    for (let i = 1; i <= reloads; i++) {
      writeFileSync(join(dir, 'poolbench.mjs'), moduleSource(`v${i}`));
      const r = await admin(h.port, 'RELOAD');
      if (!r.startsWith('OK')) throw new Error(`RELOAD ${i}: ${r}`);
      const reply = await request(h.port, 'HEAP');
      if (!reply.endsWith(` v${i}`)) throw new Error(`after reload ${i} the pool answered ${reply}`);
      if (i === 10 || i % 250 === 0) samples.push([i, Number(reply.split(' ')[0])]);
    }
    const status = JSON.parse((await admin(h.port, 'STATUS')).slice(3));
    return { samples, ms: Date.now() - t0, rss: status.memory.rss, generations: status.pool.generations };
  } finally {
    h.p.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  }
}

export async function run() {
  const dir = mkdtempSync(join(tmpdir(), 'hrmr-bench-pool-'));
  writeFileSync(join(dir, 'poolbench.mjs'), moduleSource('v0'));
  const rows = [];
  try {
    const t = await throughput(dir, 2);
    rows.push({ suite: 'pool', case: 'tiny pool messages, 2 threads, 16 conns x 16 pipelined', unit: 'msg/s', value: t.hrmr, baseline: t.direct, ratio: +(t.hrmr / t.direct).toFixed(2), target: '>= 0.8 of piscina direct' });
    const p = await pingUnderBurn(dir, 1);
    rows.push({ suite: 'pool', case: `main-thread ping while 1 pool task burns CPU (500 ms tasks), ${p.n} pings`, unit: 'ms p99', value: +p.p99.toFixed(2), baseline: +p.p50.toFixed(2), ratio: null, target: 'p99 < 5 ms (baseline column: p50)' });
    const reloads = Number(process.env.HRMR_BENCH_RELOADS ?? 1000);
    const hr = await heapAcrossReloads(reloads);
    const first = hr.samples[0][1];
    const last = hr.samples[hr.samples.length - 1][1];
    rows.push({ suite: 'pool', case: `worker heap after ${reloads} pool-module reloads (${hr.samples.map(([i, v]) => `${i}:${(v / 1e6).toFixed(1)}MB`).join(' ')})`, unit: 'MB', value: +(last / 1e6).toFixed(1), baseline: +(first / 1e6).toFixed(1), ratio: +(last / first).toFixed(2), target: 'bounded' });
    rows.push({ suite: 'pool', case: `${reloads} RELOADs of a pool module (new generation each)`, unit: 'ms/reload', value: +(hr.ms / reloads).toFixed(1), baseline: null, ratio: null, target: '' });
  } finally {
    for (const c of children) c.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  }
  return rows;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const rows = await run();
  console.table(rows);
}
