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
