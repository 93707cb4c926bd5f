// SPDX-License-Identifier: LGPL-3.0-or-later
// The bench runner enforces its targets: a missed target (or a value that is
// NaN, or a baseline of 0) is MISSED and makes `node bench/run.mjs` exit 1
// (BENCH_LAX=1 for exploratory runs); a suite that measures nothing fails;
// the README table generator marks rows from their checked targets.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT, tempDir } from './helpers/hrmr.ts';
// @ts-expect-error plain JavaScript bench library, no types
import { row } from '../bench/lib/rows.mjs';
// @ts-expect-error plain JavaScript bench library, no types
import { renderTable } from '../bench/lib/table.mjs';
// @ts-expect-error plain JavaScript bench library, no types
import { mergeConfirmed } from '../bench/lib/confirm.mjs';
// @ts-expect-error plain JavaScript script, no types
import { renderSuite, splice } from '../scripts/bench-table.mjs';

interface Row {
  pass: boolean | null;
  ratio: number | null;
}
const mk = (o: Record<string, unknown>): Row => row({ suite: 's', case: 'c', ...o }) as Row;

test('rows: a numeric target is checked; NaN, a missing value or a zero baseline is missed, never blank', () => {
  assert.equal(mk({ value: 10, baseline: 10, target: 0.9 }).pass, true);
  assert.equal(mk({ value: 8, baseline: 10, target: 0.9 }).pass, false);
  assert.equal(mk({ value: 3, target: 5, better: 'lower' }).pass, true);
  assert.equal(mk({ value: 6, target: 5, better: 'lower' }).pass, false);
  assert.equal(mk({ value: NaN, baseline: 10, target: 0.9 }).pass, false);
  assert.equal(mk({ value: undefined, target: 5, better: 'lower' }).pass, false);
  assert.equal(mk({ value: 10, baseline: 0, target: 0.9 }).pass, false);
  assert.ok(Number.isNaN(mk({ value: 10, baseline: 0, target: 0.9 }).ratio));
  // A suite cannot claim a pass on a value it did not measure.
  assert.equal(mk({ value: NaN, target: 5, pass: true }).pass, false);
  assert.equal(mk({ value: 1 }).pass, null, 'no target: nothing to check');
  const table = renderTable([mk({ value: NaN, baseline: 10, target: 0.9 }), mk({ value: 10, baseline: 0, target: 0.9 })]) as string;
  assert.equal(table.split('\n').filter((l) => / MISSED$/.test(l)).length, 2, table);
});

function runBench(suites: Record<string, string>, names: string[], env: Record<string, string> = {}): Promise<{ code: number; out: string; results: string }> {
  const dir = tempDir('hrmr-bench-runner-');
  const sdir = join(dir, 'suites');
  const rdir = join(dir, 'results');
  mkdirSync(sdir);
  const lib = JSON.stringify(join(ROOT, 'bench', 'lib', 'rows.mjs'));
  for (const [n, body] of Object.entries(suites)) writeFileSync(join(sdir, `${n}.mjs`), `import { row } from ${lib};\nexport async function run() { ${body} }\n`);
  return new Promise((resolve) => {
    execFile(process.execPath, [join(ROOT, 'bench', 'run.mjs'), ...names], { cwd: ROOT, timeout: 60_000, env: { ...process.env, BENCH_SUITES_DIR: sdir, BENCH_RESULTS_DIR: rdir, BENCH_NO_PIN: '1', BENCH_LAX: '', ...env } }, (err, stdout, stderr) => {
      let results = '';
      try {
        results = readFileSync(join(rdir, 'latest.json'), 'utf8');
      } catch {
        // none written
      }
      rmSync(dir, { recursive: true, force: true });
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, out: stdout + stderr, results });
    });
  });
}

const SUITES = {
  good: `return [row({ case: 'fast', unit: 'req/s', value: 100, baseline: 100, target: 0.9 })];`,
  slow: `return [row({ case: 'slow', unit: 'req/s', value: 50, baseline: 100, target: 0.9 })];`,
  nan: `return [row({ case: 'nan', unit: 'ms', value: NaN, target: 5, better: 'lower' })];`,
  zero: `return [row({ case: 'zero', unit: 'req/s', value: 10, baseline: 0, target: 0.9 })];`,
  empty: `return [];`,
  // Misses on its first run only (the module stays loaded between runs): a miss that noise made.
  flaky: `globalThis.flakyRuns = (globalThis.flakyRuns ?? 0) + 1; return [row({ case: 'flaky', unit: 'req/s', value: globalThis.flakyRuns === 1 ? 80 : 96, baseline: 100, target: 0.9 }), row({ case: 'steady', unit: 'req/s', value: 99 + globalThis.flakyRuns, baseline: 100, target: 0.9 })];`,
};

test('bench runner: all targets met exits 0', async () => {
  const r = await runBench(SUITES, ['good']);
  assert.equal(r.code, 0, r.out);
  assert.doesNotMatch(r.out, /MISSED/);
});

