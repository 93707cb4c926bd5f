#!/usr/bin/env node
// SPDX-License-Identifier: LGPL-3.0-or-later
/**
 * Bench runner: `node bench/run.mjs [suite...]` (or `npm run bench`, which
 * builds first). Runs every bench/suites/*.mjs in a fixed order (core,
 * static, pool, watch, then the rest by name) or only the named ones. Each
 * suite exports `async function run()` returning rows (bench/lib/rows.mjs).
 * A failing suite (or one that measured nothing) is reported and the run
 * goes on. The exit status is 1 if any suite failed or any target was missed
 * (a row whose value is NaN or whose baseline is 0 counts as missed);
 * BENCH_LAX=1 keeps the exit status 0 on missed targets, for exploratory
 * runs (suite failures still fail). A suite with a missed target runs a
 * second time and the missed rows are taken from that run (a row fails
 * when it misses in both; bench/lib/confirm.mjs); BENCH_CONFIRM=0 skips it.
 * Results go to bench/results/latest.json (this run) and
 * bench/results/<suite>.json (the latest run of each suite), from which
 * `node scripts/bench-table.mjs` writes the README's figures table.
 */
import { mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { basename, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { config, pinning, ROOT } from './lib/config.mjs';
import { killAllSync, stopAll } from './lib/proc.mjs';
import { mergeConfirmed, suitesToConfirm } from './lib/confirm.mjs';
import { normalizeRows } from './lib/rows.mjs';
import { renderTable } from './lib/table.mjs';

// Every section and suite names the modules it serves (bundled ones through --modules where wanted): none come from the package besides.
process.env.HRMR_BUNDLED ??= 'none';

const ORDER = ['core', 'static', 'pool', 'watch'];
// BENCH_SUITES_DIR / BENCH_RESULTS_DIR: other folders (the runner's own tests use them).
const SUITES_DIR = process.env.BENCH_SUITES_DIR || fileURLToPath(new URL('./suites/', import.meta.url));
const RESULTS_DIR = process.env.BENCH_RESULTS_DIR || join(ROOT, 'bench', 'results');
const RESULTS = join(RESULTS_DIR, 'latest.json');

function discover() {
  const names = readdirSync(SUITES_DIR)
    .filter((f) => f.endsWith('.mjs'))
    .map((f) => basename(f, '.mjs'));
  const rank = (n) => (ORDER.includes(n) ? ORDER.indexOf(n) : ORDER.length);
  return names.sort((a, b) => rank(a) - rank(b) || a.localeCompare(b));
}

process.on('exit', killAllSync);
for (const sig of ['SIGINT', 'SIGTERM']) {
  process.on(sig, () => {
    process.stderr.write(`\nbench: ${sig}, stopping\n`);
    killAllSync();
    process.exit(130);
  });
}

const available = discover();
const asked = process.argv.slice(2).filter((a) => !a.startsWith('-'));
const unknown = asked.filter((n) => !available.includes(n));
if (unknown.length > 0) {
  process.stderr.write(`bench: unknown suite(s) ${unknown.join(', ')}; available: ${available.join(', ')}\n`);
  process.exit(2);
}
const selected = asked.length > 0 ? available.filter((n) => asked.includes(n)) : available;

const pin = pinning();
console.log(`hrmr bench: node ${process.version}, ${os.availableParallelism()} CPUs (${os.cpus()[0]?.model ?? '?'}), ` + `${pin ? 'servers pinned to CPU 0, load to CPU 1' : 'no CPU pinning'}; ${config.rounds} rounds x ${config.durationS} s, warm-up ${config.warmupS} s`);

// The machine's load when the run starts: a busy machine explains poor figures.
const loadAtStart = os.loadavg().map((x) => Math.round(x * 100) / 100);
const allRows = [];
const failures = [];
const timings = {};
const t0 = performance.now();

/** Runs one suite: its rows (normalized), or the failure it ended with. */
async function runSuite(name) {
  const started = performance.now();
  let rows = [];
  let failure = null;
  try {
    const mod = await import(pathToFileURL(join(SUITES_DIR, `${name}.mjs`)).href);
    if (typeof mod.run !== 'function') throw new Error('suite does not export run()');
    rows = normalizeRows(name, await mod.run());
    if (rows.length === 0) throw new Error('the suite returned no rows (nothing was measured)');
  } catch (err) {
    rows = normalizeRows(name, err?.rows);
    failure = { suite: name, error: err?.message ?? String(err) };
    console.log(`suite ${name} FAILED: ${err?.stack ?? err}`);
  } finally {
    // Whatever a suite left running through bench/lib goes now.
    await stopAll();
  }
  const seconds = Math.round((performance.now() - started) / 100) / 10;
  if (rows.length > 0) console.log('\n' + renderTable(rows));
  console.log(`(${name}: ${seconds} s)`);
  return { rows, failure, seconds };
}

for (const name of selected) {
  console.log(`\n== ${name} ==`);
  const r = await runSuite(name);
  timings[name] = r.seconds;
  if (r.failure) failures.push(r.failure);
  allRows.push(...r.rows);
}

// A miss is confirmed by a second run of its suite (bench/lib/confirm.mjs); BENCH_CONFIRM=0: no second run.
const confirm = process.env.BENCH_CONFIRM !== '0';
const confirmed = confirm ? suitesToConfirm(allRows, failures) : [];
for (const name of confirmed) {
  const misses = allRows.filter((r) => r.suite === name && r.pass === false).map((r) => r.case);
  console.log(`\n== ${name}, second run (missed: ${misses.join('; ')}) ==`);
  const r = await runSuite(name);
  timings[name] = Math.round((timings[name] + r.seconds) * 10) / 10;
  // A second run that fails keeps the first run's rows: their misses stand.
  if (r.failure) {
    console.log(`the second run of ${name} failed; the first run's rows stand`);
    continue;
  }
  const merged = mergeConfirmed(allRows.filter((x) => x.suite === name), r.rows);
  for (let i = 0, j = 0; i < allRows.length; i++) if (allRows[i].suite === name) allRows[i] = merged[j++];
}

const total = Math.round((performance.now() - t0) / 1000);
console.log(`\n== summary (${total} s) ==`);
if (allRows.length > 0) console.log(renderTable(allRows, { withSuite: true }));
for (const f of failures) console.log(`FAILED ${f.suite}: ${f.error.split('\n')[0]}`);
const missed = allRows.filter((r) => r.pass === false);
if (missed.length > 0) console.log(`MISSED targets (${missed.length}): ${missed.map((r) => `${r.suite}/${r.case}`).join(', ')}`);
const unchecked = allRows.filter((r) => r.pass === null);
if (unchecked.length > 0) console.log(`rows without a checked target: ${unchecked.map((r) => `${r.suite}/${r.case}`).join(', ')}`);
const lax = process.env.BENCH_LAX === '1';

mkdirSync(RESULTS_DIR, { recursive: true });
const meta = {
  date: new Date().toISOString(),
  node: process.version,
  platform: `${os.platform()} ${os.release()}`,
  cpus: os.availableParallelism(),
  cpuModel: os.cpus()[0]?.model ?? null,
  pinned: pin !== null,
  settings: config,
  confirm,
  confirmed,
  lax,
  loadAvgAtStart: loadAtStart,
  loadAvgAtEnd: os.loadavg().map((x) => Math.round(x * 100) / 100),
};
writeFileSync(RESULTS, JSON.stringify({ ...meta, suites: selected, seconds: timings, totalSeconds: total, rows: allRows, failures }, null, 2) + '\n');
for (const name of selected) {
  const file = join(RESULTS_DIR, `${name}.json`);
  writeFileSync(file, JSON.stringify({ ...meta, suite: name, seconds: timings[name], rows: allRows.filter((r) => r.suite === name), failures: failures.filter((f) => f.suite === name) }, null, 2) + '\n');
}
console.log(`results written to ${RESULTS} and bench/results/<suite>.json (README table: node scripts/bench-table.mjs)`);
const failed = failures.length > 0 || (!lax && missed.length > 0);
if (missed.length > 0) console.log(lax ? 'BENCH_LAX=1: missed targets do not fail this run' : 'bench FAILED: targets missed (BENCH_LAX=1 for an exploratory run)');
process.exitCode = failed ? 1 : 0;
