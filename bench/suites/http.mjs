// SPDX-License-Identifier: LGPL-3.0-or-later
/**
 * HTTP routes suite (the core's HTTP host):
 *  - an HTTP route hello vs the same handler on a plain `node:http` server,
 *    keep-alive (target 0.91) and a new connection per request (0.77; wrk,
 *    50 connections; docs/benchmarks.md, "Targets a new HTTP connection can meet");
 *  - dispatch cost: a request to one of 50 HTTP routes over 10 modules vs
 *    the same request with a single route;
 *  - metrics cost: the keep-alive hello with metrics on (the default) vs
 *    the same server with `--metrics-path off` (target 0.97).
 * Pairs run as duets (both at once, each with its own load; bench/lib/measure.mjs), pinned like the core suite; the ratio is the median of the rounds' ratios.
 */
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { config } from '../lib/config.mjs';
import { withCpu } from '../lib/cpu.mjs';
import { startHrmr } from '../lib/hrmr.mjs';
import { duet, median, pairedRatio } from '../lib/measure.mjs';
import { startPlainServers } from '../lib/plain.mjs';
import { row } from '../lib/rows.mjs';
import { fmt } from '../lib/table.mjs';
import { ensureWrk, runWrk } from '../lib/wrk.mjs';

const here = (p) => fileURLToPath(new URL(p, import.meta.url));
const HELLO = here('../modules/http-route-hello.mjs');
const CONNS = 50;

function load(path, mode) {
  return async (port, s) => {
    const r = await runWrk({ url: `http://127.0.0.1:${port}${path}`, threads: 1, connections: CONNS, durationS: s, headers: mode === 'close' ? ['Connection: close'] : [] });
    return { rps: r.rps, requests: r.requests };
  };
}

function cpuPerRequest(results) {
  return median(results.map((r) => (r.cpuUs === null || !r.requests ? NaN : r.cpuUs / r.requests)));
}

async function pair(name, target, a, b, extra = {}, rounds = undefined) {
  const m = await duet({ rounds, a: (s) => withCpu(a.pid, () => a.load(s)), b: (s) => withCpu(b.pid, () => b.load(s)) });
  const cpu = { value: cpuPerRequest(m.a), baseline: cpuPerRequest(m.b) };
  const note = Number.isFinite(cpu.value) && Number.isFinite(cpu.baseline) ? `CPU/req ${fmt(cpu.value)} vs ${fmt(cpu.baseline)} us` : undefined;
  const r = row({
    suite: 'http',
    case: name,
    unit: 'req/s',
    value: median(m.a.map((x) => x.rps)),
    baseline: median(m.b.map((x) => x.rps)),
    ratio: pairedRatio(m.a, m.b, (x) => x.rps),
    target,
    note,
    samples: { value: m.a.map((x) => Math.round(x.rps)), baseline: m.b.map((x) => Math.round(x.rps)) },
    extra: { serverCpuUsPerRequest: { ...cpu, ratio: pairedRatio(m.a, m.b, (x) => (x.cpuUs === null || !x.requests ? NaN : x.cpuUs / x.requests)) }, connections: CONNS, ...extra },
  });
  console.log(`  ${name}: ${fmt(r.value)} vs ${fmt(r.baseline)} req/s, ratio ${r.ratio.toFixed(3)}${note ? `; ${note}` : ''}`);
  return r;
}

export async function run() {
  ensureWrk();
  const rows = [];
  const stops = [];
  try {
    const one = await startHrmr({ modules: [HELLO] });
    stops.push(one.stop);
    const plain = await startPlainServers();
    stops.push(plain.stop);
    const hrmrSide = (path, mode) => ({ pid: one.proc.pid, load: (s) => load(path, mode)(one.port, s) });
    const plainSide = (mode) => ({ pid: plain.pid, load: (s) => load('/', mode)(plain.ports.http, s) });
    // 0.91 (1 / 1.1, the core suite's keep-alive CPU target seen as requests/s; was 0.97): the same
    // http.Server code in hrmr's process against a clean one (the core suite's `process tax` row) reads
    // 0.92-0.98, and two identical plain servers 0.94-1.07 (`A/A noise`).
    rows.push(await pair('http route hello, keep-alive', 0.91, hrmrSide('/', 'keepalive'), plainSide('keepalive')));
    // 0.77, as the core suite's HTTP hello per new connection (issue 17 asked 0.95, then 0.9): a new
    // connection is peeked in JavaScript before node's parser sees it, and a server that does only that
    // (the core suite's `JS-peek floor` row) reads 0.89-0.96 of plain; docs/benchmarks.md,
    // "Targets a new HTTP connection can meet".
    rows.push(await pair('http route hello, conn/request', 0.77, hrmrSide('/', 'close'), plainSide('close')));

    // hrmr against hrmr: both sides start fresh, so neither carries the
    // other rows' history (a process that has served other traffic pays more
    // per request in node's shared code: the core suite's `process tax` row;
    // docs/benchmarks.md, "pairs of hrmr need the same history on both sides").
    const fresh = async (args = [], modules = [HELLO]) => {
      const h = await startHrmr({ modules, args });
      stops.push(h.stop);
      return h;
    };
    const side = (h, path, mode) => ({ pid: h.proc.pid, load: (s) => load(path, mode)(h.port, s) });

    // Metrics on (every request counted: outcome and latency per route) vs off.
    const on = await fresh();
    const off = await fresh(['--metrics-path', 'off']);
    rows.push(await pair('http route hello, keep-alive, metrics on vs off', 0.97, side(on, '/', 'keepalive'), side(off, '/', 'keepalive')));

    const routesDir = here('../modules/routes50/');
    const many = await fresh([], readdirSync(routesDir).filter((f) => f.endsWith('.mjs')).map((f) => join(routesDir, f)));
    const single = await fresh();
    // A path in the middle of the table, three segments deep; the one-route server answers it through its catch-all.
    const path = '/svc4/r2/item';
    // 9 rounds, not 5: the true difference is 1-2% of the CPU, and two hrmr processes alike read 1.00-1.02
    // of each other, so the median of 5 rounds landed either side of 0.95 (docs/benchmarks.md, "50 routes").
    rows.push(
      await pair(
        '50 http routes over 10 modules vs 1 route',
        0.95,
        side(many, path, 'keepalive'),
        side(single, path, 'keepalive'),
        { routes: 50, modules: 10 },
        Math.max(9, config.rounds),
      ),
    );
  } finally {
    for (const s of stops.reverse()) await s().catch(() => undefined);
  }
  return rows;
}
