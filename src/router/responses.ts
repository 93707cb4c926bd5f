// SPDX-License-Identifier: LGPL-3.0-or-later
/** Canned bytes the router writes itself. Built once: no per-connection allocation. */
import type { Socket } from 'node:net';

const body503 = 'Service Unavailable: module is reloading, retry shortly\n';
export const HTTP_503 = Buffer.from(
  'HTTP/1.1 503 Service Unavailable\r\n' +
    'Retry-After: 1\r\n' +
    'Connection: close\r\n' +
    'Content-Type: text/plain; charset=utf-8\r\n' +
    `Content-Length: ${Buffer.byteLength(body503)}\r\n` +
    '\r\n' +
    body503,
  'latin1',
);

export const ERR_NO_ROUTE = Buffer.from('ERR no route\n');
export const ERR_BUSY = Buffer.from('ERR busy\n');

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
