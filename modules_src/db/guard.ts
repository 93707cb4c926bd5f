// SPDX-License-Identifier: LGPL-3.0-or-later
/**
 * Statements refused before they run because they change the state of the
 * pooled connection they run on, which every later request from every client
 * on that connection would inherit: transaction control (sql.ts), SQLite
 * PRAGMAs that set a value, PostgreSQL's SET/RESET/set_config, MySQL's SET,
 * USE, LOCK TABLES, user variables and named locks. Lexical checks on the SQL
 * text (strings and comments skipped). Pure: no I/O.
 */
import type { Engine } from './config.ts';
import { badRequest } from './errors.ts';
import { checkStatement, firstKeyword, skipSpace } from './sql.ts';

/** PRAGMAs that take an argument in parentheses and only read. */
const QUERY_PRAGMAS = new Set([
  'table_info',
  'table_xinfo',
  'table_list',
  'index_info',
  'index_xinfo',
  'index_list',
  'foreign_key_list',
  'foreign_key_check',
  'integrity_check',
  'quick_check',
]);


/** An SQLite name at `i` (bare, "quoted", [bracketed] or `backticked`): its text and the index after it. */
function sqliteName(sql: string, i: number): { name: string; end: number } | null {
  const close = { '"': '"', '[': ']', '`': '`' }[sql[i] ?? ''];
  if (close !== undefined) {
    const e = sql.indexOf(close, i + 1);
    return e < 0 ? null : { name: sql.slice(i + 1, e), end: e + 1 };
  }
  const m = /^[A-Za-z_][A-Za-z0-9_$]*/.exec(sql.slice(i, i + 128));
  return m ? { name: m[0], end: i + m[0].length } : null;
}

/**
 * SQLite: `PRAGMA x` (reads) and `PRAGMA x(arg)` for query pragmas pass;
 * `PRAGMA x = v`, `PRAGMA x(v)` for any other pragma, or a form not
 * understood, are refused naming the pragma.
 */
export function checkPragma(sql: string): void {
  let i = skipSpace(sql, 0);
  if (firstKeyword(sql) !== 'PRAGMA') return;
  i = skipSpace(sql, i + 6);
  let n = sqliteName(sql, i);
  if (n === null) throw badRequest('PRAGMA: expected a pragma name');
  i = skipSpace(sql, n.end);
  if (sql[i] === '.') {
    n = sqliteName(sql, skipSpace(sql, i + 1));
    if (n === null) throw badRequest('PRAGMA: expected a pragma name after the schema');
    i = skipSpace(sql, n.end);
  }
  const name = n.name.toLowerCase();
  if (i >= sql.length || (sql[i] === ';' && skipSpace(sql, i + 1) >= sql.length)) return;
  if (sql[i] === '(' && QUERY_PRAGMAS.has(name)) return;
  throw badRequest(
    `PRAGMA ${name} with a value is not allowed: it would change the pooled connection for every later client (reading it, PRAGMA ${name}, is allowed; read-only pragmas such as table_info(t) take arguments)`,
  );
}

/**
 * The SQL with string literals, quoted identifiers and comments blanked out
 * (same length), so keyword searches only see code. `backslash`: MySQL's
 * backslash escapes in strings; `dollar`: PostgreSQL's $tag$ quotes.
 */
export function codeOnly(sql: string, o: { backslash: boolean; dollar: boolean }): string {
  const out = sql.split('');
  const n = sql.length;
  const blank = (a: number, b: number): void => {
    for (let k = a; k < Math.min(b, n); k++) out[k] = ' ';
  };
  let i = 0;
  while (i < n) {
    const c = sql[i]!;
    if (c === "'" || c === '"' || c === '`') {
      let j = i + 1;
      while (j < n) {
        if (o.backslash && sql[j] === '\\' && c !== '`') j += 2;
        else if (sql[j] === c) {
          if (sql[j + 1] === c) j += 2;
          else break;
        } else j++;
      }
      blank(i, j + 1);
      i = j + 1;
    } else if ((c === '-' && sql[i + 1] === '-') || (c === '#' && o.backslash)) {
      const e = sql.indexOf('\n', i);
      const end = e < 0 ? n : e;
      blank(i, end);
      i = end;
    } else if (c === '/' && sql[i + 1] === '*') {
      const e = sql.indexOf('*/', i + 2);
      const end = e < 0 ? n : e + 2;
      blank(i, end);
      i = end;
    } else if (c === '$' && o.dollar) {
      const m = /^\$([A-Za-z_][A-Za-z0-9_]*)?\$/.exec(sql.slice(i, i + 64));
      if (m && !(i > 0 && /[A-Za-z0-9_]/.test(sql[i - 1]!))) {
        const e = sql.indexOf(m[0], i + m[0].length);
        const end = e < 0 ? n : e + m[0].length;
        blank(i, end);
        i = end;
      } else i++;
    } else i++;
  }
  return out.join('');
}

const STATE = 'it would change the pooled connection for every later client';

/** PostgreSQL: SET, RESET (any form) and set_config() are refused. */
export function checkPgSession(sql: string): void {
  const w = firstKeyword(sql);
  if (w === 'SET' || w === 'RESET') throw badRequest(`${w} is not allowed: ${STATE} (SET LOCAL is not needed either: db.timeout sets the time limit)`);
  // The raw text first: the lexer only runs when the word is there at all.
  if (/set_config/i.test(sql) && /\bset_config\s*\(/i.test(codeOnly(sql, { backslash: false, dollar: true }))) throw badRequest(`set_config() is not allowed: ${STATE}`);
}

const MYSQL_WORDS = new Set(['SET', 'USE', 'LOCK', 'UNLOCK', 'PREPARE', 'EXECUTE', 'DEALLOCATE', 'HANDLER', 'XA', 'RESET', 'FLUSH', 'KILL', 'SHUTDOWN']);

/** MySQL/MariaDB: SET, USE, LOCK TABLES, SQL-level PREPARE, user variables, named locks. */
export function checkMysqlSession(sql: string): void {
  // MySQL runs the text of /*! ... */ (and MariaDB's /*M! ... */) comments: no hiding statements there.
  if (/\/\*M?!/.test(sql)) throw badRequest('executable comments (/*! ... */) are not allowed');
  // The lexer only runs when something it could change the answer for is there (a hot path: every query).
  const code = /[#:@'"`]|get_lock|into/i.test(sql) ? codeOnly(sql, { backslash: true, dollar: false }) : sql;
  // On the code only: MySQL also has # comments.
  const w = firstKeyword(code);
  if (MYSQL_WORDS.has(w)) throw badRequest(`${w} is not allowed: ${STATE}`);
  if (/\bget_lock\s*\(/i.test(code)) throw badRequest(`GET_LOCK() is not allowed: the lock would stay with the pooled connection`);
  if (/:=|\binto\s+@/i.test(code)) throw badRequest(`assigning user variables is not allowed: ${STATE}`);
}

/** Every check for one engine's statement (throws 400 bad_request). */
export function checkFor(engine: Engine, sql: string): void {
  checkStatement(sql);
  if (engine === 'sqlite') checkPragma(sql);
  else if (engine === 'postgres') checkPgSession(sql);
  else checkMysqlSession(sql);
}
