// SPDX-License-Identifier: LGPL-3.0-or-later
// Watch-mode latency: time from writing a module source to a client getting
// the new reply, through chokidar, esbuild (incremental) and the reload, for
// a main-thread route and for a pool route in use (clients hammering it with
// new connections during the saves: none may get a 503, --watch implies
// graceful reloads). Also: save -> type error in the log (background
// type-check). Two modules, one route each (main.ts: `M`, pool.ts: `P`), so
// each save swaps just the route measured. The type-checker is on, as in
// `hrmr --watch`.
// Run alone: node bench/suites/watch.mjs [edits]
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { BIN } from '../lib/hrmr.mjs';
import { ROOT } from '../lib/config.mjs';
import { jsonLines, spawnTracked, stop } from '../lib/proc.mjs';
import { row } from '../lib/rows.mjs';

const API = JSON.stringify(join(ROOT, 'shared', 'index.ts'));
/**
 * A module with one route, `M` on the main thread or `P` on the pool, answering
 * `reply`; `bad` makes the handler return a number (a type error).
 */
const source = (prefix, reply, bad = false) =>
  [
    `import { defineModule } from ${API};`,
    'export default defineModule({',
    `  routes: [{ prefix: '${prefix} ', ${prefix === 'P' ? 'pool: true, ' : ''}message: () => ${bad ? '404' : JSON.stringify(`${reply}\n`)} }],`,
    '});',
    '',
  ].join('\n');

/** One request on a new connection; resolves with the whole reply ('' on error). */
function ask(port, line) {
  return new Promise((resolve) => {
    const s = net.connect({ port, host: '127.0.0.1' });
    let out = '';
    const t = setTimeout(() => s.destroy(), 10_000);
    s.setEncoding('utf8');
    s.on('connect', () => s.end(`${line}\n`));
    s.on('data', (d) => (out += d));
    s.on('error', () => undefined);
    s.on('close', () => {
      clearTimeout(t);
      resolve(out);
    });
  });
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const pct = (sorted, p) => (sorted.length ? sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] : NaN);
const r1 = (x) => Math.round(x * 10) / 10;

/** Targets from issue 15: save -> live under 100 ms for both routes, no 503 in watch mode, type errors within a couple of seconds. */
const TARGET_MS = 100;
const TYPE_TARGET_MS = 2000;

export async function run({ edits = 20, gapMs = 250, typeEdits = 4 } = {}) {
  const m = await measure({ edits, gapMs, typeEdits });
  const rows = [];
  for (const [key, label] of [
    ['main', 'main-thread route'],
    ['pool', `pool route in use (${m.loadClients} clients, new connection per request)`],
  ]) {
    const s = m[key];
    rows.push(
      row({ suite: 'watch', case: `save -> new reply, ${label}, median of ${s.samples.length}`, unit: 'ms', value: s.median, target: TARGET_MS, better: 'lower', samples: s.samples, extra: { server_logged_median_ms: s.serverMedian } }),
      row({ suite: 'watch', case: `save -> new reply, ${label}, p95`, unit: 'ms', value: s.p95, target: TARGET_MS, better: 'lower', note: `max ${s.max} ms` }),
    );
  }
  rows.push(
    row({ suite: 'watch', case: `503 replies to the pool-route load during ${m.pool.samples.length} saves`, unit: 'replies', value: m.load.status503, target: 0, better: 'lower', note: `${m.load.total} requests, ${m.load.other} neither a version nor a 503${m.load.examples?.length ? ` (${m.load.examples.join(', ')})` : ''}` }),
    row({ suite: 'watch', case: `pool-route requests answered neither by a version nor a 503 during ${m.pool.samples.length} saves`, unit: 'replies', value: m.load.other, target: 0, better: 'lower', note: m.load.examples?.length ? `e.g. ${m.load.examples.join(', ')}` : 'every request answered by a version (or a 503)' }),
    row({ suite: 'watch', case: `save -> type error in the log (background check), median of ${m.type.samples.length}`, unit: 'ms', value: m.type.median, target: TYPE_TARGET_MS, better: 'lower', samples: m.type.samples }),
  );
  return rows;
}

