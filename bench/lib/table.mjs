// SPDX-License-Identifier: LGPL-3.0-or-later
/** Plain-text tables of bench rows. */

export function fmt(n) {
  if (n == null) return '-';
  if (Number.isNaN(n)) return 'NaN';
  if (!Number.isFinite(n)) return String(n);
  const a = Math.abs(n);
  if (a >= 1000) return Math.round(n).toLocaleString('en-US');
  if (a >= 100) return n.toFixed(0);
  if (a >= 10) return n.toFixed(1);
  return n.toFixed(2);
}

export function verdict(r) {
  if (r.pass === null || r.pass === undefined) return typeof r.target === 'string' && r.target ? 'unchecked' : '';
  return r.pass ? 'ok' : 'MISSED';
}

export function targetText(r) {
  if (r.target == null) return '';
  if (typeof r.target === 'string') return r.target;
  return `${r.better === 'lower' ? '<=' : '>='} ${r.target}`;
}

/** Renders rows as an aligned text table. `withSuite` adds the suite column (summary). */
export function renderTable(rows, { withSuite = false } = {}) {
  const notes = rows.some((r) => r.note);
  const head = [...(withSuite ? ['suite'] : []), 'case', 'unit', 'hrmr', 'baseline', 'ratio', 'target', 'check', ...(notes ? ['note'] : [])];
  const body = rows.map((r) => [
    ...(withSuite ? [r.suite] : []),
    r.case,
    r.unit,
    fmt(r.value),
    r.baseline == null ? '-' : fmt(r.baseline),
    r.ratio == null ? '-' : Number.isFinite(r.ratio) ? r.ratio.toFixed(3) : String(r.ratio),
    targetText(r),
    verdict(r),
    ...(notes ? [r.note ?? ''] : []),
  ]);
  const numeric = (i) => { const h = head[i]; return h === 'hrmr' || h === 'baseline' || h === 'ratio'; };
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((b) => String(b[i]).length)));
  const line = (cells) => cells.map((c, i) => (numeric(i) ? String(c).padStart(widths[i]) : String(c).padEnd(widths[i]))).join('  ').trimEnd();
  return [line(head), widths.map((w) => '-'.repeat(w)).join('  '), ...body.map(line)].join('\n');
}
