// SPDX-License-Identifier: LGPL-3.0-or-later
/** Canned bytes the router writes itself. Built once: no per-connection allocation. */
import type { Socket } from 'node:net';
import { HTTP_METHOD_PREFIXES } from '../http/methods.ts';

/** A whole `503` (retry in a second, connection closed) with a one-line text body. */
function closing503(body: string): Buffer {
  const head = `HTTP/1.1 503 Service Unavailable\r\nRetry-After: 1\r\nConnection: close\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n`;
  return Buffer.from(head + body, 'latin1');
}

export const HTTP_503 = closing503('Service Unavailable: module is reloading, retry shortly\n');

export const ERR_NO_ROUTE = Buffer.from('ERR no route\n');
export const ERR_BUSY = Buffer.from('ERR busy\n');

/** `ERR busy` for a client whose first bytes are an HTTP request. */
export const HTTP_503_BUSY = closing503('Service Unavailable: server busy, retry shortly\n');

const HTTP_METHODS = HTTP_METHOD_PREFIXES.map((p) => Buffer.from(p, 'latin1'));

const body501 = '501 Not Implemented\n';
/** A request line whose method no route serves (see looksLikeHttpRequest); the connection is closed. */
export const HTTP_501 = Buffer.from(
  'HTTP/1.1 501 Not Implemented\r\n' +
    'Connection: close\r\n' +
    'Content-Type: text/plain; charset=utf-8\r\n' +
    `Content-Length: ${Buffer.byteLength(body501)}\r\n` +
    '\r\n' +
    body501,
  'latin1',
);

/** Whether `data` starts like an HTTP/1 request line (`METHOD ` and a path): true, false, or null while too short to tell. */
export function sniffHttp(data: Buffer | null): boolean | null {
  if (data === null || data.length === 0) return null;
  let undecided = false;
  for (const m of HTTP_METHODS) {
    const n = Math.min(m.length, data.length);
    if (data.compare(m, 0, n, 0, n) !== 0) continue;
    if (n === m.length) return true;
    undecided = true;
  }
  return undecided ? null : false;
}

/** The busy refusal in the client's protocol: a 503 for an HTTP request, `ERR busy` otherwise. */
export function busyReply(data: Buffer | null): Buffer {
  return sniffHttp(data) === true ? HTTP_503_BUSY : ERR_BUSY;
}

/**
 * Refuses a connection as busy in its own protocol (see busyReply). If its
 * first bytes are too few to tell (`PO` could be `POST `), reads up to
 * `waitMs` more to decide.
 */
export function endBusy(socket: Socket, data: Buffer | null, ended: boolean, waitMs: number): void {
  if (data === null || ended || waitMs <= 0 || sniffHttp(data) !== null) return endWith(socket, busyReply(data));
  let buf: Buffer = data;
  const done = (): void => {
    clearTimeout(timer);
    socket.removeListener('data', onData);
    socket.removeListener('end', done);
    socket.removeListener('close', onClose);
    endWith(socket, busyReply(buf));
  };
  const onData = (chunk: Buffer): void => {
    buf = Buffer.concat([buf, chunk]);
    if (sniffHttp(buf) !== null) done();
  };
  const onClose = (): void => clearTimeout(timer);
  const timer = setTimeout(done, waitMs);
  socket.on('data', onData);
  socket.once('end', done);
  socket.once('close', onClose);
  socket.resume();
}

/** How long a rejected client gets to read our last words and close. */
export const LINGER_MS = 2000;

/**
 * Writes `bytes`, ends our side, and discards whatever the client still
 * sends until it closes (or LINGER_MS passes), so the reply is not lost to
 * a reset caused by unread input.
 */
export function endWith(socket: Socket, bytes: Buffer): void {
  socket.removeAllListeners('data');
  socket.end(bytes);
  discardUntilClosed(socket);
}

/**
 * For a socket whose writable side is done (or ending) and whose input
 * nobody will read: discard the input so the client's FIN is seen ('end'),
 * after which the socket destroys itself (both sides done); a client that
 * does not close within LINGER_MS is cut off. Without this, unread bytes
 * (peeked bytes given back included) keep 'end' from ever firing and the
 * descriptor stays open for good.
 */
export function discardUntilClosed(socket: Socket): void {
  socket.on('data', discard);
  socket.resume();
  socket.setTimeout(LINGER_MS, destroyThis);
}

function discard(): void {}

function destroyThis(this: Socket): void {
  this.destroy();
}
