// SPDX-License-Identifier: LGPL-3.0-or-later
/**
 * Request validation for both interfaces: the JSON bodies of
 * `POST {mount}query` and `{mount}batch`, and the `DB ...` lines. Strict on
 * purpose: an unknown field (a typo such as "param") is a 400, not ignored.
 * Pure: no I/O.
 */
import { badRequest, DbError } from './errors.ts';

export type Params = readonly unknown[] | Readonly<Record<string, unknown>>;
export type RowMode = 'object' | 'array';

export interface Statement {
  readonly sql: string;
  readonly params: Params | undefined;
}

export interface QueryRequest extends Statement {
  readonly rowMode: RowMode;
}

export interface BatchRequest {
  readonly statements: readonly Statement[];
  readonly rowMode: RowMode;
}

export type LineCommand =
  | { readonly kind: 'query'; readonly req: QueryRequest }
  | { readonly kind: 'batch'; readonly req: BatchRequest }
  | { readonly kind: 'auth'; readonly token: string };

/** Most statements in one batch. */
export const MAX_BATCH = 10_000;

const QUERY_KEYS = new Set(['sql', 'params', 'rowMode']);
const BATCH_KEYS = new Set(['statements', 'rowMode']);
const STATEMENT_KEYS = new Set(['sql', 'params']);

function isObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

function parseJson(body: Buffer | string): unknown {
  const text = typeof body === 'string' ? body : body.toString('utf8');
  // (trim only when the text could be blank: it copies)
  if (text.length === 0 || (text.charCodeAt(0) <= 32 && text.trim() === '')) throw badRequest('empty body: expected a JSON object');
  try {
    return JSON.parse(text);
  } catch (err) {
    throw badRequest(`bad JSON: ${(err as Error).message}`);
  }
}

function checkKeys(o: Record<string, unknown>, known: Set<string>, where: string): void {
  for (const k in o) if (!known.has(k)) throw badRequest(`${where}: unknown field ${JSON.stringify(k)} (known: ${[...known].join(', ')})`);
}

function statement(o: unknown, where: string, keys: Set<string>): Statement {
  if (!isObject(o)) throw badRequest(`${where}: expected an object {"sql": "...", "params": [...] | {...}}`);
  checkKeys(o, keys, where);
  const { sql, params } = o;
  if (typeof sql !== 'string' || sql.trim() === '') throw badRequest(`${where}: "sql" must be a non-empty string`);
  if (params !== undefined && params !== null && typeof params !== 'object') throw badRequest(`${where}: "params" must be an array or an object`);
  return { sql, params: (params ?? undefined) as Params | undefined };
}

function rowMode(v: unknown): RowMode {
  if (v === undefined || v === 'object') return 'object';
  if (v === 'array') return 'array';
  throw badRequest('"rowMode" must be "object" or "array"');
}

export function parseQuery(body: Buffer | string): QueryRequest {
  const o = parseJson(body);
  const s = statement(o, 'query', QUERY_KEYS);
  return { sql: s.sql, params: s.params, rowMode: rowMode((o as Record<string, unknown>).rowMode) };
}

export function parseBatch(body: Buffer | string): BatchRequest {
  const o = parseJson(body);
  if (!isObject(o)) throw badRequest('batch: expected an object {"statements": [...]}');
  checkKeys(o, BATCH_KEYS, 'batch');
  const list = o.statements;
  if (!Array.isArray(list) || list.length === 0) throw badRequest('batch: "statements" must be a non-empty array');
  if (list.length > MAX_BATCH) throw badRequest(`batch: at most ${MAX_BATCH} statements`);
  const statements = list.map((s, i) => {
    try {
      return statement(s, `statements[${i}]`, STATEMENT_KEYS);
    } catch (err) {
      throw (err as DbError).at(i);
    }
  });
  return { statements, rowMode: rowMode(o.rowMode) };
}

/**
 * One line of the line protocol (without its `\n`):
 * `DB {json}`, `DB BATCH {json}`, `DB AUTH <token>`.
 */
export function parseLine(line: string): LineCommand {
  if (!line.startsWith('DB ')) throw badRequest('expected DB {json}, DB BATCH {json} or DB AUTH <token>');
  const rest = line.slice(3);
  if (rest.startsWith('AUTH ')) return { kind: 'auth', token: rest.slice(5) };
  if (rest === 'AUTH') return { kind: 'auth', token: '' };
  if (rest.startsWith('BATCH ')) return { kind: 'batch', req: parseBatch(rest.slice(6)) };
  if (rest.trimStart().startsWith('{')) return { kind: 'query', req: parseQuery(rest) };
  throw badRequest('expected DB {json}, DB BATCH {json} or DB AUTH <token>');
}
