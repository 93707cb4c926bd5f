// SPDX-License-Identifier: LGPL-3.0-or-later
/**
 * Memory suite: resident memory (RSS, every thread of a process; with
 * --workers the supervisor and every worker process summed), read from
 * /proc/PID/status, which a loaded machine barely distorts.
 *
 *  - idle: a plain node:http server (reference), then hrmr serving every
 *    bundled module (modules/*.mjs: db, hash, http, lhttp, lhttp-chat,
 *    relay, rhttp; no Redis, SQLite) with --threads 1 and with the default
 *    thread count (4): targets 80 and 100 MiB (issue 26).
 *  - after each service's load, on the --threads 1 server, in turn: static
 *    files (GET), hash (scrypt on the pool, digests on the main thread), relay
 *    (produce, then produce + consume pairs, memory store), db (SQLite queries
 *    on the pool), lhttp (WebSockets opened, a publish to all, closed).
 *    Reported, not checked.
 *  - --workers 2 (--threads 1): each worker process's RSS against the single
 *    process's, target 1.2 (a worker is a server process plus its hang
 *    watchdog thread, ~9 MiB); the supervisor's RSS, reported.
 *
 * Each figure is read BENCH_MEMORY_SETTLE_MS (10,000) after start-up or the
 * load, when V8's memory reducer has shrunk the heaps (earlier reads are
 * ~9 MiB higher per process).
 *
 * Run alone: node bench/run.mjs memory
 */
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ROOT } from '../lib/config.mjs';
import { collect, jsonLines, spawnTracked, stop, waitForLine } from '../lib/proc.mjs';
import { row } from '../lib/rows.mjs';

const BIN = join(ROOT, 'bin', 'hrmr.mjs');
const LOAD = fileURLToPath(new URL('../lib/relay-load.mjs', import.meta.url));
// At rest: V8's memory reducer shrinks the heaps some 8 s after start-up (or a burst): 76 -> 67 MiB idle.
const SETTLE_MS = Number(process.env.BENCH_MEMORY_SETTLE_MS ?? 10_000);
const TARGET = { idleThreads1: 80, idleDefault: 100, perWorker: 1.2 };

const mib = (kib) => Math.round((kib / 1024) * 10) / 10;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function rssKiB(pid) {
  try {
    return Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? NaN);
  } catch {
    return 0;
  }
}

/** `pid` and its descendants (the supervisor's worker processes). */
function tree(pid) {
  const out = [pid];
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    let kids = '';
    try {
      kids = readFileSync(`/proc/${pid}/task/${tid}/children`, 'utf8');
    } catch {
      continue;
    }
    for (const k of kids.split(/\s+/).filter(Boolean)) out.push(...tree(Number(k)));
  }
  return out;
}

const treeKiB = (pid) => tree(pid).reduce((s, p) => s + rssKiB(p), 0);

/** The bundled modules, copied into a folder inside the repo (their npm imports resolve from its node_modules). */
function bundledModules() {
  const src = join(ROOT, 'modules');
  const names = readdirSync(src).filter((f) => /^[^.]+\.mjs(\.map)?$/.test(f));
  if (!names.some((f) => f.endsWith('.mjs'))) throw new Error('modules/ is empty: build first (npm run build)');
  mkdirSync(join(ROOT, '.tmp'), { recursive: true });
  const dir = mkdtempSync(join(ROOT, '.tmp', 'bench-memory-'));
  for (const f of names) copyFileSync(join(src, f), join(dir, f));
  return { dir, count: names.filter((f) => f.endsWith('.mjs')).length };
}

async function startHrmr(dir, args, cwd) {
  const proc = spawnTracked(process.execPath, [BIN, '--port', '0', '--host', '127.0.0.1', '--modules', dir, '--log-level', 'info', ...args], { cwd });
  const l = await waitForLine(proc, (x) => x.msg === 'listening', 60_000, 'hrmr');
  jsonLines(proc.stdout, () => undefined);
  return { port: l.port, pid: proc.pid, modules: l.modules, stop: () => stop(proc, 5000) };
}

