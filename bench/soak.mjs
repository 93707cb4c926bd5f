#!/usr/bin/env node
// SPDX-License-Identifier: LGPL-3.0-or-later
/**
 * The soak suite: `npm run soak` (builds first) or `node bench/soak.mjs
 * [section...]`. Sections: slow, garbage, reload, memory, scale, rate (all
 * by default, in that order). Everything runs on loopback, every loop is
 * bounded, every child is killed at the end (also on failure or a signal).
 * Prints one table; writes bench/results/soak.json; exits 1 if a
 * correctness check failed (a crash, a wrong or lost reply, memory not back
 * to baseline). Performance figures are reported, never fatal.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { killAllSync, ROOT } from './soak/proc.mjs';
import { renderTable, row } from './soak/table.mjs';

// Every section and suite names the modules it serves (bundled ones through --modules where wanted): none come from the package besides.
process.env.HRMR_BUNDLED ??= 'none';
const SECTIONS = ['slow', 'garbage', 'reload', 'memory', 'scale', 'rate'];
/** Hard cap per section and for the whole run: nothing hangs. */
const SECTION_CAP_MS = { slow: 90_000, garbage: 120_000, reload: 150_000, memory: 240_000, scale: 150_000, rate: 60_000 };
SECTIONS.push('workers'); SECTION_CAP_MS.workers = 300_000; // --workers: bench/soak/sections/workers.mjs
const RUN_CAP_MS = 9.5 * 60_000;

process.on('exit', killAllSync);
for (const sig of ['SIGINT', 'SIGTERM']) {
  process.on(sig, () => {
    process.stderr.write(`\nsoak: ${sig}, stopping\n`);
    killAllSync();
    process.exit(130);
  });
}
const runTimer = setTimeout(() => {
  process.stderr.write('soak: whole-run time cap reached, stopping\n');
  killAllSync();
  process.exit(1);
}, RUN_CAP_MS);
runTimer.unref();

const asked = process.argv.slice(2).filter((a) => !a.startsWith('-'));
const unknown = asked.filter((s) => !SECTIONS.includes(s));
if (unknown.length) {
  process.stderr.write(`soak: unknown section(s) ${unknown.join(', ')}; available: ${SECTIONS.join(', ')}\n`);
  process.exit(2);
}
const selected = asked.length ? SECTIONS.filter((s) => asked.includes(s)) : SECTIONS;

console.log(`hrmr soak: node ${process.version}, ${os.availableParallelism()} CPUs, sections: ${selected.join(', ')}`);
const rows = [];
const timings = {};
const t0 = performance.now();
for (const name of selected) {
  console.log(`\n== ${name} ==`);
  const started = performance.now();
  let capTimer;
  try {
    const mod = await import(pathToFileURL(join(ROOT, 'bench', 'soak', 'sections', `${name}.mjs`)).href);
    const cap = new Promise((_, reject) => {
      capTimer = setTimeout(() => reject(new Error(`section over its ${SECTION_CAP_MS[name] / 1000} s cap`)), SECTION_CAP_MS[name]);
    });
    const got = await Promise.race([mod.run((msg) => console.log(`  ${msg}`)), cap]);
    rows.push(...got);
  } catch (err) {
    console.log(`section ${name} FAILED: ${err?.stack ?? err}`);
    rows.push(...(err?.rows ?? []), row(name, 'section completed', 'no', { check: 'FAIL', note: String(err?.message ?? err).slice(0, 120) }));
  } finally {
    clearTimeout(capTimer);
    killAllSync();
  }
  timings[name] = Math.round((performance.now() - started) / 100) / 10;
  console.log(`  (${name}: ${timings[name]} s)`);
}
const totalS = Math.round((performance.now() - t0) / 1000);

console.log('\n' + renderTable(rows));
const failed = rows.filter((r) => r.check === 'FAIL');
const warned = rows.filter((r) => r.check === 'WARN');
console.log(`\nsoak: ${totalS} s, ${failed.length} failed check(s), ${warned.length} performance warning(s)`);

mkdirSync(join(ROOT, 'bench', 'results'), { recursive: true });
writeFileSync(
  join(ROOT, 'bench', 'results', 'soak.json'),
  JSON.stringify({ date: new Date().toISOString(), node: process.version, cpus: os.availableParallelism(), totalS, timings, ok: failed.length === 0, rows }, null, 2) + '\n',
);
process.exitCode = failed.length ? 1 : 0;
// Sections may leave sockets or timers behind on failure: do not wait on them.
setTimeout(() => process.exit(), 100).unref();
