// SPDX-License-Identifier: LGPL-3.0-or-later
/**
 * Values between JSON and the databases. JSON has numbers (doubles), strings
 * and null; databases have 64-bit integers and bytes. So:
 * - integers beyond 2^53 travel as decimal strings (out: always; in: a string
 *   is bound as text and the column's type converts it);
 * - BLOBs / bytea travel as `{"$base64": "..."}` both ways.
 * Pure: no I/O.
 */
import { badRequest } from './errors.ts';

export type Row = Record<string, unknown> | unknown[];

const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);
const MIN_SAFE = BigInt(Number.MIN_SAFE_INTEGER);

/** A 64-bit integer for JSON: a number when exact, else its decimal string. */
export function intOut(v: bigint): number | string {
  return v <= MAX_SAFE && v >= MIN_SAFE ? Number(v) : v.toString();
}

/** One database value to its JSON form. Arrays (PostgreSQL) are converted element by element. */
export function valueOut(v: unknown): unknown {
  if (v === null || v === undefined) return null;
  switch (typeof v) {
    case 'number':
    case 'string':
    case 'boolean':
      return v;
    case 'bigint':
      return intOut(v);
    case 'object':
      if (v instanceof Uint8Array) return { $base64: Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString('base64') };
      if (Array.isArray(v)) return v.map(valueOut);
      if (v instanceof Date) return Number.isNaN(v.getTime()) ? null : v.toISOString();
      return v; // json / jsonb values: already JSON
    default:
      return String(v);
  }
}

/** Converts every value of one row in place (object or array) and returns it. */
export function rowOut(row: Row): Row {
  if (Array.isArray(row)) {
    for (let i = 0; i < row.length; i++) {
      const v = row[i];
      if (v !== null && typeof v !== 'string' && typeof v !== 'number') row[i] = valueOut(v);
    }
  } else {
    for (const k in row) {
      const v = row[k];
      if (v !== null && typeof v !== 'string' && typeof v !== 'number') row[k] = valueOut(v);
    }
  }
  return row;
}

/** Converts every value of the rows in place (objects or arrays) and returns them. */
export function rowsOut(rows: Row[]): Row[] {
  for (const row of rows) rowOut(row);
  return rows;
}

const B64 = /^[A-Za-z0-9+/]*={0,2}$/;

/** `{"$base64": "..."}` to bytes, or null when `v` is not such an object. */
export function blobIn(v: unknown, where: string): Buffer | null {
  if (v === null || typeof v !== 'object' || Array.isArray(v)) return null;
  const keys = Object.keys(v);
  if (keys.length !== 1 || keys[0] !== '$base64') return null;
  const s = (v as { $base64: unknown }).$base64;
  if (typeof s !== 'string' || s.length % 4 !== 0 || !B64.test(s)) throw badRequest(`${where}: $base64 must be a padded base64 string`);
  return Buffer.from(s, 'base64');
}

/**
 * A JSON parameter for better-sqlite3: exact integers bind as 64-bit
 * integers (a plain number would bind as a REAL), booleans as 1/0, `$base64`
 * as a BLOB. Arrays and other objects have no SQLite type: refused.
 */
export function sqliteParam(v: unknown, where: string): unknown {
  if (v === null) return null;
  switch (typeof v) {
    case 'string':
      return v;
    case 'number':
      return Number.isSafeInteger(v) ? BigInt(v) : v;
    case 'boolean':
      return v ? 1n : 0n;
    case 'object': {
      const b = blobIn(v, where);
      if (b) return b;
      throw badRequest(`${where}: SQLite takes numbers, strings, null, booleans and {"$base64": ...}; got ${Array.isArray(v) ? 'an array' : 'an object'}`);
    }
    default:
      throw badRequest(`${where}: unsupported value`);
  }
}

/**
 * A JSON parameter for `pg`: `$base64` becomes a Buffer (bytea), arrays map
 * element by element (PostgreSQL arrays), other objects are sent as JSON text
 * (json/jsonb columns).
 */
export function pgParam(v: unknown, where: string): unknown {
  if (v === null || typeof v !== 'object') return v;
  const b = blobIn(v, where);
  if (b) return b;
  if (Array.isArray(v)) return v.map((x, i) => pgParam(x, `${where}[${i}]`));
  return JSON.stringify(v);
}

/** Named parameter keys may carry SQLite's sigils (`:id`, `@id`, `$id`): stripped. */
export function bareName(key: string): string {
  const c = key.charCodeAt(0);
  return c === 58 || c === 64 || c === 36 ? key.slice(1) : key;
}
