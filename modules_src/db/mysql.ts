// SPDX-License-Identifier: LGPL-3.0-or-later
/**
 * The MySQL / MariaDB backend: a `mysql2` connection pool on the main thread
 * (asynchronous: a slow query holds one pooled connection, never the event
 * loop). Every statement is a server-side prepared statement (`execute`:
 * parameters are never spliced into the SQL, one statement per request),
 * cached per connection by mysql2. Rows are streamed to the result
 * collector; past a limit the connection is destroyed (the server stops at
 * its next write). Each connection runs with `time_zone = '+00:00'` and the
 * query time limit (`max_statement_time`, or MySQL's `max_execution_time`).
 *
 * A server that does not answer at all (SIGSTOP, a dead host) would leave
 * requests hanging on open connections: a request still waiting after
 * STALL_MS (seen by a sweep every SWEEP_MS) makes the backend probe the
 * server (a ping on a connection of its own must be answered within
 * PROBE_MS); if it is not, the waiting requests are answered 503 and their
 * connections destroyed, all within 2 s.
 */
import type mysql from 'mysql2';
import type { DbConfig } from './config.ts';
import { badRequest, DbError, fromMysql } from './errors.ts';
import { checkFor, codeOnly } from './guard.ts';
import type { BatchRequest, QueryRequest, RowMode, Statement } from './request.ts';
import { Budget, RowCollector, type BatchResult, type QueryResult } from './results.ts';
import { firstKeyword } from './sql.ts';
import { bareName, blobIn, intOut, type Row } from './values.ts';

const STALL_MS = 600;
const PROBE_MS = 1100;
const SWEEP_MS = 200;
/** Statements that only read (db.readonly allows nothing else: DDL would commit the read-only transaction). */
const READ_WORDS = new Set(['SELECT', 'WITH', 'SHOW', 'DESCRIBE', 'DESC', 'EXPLAIN', 'VALUES', 'TABLE']);
const DATETIME = 12;
const TIMESTAMP = 7;
const NEWDECIMAL = 246;
/** SQL texts that passed the statement checks (pure functions of the text): at most this many, this long, remembered. */
const CHECKED_MAX = 512;
const CHECKED_LEN = 4096;

/** How a column's text is changed for JSON: ISO dates, integral DECIMALs (SUM of integers) as numbers when exact. */
type Conv = 'datetime' | 'timestamp' | 'integer';

type Log = { warn(o: object, msg: string): void };
type Field = { name: string; columnType?: number; type?: number; decimals?: number };

/** The mysql2 package, imported by loadMysql() when a URL selects MySQL (other servers never load it). */
let mysqlLib: typeof mysql | null = null;

export async function loadMysql(): Promise<void> {
  mysqlLib ??= ((await import('mysql2')) as { default: typeof mysql }).default;
}

function lib(): typeof mysql {
  if (mysqlLib === null) throw new Error('db: mysql2 is not loaded (loadMysql)');
  return mysqlLib;
}

/** A JSON parameter for mysql2: `$base64` → bytes, objects → JSON text; arrays have no MySQL type. */
export function mysqlParam(v: unknown, where: string): unknown {
  if (v === null || typeof v !== 'object') return v;
  const b = blobIn(v, where);
  if (b) return b;
  if (Array.isArray(v)) throw badRequest(`${where}: MySQL takes numbers, strings, null, booleans, objects (as JSON) and {"$base64": ...}; got an array`);
  return JSON.stringify(v);
}

function bind(st: Statement): unknown[] | Record<string, unknown> {
  const p = st.params;
  if (p === undefined) return [];
  if (Array.isArray(p)) return p.map((v, i) => mysqlParam(v, `params[${i}]`));
  const named: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(p)) named[bareName(k)] = mysqlParam(v, `params.${k}`);
  return named;
}

type Done<T> = (err: unknown, value?: T) => void;

/** The request a checked-out connection serves (a property of the connection: no per-request map entry). */
const OWNER = Symbol('hrmr.db.owner');
type Owned = mysql.PoolConnection & { [OWNER]?: Pending | null };

interface Pending {
  readonly t0: number;
  fail(e: DbError): void;
  /** Neighbours in the backend's list of requests not answered yet (null when not in it). */
  prev: Pending | null;
  next: Pending | null;
}

interface Prepared {
  readonly sql: string;
  readonly values: unknown[] | Record<string, unknown>;
  readonly mode: RowMode;
}

