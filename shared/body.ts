// SPDX-License-Identifier: MIT
/**
 * One request-body reader for every HTTP service: the declared
 * `Content-Length` is checked before a byte is read, a chunked body is
 * counted as it arrives, and past `max` the answer is `413` and the
 * connection is closed (the rest of the body is never read). Listeners are
 * removed once the body is settled, whichever way.
 */
import type { IncomingMessage, OutgoingHttpHeaders, ServerResponse } from 'node:http';
import type { KitErrorCode } from './errors.js';

/** The body is over `max` (declared or counted). `answered`: the 413 was written and the connection closes. */
export class BodyTooLargeError extends Error {
  override name = 'BodyTooLargeError';
  readonly code = 'HRMR_BODY_TOO_LARGE' satisfies KitErrorCode;
  readonly status = 413;
  constructor(
    readonly max: number,
    readonly answered: boolean,
  ) {
    super(`request body over ${max} bytes`);
  }
}

/** The client went away (or the request failed) before the body was complete. */
export class BodyAbortedError extends Error {
  override name = 'BodyAbortedError';
  readonly code = 'HRMR_BODY_ABORTED' satisfies KitErrorCode;
  constructor(cause?: unknown) {
    super('request body aborted: the client went away');
    if (cause !== undefined) this.cause = cause;
  }
}

/** The 413 written by {@link readBody} when given `res` (defaults: `413 Payload Too Large\n`, text/plain). */
export interface TooLargeReply {
  readonly body?: string | Uint8Array;
  readonly type?: string;
  /** More headers (`Server`, ...); `Connection: close` is always sent. */
  readonly headers?: OutgoingHttpHeaders;
}

export interface ReadBodyOptions {
  /** Most bytes accepted; a larger body (declared or counted) is refused. */
  readonly max: number;
  /**
   * Answer the 413 on this response (then close the connection) instead of
   * rejecting: the promise resolves `null` when the body was refused or the
   * client went away, so there is nothing left to answer.
   */
  readonly res?: ServerResponse;
  /** The 413's body, type and headers when `res` is given. */
  readonly tooLarge?: TooLargeReply;
  /** Decode the body into a string with this encoding (default: a Buffer). */
  readonly encoding?: BufferEncoding;
}

const EMPTY = Buffer.alloc(0);
const TEXT_PLAIN = 'text/plain; charset=utf-8';
const DEFAULT_413 = '413 Payload Too Large\n';

/**
 * Writes a 413 and closes the connection after it (the unread rest of the
 * body is never drained): the one policy, for callers that map
 * {@link BodyTooLargeError} themselves.
 */
export function answerTooLarge(res: ServerResponse, reply: TooLargeReply = {}): void {
  if (res.headersSent || res.destroyed) {
    res.destroy();
    return;
  }
  const body = reply.body ?? DEFAULT_413;
  res.shouldKeepAlive = false;
  res.writeHead(413, { 'Content-Type': reply.type ?? TEXT_PLAIN, 'Content-Length': typeof body === 'string' ? Buffer.byteLength(body) : body.byteLength, ...reply.headers, Connection: 'close' });
  res.end(res.req?.method === 'HEAD' ? undefined : body);
}

/** What the request head says about its body: `-1` chunked (or unknown), else the declared length. From rawHeaders: `req.headers` is not built for it. */
function declaredLength(req: IncomingMessage): number {
  const raw = req.rawHeaders;
  let declared = 0;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!;
    if (name.length === 17 && name.toLowerCase() === 'transfer-encoding') return -1;
    if (name.length === 14 && name.toLowerCase() === 'content-length') declared = Number(raw[i + 1]);
  }
  return declared;
}

/**
 * The callback form of {@link readBody}, for hot paths that avoid a promise
 * per request: `done(null, body)`, or `done(err)` with a
 * {@link BodyTooLargeError} (`answered` when `o.res` was given) or a
 * {@link BodyAbortedError}. `done` runs once; it may run before this returns
 * (an empty or over-declared body).
 */
