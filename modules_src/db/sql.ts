// SPDX-License-Identifier: LGPL-3.0-or-later
/**
 * Small SQL text helpers: the first keyword of a statement (to refuse
 * transaction control, which would leave a pooled connection inside a
 * transaction), and PostgreSQL named parameters (`:name` rewritten to `$n`,
 * skipping strings, quoted identifiers, comments, dollar quotes and `::` casts).
 * Pure: no I/O.
 */
import { badRequest } from './errors.ts';
import { bareName } from './values.ts';

/** Index past whitespace and comments (line and block comments) from `i`. */
export function skipSpace(sql: string, i: number): number {
  const n = sql.length;
  for (;;) {
    while (i < n && /\s/.test(sql[i]!)) i++;
    if (sql.startsWith('--', i)) {
      const e = sql.indexOf('\n', i);
      i = e < 0 ? n : e + 1;
    } else if (sql.startsWith('/*', i)) {
      const e = sql.indexOf('*/', i + 2);
      i = e < 0 ? n : e + 2;
    } else return i;
  }
}

/** The first keyword, upper-cased, after whitespace and comments ('' if none). */
export function firstKeyword(sql: string): string {
  const i = skipSpace(sql, 0);
  const m = /^[A-Za-z_]+/.exec(sql.slice(i, i + 32));
  return m ? m[0].toUpperCase() : '';
}

const TX_WORDS = new Set(['BEGIN', 'START', 'COMMIT', 'END', 'ROLLBACK', 'ABORT', 'SAVEPOINT', 'RELEASE', 'ATTACH', 'DETACH']);

/**
 * Refuses statements that change connection-wide state every later request
 * on that pooled connection would inherit: transactions (use a batch) and
 * ATTACH/DETACH.
 */
export function checkStatement(sql: string): void {
  const w = firstKeyword(sql);
  if (TX_WORDS.has(w)) {
    throw badRequest(w === 'ATTACH' || w === 'DETACH' ? `${w} is not allowed: connections are pooled` : `${w}: transaction control is not allowed; send the statements as one batch (it runs in a transaction)`);
  }
}

const IDENT_START = /[A-Za-z_]/;
const IDENT = /[A-Za-z0-9_]/;

/**
 * Rewrites `:name` placeholders to `$1..$n` and returns the values in order.
 * The same name twice reuses its number. A name missing from `params` is a 400.
 */
export function pgNamed(sql: string, params: Readonly<Record<string, unknown>>): { text: string; values: unknown[] } {
  const byName = new Map<string, unknown>();
  for (const [k, v] of Object.entries(params)) byName.set(bareName(k), v);
  const numbers = new Map<string, number>();
  const values: unknown[] = [];
  let out = '';
  let i = 0;
  let from = 0;
  const n = sql.length;
  while (i < n) {
    const c = sql[i]!;
    if (c === "'") {
      // 'it''s' and E'it\'s'
      const escapes = i > 0 && (sql[i - 1] === 'E' || sql[i - 1] === 'e') && (i < 2 || !IDENT.test(sql[i - 2]!));
      i++;
      while (i < n) {
        if (escapes && sql[i] === '\\') i += 2;
        else if (sql[i] === "'") {
          if (sql[i + 1] === "'") i += 2;
          else break;
        } else i++;
      }
      i++;
    } else if (c === '"') {
      const e = sql.indexOf('"', i + 1);
      i = e < 0 ? n : e + 1;
      while (i < n && sql[i] === '"') {
        const e2 = sql.indexOf('"', i + 1);
        i = e2 < 0 ? n : e2 + 1;
      }
    } else if (c === '-' && sql[i + 1] === '-') {
      const e = sql.indexOf('\n', i);
      i = e < 0 ? n : e + 1;
    } else if (c === '/' && sql[i + 1] === '*') {
      let depth = 1;
      i += 2;
      while (i < n && depth > 0) {
        if (sql[i] === '/' && sql[i + 1] === '*') (depth++, (i += 2));
        else if (sql[i] === '*' && sql[i + 1] === '/') (depth--, (i += 2));
        else i++;
      }
    } else if (c === '$') {
      const m = /^\$([A-Za-z_][A-Za-z0-9_]*)?\$/.exec(sql.slice(i, i + 64));
      if (m && !(i > 0 && IDENT.test(sql[i - 1]!))) {
        const e = sql.indexOf(m[0], i + m[0].length);
        i = e < 0 ? n : e + m[0].length;
      } else i++;
    } else if (c === ':') {
      if (sql[i + 1] === ':') {
        i += 2;
      } else if (i + 1 < n && IDENT_START.test(sql[i + 1]!) && !(i > 0 && sql[i - 1] === ':')) {
        let j = i + 2;
        while (j < n && IDENT.test(sql[j]!)) j++;
        const name = sql.slice(i + 1, j);
        if (!byName.has(name)) throw badRequest(`missing named parameter :${name}`);
        let num = numbers.get(name);
        if (num === undefined) {
          values.push(byName.get(name));
          num = values.length;
          numbers.set(name, num);
        }
        out += sql.slice(from, i) + '$' + num;
        from = i = j;
      } else i++;
    } else i++;
  }
  return { text: out + sql.slice(from), values };
}
