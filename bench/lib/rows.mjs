// SPDX-License-Identifier: LGPL-3.0-or-later
/**
 * The row contract every suite returns (an array of these):
 *
 *   { suite, case, unit, value, baseline, ratio, target, better, pass, note?, samples?, extra? }
 *
 * - value:    the figure for hrmr (median).
 * - baseline: the same figure for the baseline measured in the same run, or null.
 * - ratio:    value / baseline (computed when left out), or null without a baseline.
 * - target:   a number: the ratio to reach (or, without a baseline, the value);
 *             a string: a target described in words (not checked); or null.
 * - better:   'higher' (throughput: pass when ratio >= target) or
 *             'lower' (latency: pass when ratio <= target).
 * - pass:     true / false against a numeric target (computed when left out), null when there is none.
 *             A numeric target with a value that is not a finite number (NaN, a failed measurement) or a
 *             baseline of 0 (no ratio) is missed: pass is false, never blank. A suite's own `pass: true`
 *             cannot override that.
 * - note:     a short remark printed with the row; samples / extra: free-form, kept in the JSON.
 *
 * Use `row()` to build one; the runner passes whatever a suite returns through `normalizeRows()`.
 */

const num = (x) => (typeof x === 'number' ? x : null);

export function row({ suite, case: name, unit = '', value, baseline = null, ratio, target = null, better = 'higher', pass, note, samples, extra }) {
  const v = num(value) ?? NaN;
  const b = num(baseline);
  // A zero (or non-finite) baseline gives no ratio: NaN, so a target on it is missed.
  const q = ratio === undefined ? (b === null ? null : b !== 0 && Number.isFinite(b) ? v / b : NaN) : num(ratio);
  const compared = b !== null ? q : v;
  let ok = typeof pass === 'boolean' ? pass : null;
  if (typeof target === 'number') {
    const measurable = compared !== null && Number.isFinite(compared) && Number.isFinite(v);
    if (!measurable) ok = false;
    else if (ok === null) ok = better === 'lower' ? compared <= target : compared >= target;
  }
  const r = { suite, case: name, unit, value: v, baseline: b, ratio: q, target: typeof target === 'number' || typeof target === 'string' ? target : null, better: better === 'lower' ? 'lower' : 'higher', pass: ok };
  if (note) r.note = String(note);
  if (samples) r.samples = samples;
  if (extra) r.extra = extra;
  return r;
}

/** Accepts what a suite returned: an array of rows (missing fields filled in, `name`/`rps` taken for `case`/`value`), or nothing. */
export function normalizeRows(suite, returned) {
  if (returned == null) return [];
  const list = Array.isArray(returned) ? returned : Array.isArray(returned.rows) ? returned.rows : [returned];
  return list
    .filter((r) => r && typeof r === 'object')
    .map((r) =>
      row({
        ...r,
        suite: r.suite ?? suite,
        case: r.case ?? r.name ?? '?',
        unit: r.unit ?? (r.rps !== undefined ? 'req/s' : ''),
        value: r.value ?? r.rps,
        // A suite's own ratio (or its explicit null) wins over value / baseline.
        ratio: 'ratio' in r ? r.ratio : undefined,
      }),
    );
}