/** Starts `hrmr --watch` on a temp folder and edits its module; returns the latencies. */
export async function measure({ edits = 20, gapMs = 250, typeEdits = 4, loadClients = 4 } = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'hrmr-bench-watch-'));
  const src = join(dir, 'modules_src');
  const out = join(dir, 'modules');
  mkdirSync(src);
  mkdirSync(out);
  const files = { M: join(src, 'main.ts'), P: join(src, 'pool.ts') };
  writeFileSync(files.M, source('M', 'm0'));
  writeFileSync(files.P, source('P', 'p0'));
  // Not pinned: a developer's machine runs the server, its type-checker thread and the editor side by side.
  const proc = spawnTracked(process.execPath, [BIN, '--port', '0', '--modules', out, '--watch', '--src', src, '--log-level', 'info', '--threads', '2', '--no-pretty'], { cwd: dir });
  proc.stderr.resume();
  const logs = [];
  let notify = () => undefined;
  jsonLines(proc.stdout, (l) => {
    logs.push(l);
    notify();
  });
  const waitLog = async (pred, ms = 15_000, from = 0) => {
    const deadline = Date.now() + ms;
    while (Date.now() < deadline) {
      const found = logs.slice(from).find(pred);
      if (found) return found;
      await new Promise((r) => {
        notify = r;
        setTimeout(r, 20);
      });
    }
    throw new Error('hrmr did not log the expected line');
  };
  /** Saves the module of route `prefix` answering `reply` and polls until it does; the ms from the write to that reply. */
  const saveAndWait = async (prefix, reply) => {
    const [line, want] = [`${prefix} x`, `${reply}\n`];
    const t0 = performance.now();
    writeFileSync(files[prefix], source(prefix, reply));
    for (;;) {
      if ((await ask(port, line)) === want) return performance.now() - t0;
      if (performance.now() - t0 > 10_000) throw new Error(`${line} did not answer ${JSON.stringify(want)} within 10 s of the save`);
    }
  };
  let port = 0;
  const load = { total: 0, status503: 0, other: 0, examples: [] };
  let loading = false;
  try {
    port = (await waitLog((l) => l.msg === 'listening')).port;
    await waitLog((l) => l.msg === 'watching module sources');
    // The first type-check loads the standard library: let it finish before timing anything.
    await sleep(3000);

    let v = 0;
    const main = [];
    for (let i = 0; i < edits; i++) {
      await sleep(gapMs);
      v++;
      main.push(await saveAndWait('M', `m${v}`));
    }
    const saved = (l) => l.watch === 'reloaded' && l.changed?.length > 0;
    const mainLogged = logs.filter(saved).map((l) => l.ms);
    v = 0;

    // Pool route in use: clients open a new connection per request, all through the saves.
    loading = true;
    const deadline = Date.now() + 90_000;
    const loaders = Array.from({ length: loadClients }, async () => {
      while (loading && Date.now() < deadline) {
        const r = await ask(port, 'P x');
        load.total++;
        if (r.startsWith('HTTP/1.1 503')) load.status503++;
        else if (!/^p\d+\n$/.test(r)) {
          load.other++;
          if (load.examples.length < 3) load.examples.push(JSON.stringify(r.slice(0, 60)));
        }
      }
    });
    await sleep(500);
    const pool = [];
    const before = logs.length;
    for (let i = 0; i < edits; i++) {
      await sleep(gapMs);
      v++;
      pool.push(await saveAndWait('P', `p${v}`));
    }
    loading = false;
    await Promise.all(loaders);
    const poolLogged = logs.slice(before).filter(saved).map((l) => l.ms);

    // Type errors: save a handler returning a number, time until the located error is logged; then fix it.
    const type = [];
    for (let i = 0; i < typeEdits; i++) {
      await sleep(gapMs);
      v++;
      const from = logs.length;
      const t0 = performance.now();
      writeFileSync(files.M, source('M', `m${v}`, true));
      await waitLog((l) => typeof l.msg === 'string' && /type error in main: .*main\.ts:\d+:\d+: error TS/.test(l.msg), 15_000, from);
      type.push(performance.now() - t0);
      v++;
      const fixed = logs.length;
      writeFileSync(files.M, source('M', `m${v}`));
      await waitLog((l) => l.msg === 'type errors fixed in main', 15_000, fixed);
    }

    const stats = (samples, logged) => {
      const sorted = [...samples].sort((a, b) => a - b);
      const ls = [...logged].sort((a, b) => a - b);
      return { samples: samples.map(r1), median: r1(pct(sorted, 50)), p95: r1(pct(sorted, 95)), max: r1(sorted.at(-1)), serverMedian: ls.length ? pct(ls, 50) : null };
    };
    return { suite: 'watch', loadClients, main: stats(main, mainLogged), pool: stats(pool, poolLogged), type: stats(type, []), load };
  } finally {
    loading = false;
    await stop(proc);
    rmSync(dir, { recursive: true, force: true });
  }
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const edits = Number(process.argv[2] ?? 20);
  const r = await measure({ edits });
  for (const k of ['main', 'pool', 'type']) process.stdout.write(`${k}: median ${r[k].median} ms, p95 ${r[k].p95} ms, max ${r[k].max} ms (server-logged median ${r[k].serverMedian} ms)\n`);
  process.stdout.write(`pool-route load: ${r.load.total} requests, ${r.load.status503} got 503, ${r.load.other} other\n`);
}
