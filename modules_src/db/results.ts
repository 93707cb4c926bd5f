// SPDX-License-Identifier: LGPL-3.0-or-later
/**
 * Result shapes shared by every backend, and the row collector that bounds
 * them: rows are turned into JSON one at a time as the backend reads them
 * (never the whole result held as objects first), and counted against
 * `db.max_rows` and `db.max_result_bytes` (a batch's statements share one
 * budget: the limits bound one answer). Past either: 413 result_too_large,
 * and the backend stops reading. Pure: no I/O.
 */
import { DbError } from './errors.ts';
import { rowOut, type Row } from './values.ts';

/** Rows already serialised: `json` is the text between `[` and `]`. */
export class JsonRows {
  constructor(
    readonly json: string,
    readonly count: number,
  ) {}
}

export type RowsResult = { rows: Row[] | JsonRows; columns: string[] };
export type ChangesResult = { changes: number; lastInsertRowid: number | string | null };
export type QueryResult = RowsResult | ChangesResult;
export type BatchResult = { results: QueryResult[] };

export interface Limits {
  readonly maxRows: number;
  readonly maxResultBytes: number;
}

/** What one answer has used so far. */
export class Budget {
  rows = 0;
  bytes = 0;
  constructor(readonly limits: Limits) {}
}

export function resultTooLarge(setting: 'max_rows' | 'max_result_bytes', limit: number): DbError {
  const what = setting === 'max_rows' ? `${limit} rows` : `${limit} bytes`;
  return new DbError(413, 'result_too_large', `result over db.${setting} (${limit}): more than ${what}; narrow the query (WHERE, LIMIT, fewer columns) or page through it`);
}

/** A lower bound of a value's JSON size, without building it (a 200 MB BLOB is refused before its base64 exists). */
function minBytes(v: unknown): number {
  if (typeof v === 'string') return v.length + 2;
  if (v instanceof Uint8Array) return Math.ceil(v.byteLength / 3) * 4 + 14;
  return 1;
}

const FLUSH = 512;

/** Collects one statement's rows as JSON under a shared budget. */
export class RowCollector {
  private readonly parts: string[] = [];
  private pending: string[] = [];
  private count = 0;
  /** The first row (converted), for column checks. */
  first: Row | undefined;

  constructor(private readonly budget: Budget) {}

  /** Adds one raw database row (converted here); throws 413 once a limit is passed. */
  add(raw: Row): void {
    const b = this.budget;
    const lim = b.limits;
    if (++b.rows > lim.maxRows) throw resultTooLarge('max_rows', lim.maxRows);
    let est = 2;
    if (Array.isArray(raw)) for (let i = 0; i < raw.length; i++) est += minBytes(raw[i]);
    else for (const k in raw) est += minBytes(raw[k]);
    if (b.bytes + est > lim.maxResultBytes) throw resultTooLarge('max_result_bytes', lim.maxResultBytes);
    const row = rowOut(raw);
    const s = JSON.stringify(row);
    b.bytes += s.length + 1;
    if (b.bytes > lim.maxResultBytes) throw resultTooLarge('max_result_bytes', lim.maxResultBytes);
    if (this.count++ === 0) this.first = row;
    this.pending.push(s);
    // Joined in groups: a few large strings, not one small string per row.
    if (this.pending.length === FLUSH) {
      this.parts.push(this.pending.join(','));
      this.pending = [];
    }
  }

  done(): JsonRows {
    if (this.pending.length > 0) this.parts.push(this.pending.join(','));
    this.pending = [];
    return new JsonRows(this.parts.length === 1 ? this.parts[0]! : this.parts.join(','), this.count);
  }
}

/** The JSON text of one result (rows already serialised are spliced in). */
export function resultJson(r: QueryResult): string {
  if ('rows' in r && r.rows instanceof JsonRows) return `{"rows":[${r.rows.json}],"columns":${JSON.stringify(r.columns)}}`;
  return JSON.stringify(r);
}

export function batchJson(b: BatchResult): string {
  let s = '{"results":[';
  for (let i = 0; i < b.results.length; i++) s += (i === 0 ? '' : ',') + resultJson(b.results[i]!);
  return s + ']}';
}
