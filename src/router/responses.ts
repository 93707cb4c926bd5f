// SPDX-License-Identifier: LGPL-3.0-or-later
/** Canned bytes the router writes itself. Built once: no per-connection allocation. */

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
const LINGER_MS = 2000;

/**
 * Writes `bytes`, ends our side, and discards whatever the client still
 * sends until it closes (or LINGER_MS passes), so the reply is not lost to
 * a reset caused by unread input.
 */
export function endWith(socket: import('node:net').Socket, bytes: Buffer): void {
  socket.removeAllListeners('data');
  socket.on('data', discard);
  socket.resume();
  socket.end(bytes);
  socket.setTimeout(LINGER_MS, () => socket.destroy());
}

function discard(): void {}