export class MysqlBackend {
  readonly pool: mysql.Pool;
  private readonly host: string;
  private readonly port: number;
  private probing: Promise<boolean> | null = null;
  private readonly login: mysql.ConnectionOptions;
  /** A connection of its own for liveness pings (kept: no connection churn, no aborted handshakes counted against the host). */
  private probeConn: mysql.Connection | null = null;
  /**
   * Requests not answered yet (watched by `sweep`): a list threaded through
   * the requests themselves, oldest first (a Set's add/delete per query kept
   * each query's objects alive into the old generation).
   */
  private first: Pending | null = null;
  private last: Pending | null = null;
  private sweeper: NodeJS.Timeout | null = null;
  /** The connections that have our 'error' listener. */
  private readonly listening = new WeakSet<mysql.PoolConnection>();
  /** SQL texts known to pass `check` (the lexical scans cost more than the rest of a point select's JS). */
  private readonly checked = new Set<string>();

  constructor(
    private readonly cfg: DbConfig,
    log: Log,
  ) {
    const u = new URL(cfg.url.replace(/^mariadb:/i, 'mysql:'));
    this.host = u.hostname.replace(/^\[|\]$/g, '');
    this.port = Number(u.port || 3306);
    this.login = {
      host: this.host,
      port: this.port,
      user: decodeURIComponent(u.username),
      password: decodeURIComponent(u.password),
      database: decodeURIComponent(u.pathname.slice(1)) || undefined,
      charset: 'utf8mb4',
    };
    this.pool = lib().createPool({
      ...this.login,
      connectionLimit: cfg.poolSize,
      maxIdle: cfg.poolSize,
      idleTimeout: 30_000,
      connectTimeout: 2000,
      enableKeepAlive: true,
      supportBigNumbers: true,
      dateStrings: true,
      namedPlaceholders: true,
      multipleStatements: false,
    });
    const secs = cfg.timeout / 1000;
    this.pool.on('connection', (c) => {
      // Queued ahead of any request on this connection. MariaDB first, then MySQL's spelling.
      c.query(`SET SESSION time_zone = '+00:00', max_statement_time = ${secs}`, (err) => {
        if (!err) return;
        c.query(`SET SESSION time_zone = '+00:00', max_execution_time = ${cfg.timeout}`, (err2) => {
          if (err2) log.warn({ err: err2.message }, 'db: cannot set the MySQL session time zone and time limit');
        });
      });
    });
  }

  /** The statement checks (session state, db.readonly); throws a DbError when refused. */
  private allowed(sql: string): void {
    if (this.checked.has(sql)) return;
    checkFor('mysql', sql);
    if (this.cfg.readonly) {
      const code = codeOnly(sql, { backslash: true, dollar: false });
      const w = firstKeyword(code);
      if (!READ_WORDS.has(w) || /\binto\s+(outfile|dumpfile)\b/i.test(code)) {
        throw new DbError(403, 'readonly', `database is read-only (db.readonly=true): ${w || 'this statement'} is not a read`);
      }
    }
    if (sql.length > CHECKED_LEN) return;
    if (this.checked.size >= CHECKED_MAX) this.checked.clear();
    this.checked.add(sql);
  }

  private prepare(st: Statement, mode: RowMode): Prepared {
    this.allowed(st.sql);
    return { sql: st.sql, values: bind(st), mode };
  }

  /** Not async: a refused statement throws here (the callers map it as they map a rejection), and no extra promise hop per query. */
  query(req: QueryRequest): Promise<QueryResult> {
    const p = this.prepare(req, req.rowMode);
    if (!this.cfg.readonly) return this.withConnection<QueryResult>((c, done) => this.execute(c, p, new Budget(this.cfg), done));
    return this.transaction([p], false).then((b) => b.results[0]!);
  }

  batch(req: BatchRequest): Promise<BatchResult> {
    const ps = req.statements.map((st, i) => {
      try {
        return this.prepare(st, req.rowMode);
      } catch (err) {
        throw fromMysql(err).at(i);
      }
    });
    return this.transaction(ps, true);
  }

  private transaction(ps: Prepared[], indexed: boolean): Promise<BatchResult> {
    return this.withConnection<BatchResult>((c, done) => void this.inTransaction(c, ps, indexed).then((v) => done(null, v), done));
  }

  private async inTransaction(c: mysql.PoolConnection, ps: Prepared[], indexed: boolean): Promise<BatchResult> {
    await this.plain(c, this.cfg.readonly ? 'START TRANSACTION READ ONLY' : 'START TRANSACTION');
    const results: QueryResult[] = [];
    const budget = new Budget(this.cfg);
    for (let i = 0; i < ps.length; i++) {
      try {
        results.push(await this.exec(c, ps[i]!, budget));
      } catch (err) {
        const e = fromMysql(err);
        // A broken or destroyed connection rolls back on the server by itself.
        if (e.status !== 503 && e.status !== 413) await this.plain(c, 'ROLLBACK');
        throw indexed ? e.at(i) : e;
      }
    }
    await this.plain(c, this.cfg.readonly ? 'ROLLBACK' : 'COMMIT');
    return { results };
  }

