// SPDX-License-Identifier: LGPL-3.0-or-later
/**
 * The two interfaces over one backend: HTTP (`{mount}query`, `{mount}batch`,
 * JSON in and out) and the `DB ` line protocol (`OK {json}` / `ERR <code>
 * <message>`). A backend is synchronous (SQLite, on a worker) or returns
 * promises (PostgreSQL); both are handled without an extra tick for the
 * synchronous one. Pure apart from calling the backend.
 */
import { timingSafeEqual } from 'node:crypto';
import { DbError, errorBody, errorLine, fromPg, fromSqlite, type ErrorBody } from './errors.ts';
import { parseBatch, parseLine, parseQuery, type BatchRequest, type QueryRequest } from './request.ts';
import { batchJson, resultJson, type BatchResult, type QueryResult } from './results.ts';

type MaybePromise<T> = T | Promise<T>;

/**
 * The contract every engine implements (SQLite, PostgreSQL, MySQL): the
 * front ends (HTTP and line) only ever call these two. Synchronous on a
 * worker (SQLite) or returning promises (network engines); errors are
 * DbErrors (or engine errors the mappers in errors.ts understand).
 */
export interface Backend {
  query(req: QueryRequest): MaybePromise<QueryResult>;
  batch(req: BatchRequest): MaybePromise<BatchResult>;
}

/** A network engine (PostgreSQL, MySQL): runs on the main thread with its own connection pool. */
export interface RemoteBackend extends Backend {
  /** Proves the server answers (at setup; a failure is only logged). */
  check(): Promise<void>;
  /** The pool's connections, for STATUS. */
  status(): Record<string, number>;
  close(): Promise<void>;
}

export type Op = 'query' | 'batch';

export interface JsonReply {
  status: number;
  headers: Record<string, string>;
  body: string;
}

const JSON_TYPE = 'application/json';

function isPromise<T>(v: MaybePromise<T>): v is Promise<T> {
  return typeof (v as Promise<T>)?.then === 'function';
}

function toDbError(err: unknown): DbError {
  if (err instanceof DbError) return err;
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' && code.startsWith('SQLITE_') ? fromSqlite(err) : fromPg(err);
}

export function errorReply(e: DbError): JsonReply {
  const headers: Record<string, string> = { 'content-type': JSON_TYPE };
  if (e.status === 401) headers['www-authenticate'] = 'Bearer';
  if (e.status === 503) headers['retry-after'] = '1';
  return { status: e.status, headers, body: JSON.stringify(errorBody(e)) };
}

function okReply(json: string): JsonReply {
  return { status: 200, headers: { 'content-type': JSON_TYPE }, body: json };
}

/** Compares a presented token with the configured one in constant time. */
export function tokenMatches(given: string, token: string): boolean {
  const a = Buffer.from(given);
  const b = Buffer.from(token);
  return a.length === b.length && timingSafeEqual(a, b);
}

/** `Authorization: Bearer <token>` check; null when allowed. */
export function checkBearer(header: string | undefined, token: string | null): DbError | null {
  if (token === null) return null;
  const m = header === undefined ? null : /^Bearer\s+(\S+)\s*$/i.exec(header);
  if (m && tokenMatches(m[1]!, token)) return null;
  return new DbError(401, 'forbidden', header === undefined ? 'missing Authorization: Bearer <token>' : 'wrong token');
}

function failReply(err: unknown): JsonReply {
  return errorReply(toDbError(err));
}

/** A reply from a result, or the error reply if making its JSON throws. */
function replyOf<R>(toJson: (r: R) => string): (r: R) => JsonReply {
  return (r) => {
    try {
      return okReply(toJson(r));
    } catch (err) {
      return failReply(err);
    }
  };
}

const queryReply = replyOf(resultJson);
const batchReply = replyOf(batchJson);

/** One HTTP request: status, headers and JSON body (a network engine's answer in one promise step). */
export function httpReply(backend: Backend, op: Op, body: Buffer | string): MaybePromise<JsonReply> {
  try {
    if (op === 'query') {
      const r = backend.query(parseQuery(body));
      return isPromise(r) ? r.then(queryReply, failReply) : queryReply(r);
    }
    const b = backend.batch(parseBatch(body));
    return isPromise(b) ? b.then(batchReply, failReply) : batchReply(b);
  } catch (err) {
    return failReply(err);
  }
}

/**
 * One line of the line protocol. `authed`: the connection already proved
 * the token (or none is set); a `DB AUTH` line is then checked against
 * `token` and answered `OK {}`.
 */
export function lineReply(backend: Backend, line: string, token: string | null): MaybePromise<string> {
  try {
    const cmd = parseLine(line);
    if (cmd.kind === 'auth') {
      if (token !== null && !tokenMatches(cmd.token, token)) return errorLine(new DbError(401, 'forbidden', 'wrong token'));
      return 'OK {}\n';
    }
    if (cmd.kind === 'query') {
      const r = backend.query(cmd.req);
      return isPromise(r) ? r.then(queryLine, failLine) : queryLine(r);
    }
    const b = backend.batch(cmd.req);
    return isPromise(b) ? b.then(batchLine, failLine) : batchLine(b);
  } catch (err) {
    return failLine(err);
  }
}

function failLine(err: unknown): string {
  return errorLine(toDbError(err));
}

/** An `OK` line from a result, or the error line if making its JSON throws. */
function lineOf<R>(toJson: (r: R) => string): (r: R) => string {
  return (r) => {
    try {
      return `OK ${toJson(r)}\n`;
    } catch (err) {
      return failLine(err);
    }
  };
}

const queryLine = lineOf(resultJson);
const batchLine = lineOf(batchJson);

/** An HTTP answer of the db routes as a protocol line. */
export function httpToLine(status: number, text: string): string {
  if (status === 200) return `OK ${text}\n`;
  try {
    const e = (JSON.parse(text) as ErrorBody).error;
    return errorLine(new DbError(status, e.code, e.message, e.index));
  } catch {
    // The host's own short answers (pool timeout or queue full).
    if (status === 504) return 'ERR timeout query over --task-timeout\n';
    if (status === 503) return 'ERR busy pool queue full\n';
    return errorLine(new DbError(status, 'internal', `HTTP ${status} ${text.trim()}`));
  }
}