test('bench runner: a missed target, a NaN value or a zero baseline prints MISSED and exits 1; BENCH_LAX=1 exits 0', async () => {
  for (const name of ['slow', 'nan', 'zero']) {
    const r = await runBench(SUITES, ['good', name]);
    assert.equal(r.code, 1, `${name}: ${r.out}`);
    assert.match(r.out, new RegExp(`MISSED targets \\(1\\): ${name}/`), r.out);
    assert.equal((JSON.parse(r.results) as { rows: Row[] }).rows.filter((x) => x.pass === false).length, 1);
  }
  const lax = await runBench(SUITES, ['slow'], { BENCH_LAX: '1' });
  assert.equal(lax.code, 0, lax.out);
  assert.match(lax.out, /MISSED/);
});

test('bench runner: a missed target runs its suite again; it fails only when the second run misses too (BENCH_CONFIRM=0: no second run)', async () => {
  const r = await runBench(SUITES, ['good', 'flaky']);
  assert.equal(r.code, 0, r.out);
  assert.match(r.out, /== flaky, second run \(missed: flaky\) ==/);
  assert.doesNotMatch(r.out, /== good, second run/, 'a suite that met its targets runs once');
  const rows = (JSON.parse(r.results) as { rows: (Row & { case: string; value: number; note?: string; extra?: { firstRun?: { value: number } } })[]; confirmed: string[] }).rows;
  const flaky = rows.find((x) => x.case === 'flaky')!;
  assert.equal(flaky.pass, true);
  assert.equal(flaky.value, 96, 'the missed row is the second run\'s');
  assert.equal(flaky.extra?.firstRun?.value, 80, 'the first run is kept');
  assert.match(flaky.note ?? '', /passed on a second run \(first run 0\.80\)/);
  assert.equal(rows.find((x) => x.case === 'steady')!.value, 100, 'a row that passed stays from the first run');
  assert.deepEqual(JSON.parse(r.results).confirmed, ['flaky']);

  const twice = await runBench(SUITES, ['slow']);
  assert.equal(twice.code, 1, twice.out);
  assert.match(twice.out, /== slow, second run/);
  assert.match(twice.out, /MISSED targets \(1\): slow\/slow/);
  assert.match(twice.out, /missed in both runs \(first run 0\.50\)/);

  const once = await runBench(SUITES, ['flaky'], { BENCH_CONFIRM: '0' });
  assert.equal(once.code, 1, once.out);
  assert.doesNotMatch(once.out, /second run/);
});

test('confirm: the note quotes the figure that was checked (a ratio against a numeric target, else the value)', () => {
  const first = [row({ suite: 's', case: 'p50', unit: 'ms', value: 1.05, baseline: 0.31, target: '<= 1.03 ms', pass: false }), row({ suite: 's', case: 'rps', unit: 'req/s', value: 80, baseline: 100, target: 0.9 })];
  const second = [row({ suite: 's', case: 'p50', unit: 'ms', value: 0.6, baseline: 0.18, target: '<= 1.03 ms', pass: true }), row({ suite: 's', case: 'rps', unit: 'req/s', value: 85, baseline: 100, target: 0.9 })];
  const [p50, rps] = mergeConfirmed(first, second) as { note: string; pass: boolean }[];
  assert.match(p50!.note, /^passed on a second run \(first run 1\.05\)/);
  assert.equal(p50!.pass, true);
  assert.match(rps!.note, /^missed in both runs \(first run 0\.80\)/);
  assert.equal(rps!.pass, false);
});

test('bench runner: a suite that measures nothing fails the run, even with BENCH_LAX=1', async () => {
  const r = await runBench(SUITES, ['empty'], { BENCH_LAX: '1' });
  assert.equal(r.code, 1, r.out);
  assert.match(r.out, /FAILED empty: the suite returned no rows/);
});

test('README table: marks come from the checked targets; only the text between the markers changes', () => {
  const res = { suite: 'core', date: '2026-01-01T00:00:00Z', node: 'v20', cpus: 2, pinned: true, settings: { rounds: 5, durationS: 2 }, rows: [mk({ value: 10, baseline: 10, target: 0.9, unit: 'req/s' }), mk({ value: NaN, baseline: 10, target: 0.9, unit: 'req/s' })] };
  const md = renderSuite(res) as string;
  assert.equal(md.split('\n').filter((l) => l.includes('| ✓ |')).length, 1, md);
  assert.equal(md.split('\n').filter((l) => l.includes('| ✗ MISSED |')).length, 1, md);
  assert.match(md, /\| NaN \|/);
  const text = 'before\n<!-- bench:start -->\nold table\n<!-- bench:end -->\nafter\n';
  assert.equal(splice(text, 'NEW'), 'before\n<!-- bench:start -->\nNEW\n<!-- bench:end -->\nafter\n');
  assert.throws(() => splice('no markers', 'x'), /markers/);
});
