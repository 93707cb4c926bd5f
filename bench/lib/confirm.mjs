// SPDX-License-Identifier: LGPL-3.0-or-later
/**
 * A missed target is confirmed by a second run of its suite before it fails
 * the bench. Duets on this 2-core host move by a few per cent between runs
 * with no code changed (the core suite's `A/A noise` row, two identical
 * plain servers: 0.94-1.07 of each other in requests/s over six full runs;
 * docs/benchmarks.md, "A miss is confirmed by a second run"), so a row whose
 * target sits within that band flips on noise alone. A real regression
 * misses in both runs.
 *
 * Pure: the runner measures, this decides which row stands.
 */
import { fmt } from './table.mjs';

/** The figure a row is checked on: with a numeric target, its ratio when it has a baseline, else its value (a suite's own check, e.g. a p50 in ms beside a reference, is on the value). */
const checked = (r) => (typeof r.target === 'number' && r.baseline !== null && r.baseline !== undefined ? r.ratio : r.value);

/** Suites to run again: no failure of their own, and at least one checked target missed. */
export function suitesToConfirm(rows, failures) {
  const failed = new Set(failures.map((f) => f.suite));
  const out = [];
  for (const r of rows) if (r.pass === false && !failed.has(r.suite) && !out.includes(r.suite)) out.push(r.suite);
  return out;
}

/**
 * The rows that stand after a suite's second run: each row the first run
 * missed is replaced by the second run's row of the same case (which decides
 * pass or miss), noted with the first run's figure and kept in
 * `extra.firstRun`; every other row stays from the first run. A missed row the
 * second run did not measure stays missed.
 */
export function mergeConfirmed(first, second) {
  const again = new Map(second.map((r) => [r.case, r]));
  return first.map((r) => {
    if (r.pass !== false) return r;
    const s = again.get(r.case);
    if (s === undefined) return { ...r, note: joinNote(`missed; the second run did not measure it`, r.note) };
    const was = `first run ${fmt(checked(r))}`;
    const word = s.pass === false ? `missed in both runs (${was})` : `passed on a second run (${was})`;
    return { ...s, note: joinNote(word, s.note), extra: { ...(s.extra ?? {}), firstRun: { value: r.value, baseline: r.baseline, ratio: r.ratio, samples: r.samples } } };
  });
}

function joinNote(a, b) {
  return b ? `${a}; ${b}` : a;
}