async function startPlain() {
  const code = `const s = require('node:http').createServer((q, r) => r.end('hello')); s.listen(0, '127.0.0.1', () => console.log(JSON.stringify({ port: s.address().port })));`;
  const proc = spawnTracked(process.execPath, ['-e', code]);
  const l = await waitForLine(proc, (x) => typeof x.port === 'number', 10_000, 'plain server');
  return { port: l.port, pid: proc.pid, stop: () => stop(proc) };
}

/** `n` keep-alive HTTP requests over `conns` connections, in the bench process. */
async function httpLoad(port, { method = 'GET', path, body = null, headers = {}, n, conns = 20 }) {
  const agent = new http.Agent({ keepAlive: true, maxSockets: conns });
  let left = n;
  let bad = 0;
  const one = () =>
    new Promise((resolve) => {
      const req = http.request({ host: '127.0.0.1', port, method, path, agent, headers: body === null ? headers : { ...headers, 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } }, (res) => {
        if ((res.statusCode ?? 0) >= 400) bad++;
        res.resume();
        res.on('end', resolve);
        res.on('error', resolve);
      });
      req.on('error', () => (bad++, resolve()));
      req.end(body ?? undefined);
    });
  await Promise.all(
    Array.from({ length: conns }, async () => {
      while (left-- > 0) await one();
    }),
  );
  agent.destroy();
  return bad;
}

/** `lines` lines on each of `conns` line connections, every reply read. */
async function lineLoad(port, line, { lines, conns }) {
  await Promise.all(
    Array.from(
      { length: conns },
      () =>
        new Promise((resolve, reject) => {
          const s = net.connect(port, '127.0.0.1');
          let got = 0;
          s.setEncoding('utf8');
          s.on('data', (d) => {
            got += d.split('\n').length - 1;
            if (got >= lines) s.end(resolve);
          });
          s.on('error', reject);
          s.on('connect', () => s.write(`${line}\n`.repeat(lines)));
        }),
    ),
  );
}

async function relayLoad(o) {
  const child = spawnTracked(process.execPath, [LOAD, JSON.stringify(o)]);
  const out = collect(child);
  await child.exited;
  const r = JSON.parse(out.stdout.trim().split('\n').pop() || '{}');
  if (r.error) throw new Error(`relay load (${o.mode}): ${r.error}`);
  return r;
}

async function lhttpLoad(port, n) {
  const { WebSocket } = await import('ws');
  const sockets = await Promise.all(
    Array.from(
      { length: n },
      () =>
        new Promise((resolve, reject) => {
          const ws = new WebSocket(`ws://127.0.0.1:${port}/lhttp`);
          ws.once('open', () => resolve(ws));
          ws.once('error', reject);
        }),
    ),
  );
  // Each subscribes, then one publish reaches all of them.
  const got = sockets.map((ws) => new Promise((resolve) => ws.on('message', (d) => String(d).includes('hello-all') && resolve())));
  for (const ws of sockets) ws.send('LHTTP/1.0 sub\r\nsubscribe:all\r\n\r\n');
  await sleep(300);
  sockets[0].send('LHTTP/1.0 pub\r\npublish:all\r\n\r\nhello-all');
  await Promise.race([Promise.all(got), sleep(3000)]);
  for (const ws of sockets) ws.close();
  await sleep(300);
}

