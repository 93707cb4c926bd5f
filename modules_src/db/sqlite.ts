// SPDX-License-Identifier: LGPL-3.0-or-later
/**
 * The SQLite backend: one better-sqlite3 connection per pool worker, all on
 * the same file. WAL mode lets readers run while one writer writes; the busy
 * timeout makes writers queue for the write lock instead of failing; a batch
 * takes the write lock up front (`BEGIN IMMEDIATE`), so it never has to
 * upgrade a read lock (which fails at once in WAL mode). Statements are
 * prepared once per connection and cached. Everything here is synchronous:
 * it runs on a worker thread, never on the event loop everyone else shares.
 */
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import type Database from 'better-sqlite3';
import type { DbConfig } from './config.ts';
import { DbError, fromSqlite } from './errors.ts';
import type { BatchRequest, Params, QueryRequest, RowMode, Statement } from './request.ts';
import { checkFor } from './guard.ts';
import { Budget, RowCollector, type BatchResult, type QueryResult } from './results.ts';
import { bareName, intOut, sqliteParam, type Row } from './values.ts';

type Stmt = Database.Statement<unknown[], unknown>;

/** Statements kept prepared per connection (least recently used dropped first). */
const CACHE_SIZE = 256;

/** better-sqlite3, imported by loadSqlite() in the threads that open the file (pool workers): the main thread never needs it. */
let SqliteLib: typeof Database | null = null;

export async function loadSqlite(): Promise<void> {
  SqliteLib ??= ((await import('better-sqlite3')) as { default: typeof Database }).default;
}

/** Opens (creating the folder and file) and sets the connection up; loadSqlite() first. */
export function openSqlite(cfg: DbConfig): Database.Database {
  const Sqlite = SqliteLib;
  if (Sqlite === null) throw new Error('db: better-sqlite3 is not loaded (loadSqlite)');
  if (!cfg.readonly) mkdirSync(dirname(cfg.file), { recursive: true });
  let db: Database.Database;
  try {
    db = new Sqlite(cfg.file, { readonly: cfg.readonly, fileMustExist: cfg.readonly, timeout: cfg.busyTimeout });
  } catch (err) {
    throw new Error(`db: cannot open SQLite database ${cfg.file}${cfg.readonly ? ' read-only (it must exist)' : ''}: ${(err as Error).message}`);
  }
  try {
    if (!cfg.readonly) db.pragma('journal_mode = WAL');
    db.pragma(`synchronous = ${cfg.synchronous}`);
    db.pragma('foreign_keys = ON');
    db.defaultSafeIntegers(true);
  } catch (err) {
    db.close();
    throw new Error(`db: cannot set up SQLite database ${cfg.file}: ${(err as Error).message}`);
  }
  return db;
}

function bind(params: Params | undefined): unknown[] {
  if (params === undefined) return [];
  if (Array.isArray(params)) return params.map((v, i) => sqliteParam(v, `params[${i}]`));
  const named: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(params)) named[bareName(k)] = sqliteParam(v, `params.${k}`);
  return [named];
}

export class SqliteBackend {
  private readonly cache = new Map<string, Stmt>();
  private readonly cols = new WeakMap<Stmt, { names: string[]; distinct: number }>();
  private readonly begin: Stmt;
  private readonly commit: Stmt;
  private readonly rollback: Stmt;

  constructor(
    readonly db: Database.Database,
    private readonly cfg: DbConfig,
  ) {
    this.begin = db.prepare(cfg.readonly ? 'BEGIN' : 'BEGIN IMMEDIATE');
    this.commit = db.prepare('COMMIT');
    this.rollback = db.prepare('ROLLBACK');
  }

  private prepare(sql: string): Stmt {
    let s = this.cache.get(sql);
    if (s !== undefined) {
      // Refresh its place in the LRU order, only once eviction can happen: a
      // delete and set per query churns the Map (measured: slower young-generation collections).
      if (this.cache.size >= CACHE_SIZE) {
        this.cache.delete(sql);
        this.cache.set(sql, s);
      }
      return s;
    }
    checkFor('sqlite', sql);
    try {
      s = this.db.prepare(sql);
    } catch (err) {
      throw fromSqlite(err, this.cfg.readonly);
    }
    if (this.cfg.readonly && !s.readonly) throw new DbError(403, 'readonly', 'database is read-only (db.readonly=true): this statement writes');
    this.cache.set(sql, s);
    if (this.cache.size > CACHE_SIZE) this.cache.delete(this.cache.keys().next().value!);
    return s;
  }

  private run(s: Stmt, st: Statement, mode: RowMode, budget: Budget): QueryResult {
    const args = bind(st.params);
    try {
      if (s.reader) {
        s.raw(mode === 'array');
        // Row by row: leaving the loop early (a limit passed) resets the statement.
        const c = new RowCollector(budget);
        for (const row of s.iterate(...args) as IterableIterator<Row>) c.add(row);
        const rows = c.done();
        return { rows, columns: this.columns(s, c.first, mode) };
      }
      const info = s.run(...args);
      return { changes: info.changes, lastInsertRowid: intOut(BigInt(info.lastInsertRowid)) };
    } catch (err) {
      throw fromSqlite(err, this.cfg.readonly);
    }
  }

  /**
   * Column names, cached per statement (`columns()` costs about as much as a
   * point select). SQLite re-prepares a statement after a schema change, so
   * a row whose width differs from the cached list refreshes it.
   */
  private columns(s: Stmt, first: Row | undefined, mode: RowMode): string[] {
    let c = this.cols.get(s);
    if (c !== undefined && first !== undefined) {
      const r = first;
      const width = mode === 'array' ? (r as unknown[]).length : Object.keys(r).length;
      if (width !== (mode === 'array' ? c.names.length : c.distinct)) c = undefined;
    }
    if (c === undefined) {
      const names = s.columns().map((x) => x.name);
      c = { names, distinct: new Set(names).size };
      this.cols.set(s, c);
    }
    return c.names;
  }

  query(req: QueryRequest): QueryResult {
    const r = this.run(this.prepare(req.sql), req, req.rowMode, new Budget(this.cfg));
    if (this.db.inTransaction) {
      // A statement got past checkStatement and opened a transaction: undo it.
      this.rollback.run();
      throw new DbError(400, 'bad_request', 'transaction control is not allowed; use a batch');
    }
    return r;
  }

  batch(req: BatchRequest): BatchResult {
    const stmts: Stmt[] = [];
    for (let i = 0; i < req.statements.length; i++) {
      try {
        stmts.push(this.prepare(req.statements[i]!.sql));
      } catch (err) {
        throw fromSqlite(err, this.cfg.readonly).at(i);
      }
    }
    try {
      this.begin.run();
    } catch (err) {
      throw fromSqlite(err, this.cfg.readonly);
    }
    const results: QueryResult[] = [];
    const budget = new Budget(this.cfg);
    try {
      for (let i = 0; i < stmts.length; i++) {
        try {
          results.push(this.run(stmts[i]!, req.statements[i]!, req.rowMode, budget));
        } catch (err) {
          throw fromSqlite(err, this.cfg.readonly).at(i);
        }
      }
      this.commit.run();
    } catch (err) {
      if (this.db.inTransaction) this.rollback.run();
      throw fromSqlite(err, this.cfg.readonly);
    }
    return { results };
  }

  close(): void {
    this.cache.clear();
    if (this.db.open) this.db.close();
  }
}
