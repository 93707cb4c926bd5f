// SPDX-License-Identifier: LGPL-3.0-or-later
/**
 * Result rows and the one table the soak prints. A row is
 * { section, metric, value, baseline, check, note }; `check` is 'ok',
 * 'FAIL' (a correctness check failed: the run exits 1), 'WARN' (a
 * performance target missed: reported, not fatal) or '' (a figure only).
 */

export function row(section, metric, value, { baseline = '', check = '', note = '' } = {}) {
  return { section, metric, value: fmt(value), baseline: fmt(baseline), check, note };
}

/** A correctness check: ok or FAIL. */
export function must(cond) {
  return cond ? 'ok' : 'FAIL';
}

/** A performance target: ok or WARN (never fails the run). */
export function target(cond) {
  return cond ? 'ok' : 'WARN';
}

function fmt(v) {
  if (typeof v === 'number') {
    if (!Number.isFinite(v)) return String(v);
    if (Number.isInteger(v)) return v.toLocaleString('en-US');
    return v >= 100 ? Math.round(v).toLocaleString('en-US') : v.toFixed(2);
  }
  return String(v ?? '');
}

export function mib(bytes) {
  return `${(bytes / 1048576).toFixed(1)} MiB`;
}

export function renderTable(rows) {
  const cols = ['section', 'metric', 'value', 'baseline', 'check', 'note'];
  const heads = ['section', 'metric', 'value', 'baseline / ratio', 'check', 'note'];
  const w = cols.map((c, i) => Math.max(heads[i].length, ...rows.map((r) => String(r[c]).length)));
  const line = (cells) => '| ' + cells.map((x, i) => String(x).padEnd(w[i])).join(' | ') + ' |';
  return [line(heads), '|' + w.map((n) => '-'.repeat(n + 2)).join('|') + '|', ...rows.map((r) => line(cols.map((c) => r[c])))].join('\n');
}
