// SPDX-License-Identifier: LGPL-3.0-or-later
/**
 * Errors of the db module and how each backend's errors map to an HTTP
 * status and a code: SQLite's extended result code (`SQLITE_CONSTRAINT_UNIQUE`)
 * or PostgreSQL's SQLSTATE (`23505`), plus the module's own codes
 * (`bad_request`, `forbidden`, `readonly`, `not_found`, `timeout`, `unavailable`).
 * Pure: no I/O.
 */

export class DbError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    /** Position of the failing statement in a batch. */
    readonly index?: number,
  ) {
    super(message);
    this.name = 'DbError';
  }

  at(index: number): DbError {
    return new DbError(this.status, this.code, this.message, index);
  }
}

export const badRequest = (message: string): DbError => new DbError(400, 'bad_request', message);

export interface ErrorBody {
  error: { code: string; message: string; index?: number };
}

export function errorBody(e: DbError): ErrorBody {
  return { error: e.index === undefined ? { code: e.code, message: e.message } : { code: e.code, message: e.message, index: e.index } };
}

/** `ERR <code> <message>\n` for the line protocol; a batch failure names its statement. */
export function errorLine(e: DbError): string {
  const msg = (e.index === undefined ? e.message : `statement ${e.index}: ${e.message}`).replace(/[\r\n]+/g, ' ');
  return `ERR ${e.code} ${msg}\n`;
}

function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/**
 * A better-sqlite3 error: SqliteError carries `code` (the extended result
 * code name); TypeError/RangeError come from binding (wrong parameter count
 * or type) and are the request's fault.
 */
export function fromSqlite(err: unknown, readonly = false): DbError {
  if (err instanceof DbError) return err;
  const code = (err as { code?: unknown } | null)?.code;
  const message = messageOf(err);
  if (typeof code === 'string' && code.startsWith('SQLITE_')) {
    if (code.startsWith('SQLITE_BUSY') || code.startsWith('SQLITE_LOCKED')) return new DbError(503, code, message);
    if (code.startsWith('SQLITE_INTERRUPT')) return new DbError(504, 'timeout', message);
    if (code.startsWith('SQLITE_READONLY') && readonly) return new DbError(403, 'readonly', `database is read-only (db.readonly=true): ${message}`);
    if (/^SQLITE_(IOERR|CORRUPT|CANTOPEN|FULL|NOMEM|NOTADB|PROTOCOL|INTERNAL|PERM)/.test(code)) return new DbError(500, code, message);
    return new DbError(400, code, message);
  }
  if (err instanceof TypeError || err instanceof RangeError) return badRequest(message);
  return new DbError(500, 'internal', message);
}

const NET_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH', 'ECONNABORTED']);

/** A `pg` error: `code` is the SQLSTATE for server errors, a Node errno for network ones. */
export function fromPg(err: unknown): DbError {
  if (err instanceof DbError) return err;
  const code = (err as { code?: unknown } | null)?.code;
  const message = messageOf(err);
  if (typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code)) {
    if (code === '57014') return new DbError(504, 'timeout', message);
    if (code === '25006') return new DbError(403, 'readonly', message);
    // Connection exceptions, server shutting down or starting, too many connections.
    if (code.startsWith('08') || code === '57P01' || code === '57P02' || code === '57P03' || code.startsWith('53')) return new DbError(503, code, message);
    // Serialization failure, deadlock, lock not available: retry later.
    if (code === '40001' || code === '40P01' || code === '55P03') return new DbError(503, code, message);
    if (code.startsWith('58') || code.startsWith('XX')) return new DbError(500, code, message);
    return new DbError(400, code, message);
  }
  if (typeof code === 'string' && NET_CODES.has(code)) return new DbError(503, 'unavailable', `database unreachable: ${message}`);
  if (/Connection terminated|connection error|Connection ended|not queryable|timeout exceeded when trying to connect|Client was closed/i.test(message)) {
    return new DbError(503, 'unavailable', `database unreachable: ${message}`);
  }
  if (/Query read timeout/i.test(message)) return new DbError(504, 'timeout', message);
  if (err instanceof TypeError || err instanceof RangeError) return badRequest(message);
  return new DbError(500, 'internal', message);
}

/** MySQL/MariaDB errors that mean "busy or gone: retry later" (by errno). */
const MYSQL_RETRY = new Map<number, true>([
  [1213, true], // ER_LOCK_DEADLOCK
  [1205, true], // ER_LOCK_WAIT_TIMEOUT
  [1040, true], // ER_CON_COUNT_ERROR
  [1203, true], // ER_TOO_MANY_USER_CONNECTIONS
  [1053, true], // ER_SERVER_SHUTDOWN
  [1927, true], // ER_CONNECTION_KILLED
  [1317, true], // ER_QUERY_INTERRUPTED
  [2006, true], // CR_SERVER_GONE_ERROR
  [2013, true], // CR_SERVER_LOST
]);
/** The server's or the disk's fault (by errno). */
const MYSQL_SERVER = new Set([1021, 1030, 1037, 1041, 1114, 1194, 1195, 1815, 1026, 1034, 1035]);
/** Query over max_statement_time (MariaDB) or max_execution_time (MySQL). */
const MYSQL_TIMEOUT = new Set([1969, 3024]);
/** Writes refused: read-only transaction or server (--read-only). */
const MYSQL_READONLY = new Set([1792, 1290]);

/**
 * A mysql2 error: server errors carry `code` (`ER_DUP_ENTRY`), `errno` and
 * `sqlState`; client and network ones a Node errno or a `PROTOCOL_*` code
 * and `fatal`. Same status rules as PostgreSQL's SQLSTATEs.
 */
export function fromMysql(err: unknown): DbError {
  if (err instanceof DbError) return err;
  const e = (err ?? {}) as { code?: unknown; errno?: unknown; sqlState?: unknown; fatal?: unknown };
  const message = messageOf(err);
  const code = typeof e.code === 'string' ? e.code : '';
  const errno = typeof e.errno === 'number' ? e.errno : 0;
  const hasState = typeof e.sqlState === 'string' && e.sqlState !== '';
  if (hasState && errno > 0) {
    const name = code || String(errno);
    if (MYSQL_TIMEOUT.has(errno)) return new DbError(504, 'timeout', message);
    if (MYSQL_READONLY.has(errno)) return new DbError(403, 'readonly', message);
    if (MYSQL_RETRY.has(errno) || (e.sqlState as string).startsWith('08')) return new DbError(503, name, message);
    if (MYSQL_SERVER.has(errno)) return new DbError(500, name, message);
    return new DbError(400, name, message);
  }
  if (NET_CODES.has(code) || code.startsWith('PROTOCOL_') || e.fatal === true || /closed state|connection lost|Pool is closed/i.test(message)) {
    return new DbError(503, 'unavailable', `database unreachable: ${message}`);
  }
  if (err instanceof TypeError || err instanceof RangeError) return badRequest(message);
  return new DbError(500, 'internal', message);
}