export async function run({ log = console.log } = {}) {
  const rows = [];
  const { dir, count } = bundledModules();
  const cwd = mkdtempSync(join(ROOT, '.tmp', 'bench-memory-cwd-'));
  const started = [];
  const measure = async (srv) => {
    await sleep(SETTLE_MS);
    return treeKiB(srv.pid);
  };
  try {
    const plain = await startPlain();
    started.push(plain);
    const plainKiB = await measure(plain);
    await plain.stop();
    rows.push(row({ case: 'idle RSS: plain node:http server', unit: 'MiB', value: mib(plainKiB), target: 'reference', better: 'lower' }));

    const def = await startHrmr(dir, [], cwd);
    started.push(def);
    const defKiB = await measure(def);
    await def.stop();
    rows.push(row({ case: `idle RSS: ${count} bundled modules, default --threads (4)`, unit: 'MiB', value: mib(defKiB), target: TARGET.idleDefault, better: 'lower', note: `plain node:http ${mib(plainKiB)} MiB` }));

    const one = await startHrmr(dir, ['--threads', '1'], cwd);
    started.push(one);
    const oneKiB = await measure(one);
    rows.push(row({ case: `idle RSS: ${count} bundled modules, --threads 1`, unit: 'MiB', value: mib(oneKiB), target: TARGET.idleThreads1, better: 'lower', note: `plain node:http ${mib(plainKiB)} MiB` }));

    // Each service's load in turn on the same server; RSS after each.
    const p = one.port;
    const loads = [
      ['static files (2,000 GETs)', () => httpLoad(p, { path: '/', n: 2000 })],
      ['hash (40 scrypt + 4,000 sha256 lines)', async () => {
        await lineLoad(p, 'HASH scrypt pw', { lines: 10, conns: 4 });
        await lineLoad(p, 'HASH sha256 abc', { lines: 1000, conns: 4 });
      }],
      ['relay (produce, then pairs, 2 s each)', async () => {
        await relayLoad({ mode: 'produce', port: p, conns: 50, durationMs: 2000 });
        await relayLoad({ mode: 'pairs', port: p, conns: 50, durationMs: 2000 });
      }],
      ['db (2,000 SQLite queries)', () => httpLoad(p, { method: 'POST', path: '/db/query', body: JSON.stringify({ sql: 'SELECT 1 AS x' }), n: 2000 })],
      ['lhttp (200 WebSockets, one publish to all)', () => lhttpLoad(p, 200)],
    ];
    for (const [what, fn] of loads) {
      try {
        await fn();
        const kib = await measure(one);
        rows.push(row({ case: `RSS after ${what}, --threads 1`, unit: 'MiB', value: mib(kib), baseline: mib(oneKiB), target: 'reported, not checked', better: 'lower', note: 'baseline: the same server idle before any load; loads run one after another' }));
      } catch (err) {
        log(`memory: ${what}: ${err?.message ?? err}`);
      }
    }
    await one.stop();

    // --workers 2: each worker process against the single process above (both --threads 1).
    const w2 = await startHrmr(dir, ['--threads', '1', '--workers', '2'], cwd);
    started.push(w2);
    await sleep(SETTLE_MS);
    const workers = tree(w2.pid).filter((x) => x !== w2.pid);
    const perWorker = workers.reduce((sum, x) => sum + rssKiB(x), 0) / Math.max(1, workers.length);
    const supervisor = rssKiB(w2.pid);
    await w2.stop();
    rows.push(row({ case: 'idle RSS per --workers process (--workers 2, --threads 1)', unit: 'MiB', value: mib(perWorker), baseline: mib(oneKiB), target: TARGET.perWorker, better: 'lower', note: `baseline: one process without --workers; a worker adds its hang watchdog thread; ${workers.length} workers` }));
    rows.push(row({ case: 'idle RSS of the --workers supervisor', unit: 'MiB', value: mib(supervisor), target: 'reported, not checked', better: 'lower', note: `--workers 2 in all: ${mib(supervisor + perWorker * workers.length)} MiB` }));
  } finally {
    await Promise.all(started.map((s) => s.stop()));
    rmSync(dir, { recursive: true, force: true });
    rmSync(cwd, { recursive: true, force: true });
  }
  return rows;
}