  private plain(c: mysql.PoolConnection, sql: string): Promise<void> {
    return new Promise((resolve, reject) => c.query(sql, (err) => (err ? reject(fromMysql(err)) : resolve())));
  }

  private exec(c: mysql.PoolConnection, p: Prepared, budget: Budget): Promise<QueryResult> {
    return new Promise((resolve, reject) => this.execute(c, p, budget, (err, r) => (err ? reject(err) : resolve(r!))));
  }

  /**
   * One prepared statement, its rows streamed into a collector under
   * `budget`; `done` once. A callback, not a promise: a point select is a
   * few microseconds of JS, and each promise hop was a visible share of it.
   */
  private execute(c: mysql.PoolConnection, p: Prepared, budget: Budget, done: Done<QueryResult>): void {
    const sink = new RowCollector(budget);
    let fields: Field[] | undefined;
    let convs: Array<[string | number, Conv]> = [];
    let header: { affectedRows?: number; insertId?: number | string } | undefined;
    let failed = false;
    // The string form for the usual row objects: mysql2 spreads an options object into a new one
    // per call, which cost more than the rest of the call together.
    const q = (p.mode === 'array' ? c.execute({ sql: p.sql, rowsAsArray: true }, p.values as never) : c.execute(p.sql, p.values as never)) as unknown as NodeJS.EventEmitter;
    q.on('fields', (f: Field[] | undefined) => {
      // mysql2 also emits 'fields' with undefined for a statement without rows.
      if (f === undefined) return;
      fields = f;
      convs = [];
      for (let i = 0; i < f.length; i++) {
        const x = f[i]!;
        const t = x.columnType ?? x.type;
        const k = p.mode === 'array' ? i : x.name;
        if (t === DATETIME) convs.push([k, 'datetime']);
        else if (t === TIMESTAMP) convs.push([k, 'timestamp']);
        else if (t === NEWDECIMAL && x.decimals === 0) convs.push([k, 'integer']);
      }
    });
    q.on('result', (row: Row) => {
      if (failed) return;
      if (fields === undefined) {
        header = row as typeof header;
        return;
      }
      for (let j = 0; j < convs.length; j++) {
        const [k, how] = convs[j]!;
        const r = row as Record<string | number, unknown>;
        const v = r[k];
        if (typeof v !== 'string') continue;
        if (how === 'integer') {
          const n = Number(v);
          if (Number.isSafeInteger(n)) r[k] = n;
        } else if (v.length >= 19 && v[10] === ' ') {
          // 'YYYY-MM-DD hh:mm:ss[.f]' → ISO 8601 (TIMESTAMP in UTC: the session's time zone).
          r[k] = `${v.slice(0, 10)}T${v.slice(11)}${how === 'timestamp' ? 'Z' : ''}`;
        }
      }
      try {
        sink.add(row);
      } catch (err) {
        failed = true;
        done(err);
      }
    });
    q.on('error', (err: Error) => {
      if (failed) return;
      failed = true;
      done(fromMysql(err));
    });
    q.on('end', () => {
      if (failed) return;
      if (fields !== undefined) done(null, { rows: sink.done(), columns: fields.map((f) => f.name) });
      else done(null, { changes: header?.affectedRows ?? 0, lastInsertRowid: insertId(header?.insertId) });
    });
  }