export function readBodyCallback(req: IncomingMessage, o: Omit<ReadBodyOptions, 'encoding'>, done: (err: BodyTooLargeError | BodyAbortedError | null, body?: Buffer) => void): void {
  const max = o.max;
  const declared = declaredLength(req);
  if (declared > max) return refuse(o, done);
  // No Transfer-Encoding and no (or a zero) Content-Length: no body (RFC 9112 6.3), nothing to wait for.
  if (declared === 0 || req.readableEnded) return done(null, EMPTY);
  // A declared length: node's parser pushes a body that came with the head right after this
  // handler returns, in the same read, so one tick later it is usually all buffered.
  if (declared > 0) process.nextTick(whole, req, o, done, declared);
  else listen(req, o, done);
}

/**
 * The declared body, taken from the request's buffer when all of it is
 * there (node runs ticks between its parser's callbacks, so this runs once
 * the bytes that came with the head are pushed): no data/end/error/close
 * listeners and closures per request. Otherwise read as it arrives.
 */
function whole(req: IncomingMessage, o: Omit<ReadBodyOptions, 'encoding'>, done: BodyDone, declared: number): void {
  if (req.destroyed) return done(new BodyAbortedError());
  if (req.readableLength !== declared || req.readableFlowing !== null || req.readableEncoding !== null || req.listenerCount('data') > 0) return listen(req, o, done);
  const body = req.read() as Buffer | null;
  // Flowing from here on, so the request ends ('end', then node lets the parser go) as when a listener reads it.
  req.resume();
  done(null, body === null ? EMPTY : body);
}

type BodyDone = (err: BodyTooLargeError | BodyAbortedError | null, body?: Buffer) => void;

/** Reads the body as it arrives (chunked, or not all there yet). */
function listen(req: IncomingMessage, o: Omit<ReadBodyOptions, 'encoding'>, done: BodyDone): void {
  const max = o.max;
  const chunks: Buffer[] = [];
  let size = 0;
  const cleanup = (): void => {
    req.off('data', onData);
    req.off('end', onEnd);
    req.off('error', onGone);
    req.off('close', onGone);
  };
  const onData = (c: Buffer): void => {
    size += c.length;
    if (size <= max) {
      chunks.push(c);
      return;
    }
    cleanup();
    chunks.length = 0;
    // Read no further: the 413 goes out, then the connection closes.
    req.pause();
    refuse(o, done);
  };
  const onEnd = (): void => {
    cleanup();
    done(null, chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size));
  };
  const onGone = (err?: unknown): void => {
    cleanup();
    done(new BodyAbortedError(err));
  };
  req.on('data', onData);
  req.on('end', onEnd);
  // node emits 'error' on a request only when someone listens: this one goes with the others.
  req.on('error', onGone);
  req.on('close', onGone);
}

function refuse(o: Omit<ReadBodyOptions, 'encoding'>, done: (err: BodyTooLargeError) => void): void {
  if (o.res !== undefined) answerTooLarge(o.res, o.tooLarge);
  done(new BodyTooLargeError(o.max, o.res !== undefined));
}

/**
 * Reads a request body of at most `max` bytes.
 *
 * Without `res`, it rejects with {@link BodyTooLargeError} (map it to your
 * own 413 with {@link answerTooLarge}, which closes the connection) or
 * {@link BodyAbortedError}. With `res`, it writes the 413 itself and
 * resolves `null` (as it does when the client went away).
 *
 * @example
 * const body = await readBody(req, { max: 64 * 1024, res, encoding: 'utf8' });
 * if (body === null) return; // 413 answered (connection closing), or the client is gone
 */
export function readBody(req: IncomingMessage, o: ReadBodyOptions & { res: ServerResponse; encoding: BufferEncoding }): Promise<string | null>;
export function readBody(req: IncomingMessage, o: ReadBodyOptions & { res: ServerResponse }): Promise<Buffer | null>;
export function readBody(req: IncomingMessage, o: ReadBodyOptions & { encoding: BufferEncoding }): Promise<string>;
export function readBody(req: IncomingMessage, o: ReadBodyOptions): Promise<Buffer>;
export function readBody(req: IncomingMessage, o: ReadBodyOptions): Promise<Buffer | string | null> {
  return new Promise((resolve, reject) => {
    readBodyCallback(req, o, (err, body) => {
      if (err !== null) {
        if (o.res !== undefined) resolve(null);
        else reject(err);
        return;
      }
      resolve(o.encoding === undefined ? body! : body!.toString(o.encoding));
    });
  });
}