  /**
   * Runs `fn` on a pooled connection and releases it; a connection left in
   * an unknown state (over a limit, broken, a server that stopped
   * answering) is destroyed instead, and the pool opens a new one on demand.
   */
  private withConnection<T>(fn: (c: mysql.PoolConnection, done: Done<T>) => void): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      let conn: mysql.PoolConnection | null = null;
      const req: Pending = { t0: Date.now(), fail: (e) => finish(e), prev: null, next: null };
      const finish = (err: DbError | null, value?: T): void => {
        if (!this.unlink(req)) return;
        if (conn !== null) {
          (conn as Owned)[OWNER] = null;
          if (err !== null && (err.status === 503 || err.status === 413 || err.status === 504)) conn.destroy();
          else conn.release();
        }
        if (err !== null) reject(err);
        else resolve(value as T);
      };
      this.link(req);
      this.sweeper ??= setInterval(() => this.sweep(), SWEEP_MS).unref();
      this.pool.getConnection((err, c) => {
        if (!this.waiting(req)) {
          // Given up on meanwhile: this connection's state is unknown.
          c?.destroy();
          return;
        }
        if (err) return finish(fromMysql(err));
        conn = c;
        (c as Owned)[OWNER] = req;
        if (!this.listening.has(c)) {
          this.listening.add(c);
          // mysql2 reports some failures (a command on a connection that just closed) on the
          // connection, not the command: answer its request, and never leave the event unhandled.
          c.on('error', (e: Error) => (c as Owned)[OWNER]?.fail(fromMysql(e)));
        }
        const done: Done<T> = (e, v) => (e ? finish(fromMysql(e)) : finish(null, v));
        try {
          fn(c, done);
        } catch (e) {
          done(e);
        }
      });
    });
  }

  private link(r: Pending): void {
    r.prev = this.last;
    if (this.last === null) this.first = r;
    else this.last.next = r;
    this.last = r;
  }

  private waiting(r: Pending): boolean {
    return r.prev !== null || this.first === r;
  }

  /** Takes `r` off the list; false when it was not on it (answered already). */
  private unlink(r: Pending): boolean {
    if (!this.waiting(r)) return false;
    if (r.prev === null) this.first = r.next;
    else r.prev.next = r.next;
    if (r.next === null) this.last = r.prev;
    else r.next.prev = r.prev;
    r.prev = r.next = null;
    return true;
  }

  /**
   * Requests unanswered for STALL_MS: is the server there at all? One timer
   * for all requests (a timer per request costs more than the check).
   */
  private sweep(): void {
    const now = Date.now();
    // Oldest first: the first request tells.
    const stalled = this.first !== null && now - this.first.t0 >= STALL_MS;
    if (!stalled || this.probing !== null) return;
    void this.alive().then((ok) => {
      if (ok) return;
      const e = new DbError(503, 'unavailable', `database unreachable: ${this.host}:${this.port} did not answer a ping within ${PROBE_MS} ms`);
      const at = Date.now();
      const old: Pending[] = [];
      for (let r = this.first; r !== null && at - r.t0 >= STALL_MS; r = r.next) old.push(r);
      for (const r of old) r.fail(e);
    });
  }

  /**
   * One probe at a time: a COM_PING on the backend's own probe connection
   * (opened on first use) must be answered within PROBE_MS. A stopped server
   * answers nothing; a busy one still answers a ping at once. A probe
   * connection found closed (wait_timeout) is reopened once.
   */
  private alive(): Promise<boolean> {
    this.probing ??= new Promise<boolean>((resolve) => {
      let done = false;
      const finish = (ok: boolean): void => {
        if (done) return;
        done = true;
        clearTimeout(t);
        if (!ok) this.dropProbe();
        this.probing = null;
        resolve(ok);
      };
      const t = setTimeout(() => finish(false), PROBE_MS);
      const ping = (retry: boolean): void => {
        const c = this.probeConnection();
        c.ping((err) => {
          if (!err) return finish(true);
          if (this.probeConn === c) this.dropProbe();
          if (retry && !done) ping(false);
          else finish(false);
        });
      };
      ping(true);
    });
    return this.probing;
  }

  private probeConnection(): mysql.Connection {
    if (this.probeConn === null) {
      const c = lib().createConnection({ ...this.login, connectTimeout: PROBE_MS });
      const gone = (): void => {
        if (this.probeConn === c) this.probeConn = null;
      };
      c.on('error', gone);
      c.on('end', gone);
      this.probeConn = c;
    }
    return this.probeConn;
  }

  private dropProbe(): void {
    this.probeConn?.destroy();
    this.probeConn = null;
  }

  /** STATUS: the pool's connections. */
  status(): Record<string, number> {
    const p = this.pool as unknown as { _allConnections?: { length: number }; _freeConnections?: { length: number }; _connectionQueue?: { length: number } };
    return { total: p._allConnections?.length ?? 0, idle: p._freeConnections?.length ?? 0, waiting: p._connectionQueue?.length ?? 0 };
  }

  /** Proves the server answers (at setup): resolves or throws a DbError. */
  check(): Promise<void> {
    return this.withConnection<void>((c, done) => void this.plain(c, 'SELECT 1').then(() => done(null), done));
  }

  close(): Promise<void> {
    if (this.sweeper !== null) clearInterval(this.sweeper);
    this.sweeper = null;
    this.dropProbe();
    return new Promise((resolve) => this.pool.end(() => resolve()));
  }
}

/** The AUTO_INCREMENT id made by the statement; 0 (none made) is null. */
function insertId(v: number | string | undefined): number | string | null {
  if (v === undefined || v === 0 || v === '0') return null;
  if (typeof v === 'string') return intOut(BigInt(v));
  return v;
}
