// SPDX-License-Identifier: LGPL-3.0-or-later
/**
 * Every place the core relies on Node.js behaviour that is not public API,
 * each behind one small function. test/node-internals.test.ts checks each
 * against the running Node, so a release that changes one fails there, by
 * name, rather than somewhere deep in the routing tests. The range tested is
 * `engines` in package.json.
 */
import type { Server as NetServer, Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { TLSSocket } from 'node:tls';

/**
 * Puts a paused socket back in its initial "not yet flowing" state, so the
 * next reader attaching a 'data' listener (as http.Server does) starts the
 * flow, exactly as on a fresh socket. No public call resets `flowing` to
 * null: `resume()` would start the flow before the next reader is there.
 */
export function resetFlowing(socket: Socket): void {
  (socket as unknown as { _readableState: { flowing: boolean | null } })._readableState.flowing = null;
}

/**
 * The response node's HTTP server is writing on this connection, if any
 * (`socket._httpMessage`). A client error after its head went out must not
 * get a second answer on the wire. Tracking it ourselves would cost every
 * request a map entry.
 */
export function responseOnSocket(socket: Duplex): { headersSent?: boolean } | null {
  return (socket as Duplex & { _httpMessage?: { headersSent?: boolean } })._httpMessage ?? null;
}

/**
 * Hands bytes already read off a socket (the peek) straight to the HTTP
 * parser that the server attached as the socket's 'data' listener. Measured
 * faster than `unshift` (a second trip through the read buffer).
 */
export function feedParser(socket: Socket, data: Buffer): void {
  socket.emit('data', data);
}

/** The raw connection under a server-side TLS socket (node keeps it as `_parent`); no public accessor exists. */
export function rawSocketOf(secure: TLSSocket): Socket | null {
  return (secure as unknown as { _parent?: Socket })._parent ?? null;
}

/**
 * Turns TCP keep-alive on for a listening socket (`server._handle`, a
 * TCPWrap: node has no public call for it). Linux copies SO_KEEPALIVE and
 * TCP_KEEPIDLE to every socket accepted from it, so each connection has
 * keep-alive without the three system calls per connection that the
 * `keepAlive` server option makes. False where that cannot hold (not Linux,
 * or a cluster round-robin worker, whose handle is not the socket): the
 * caller then sets it per connection.
 */
export function keepAliveOnListener(server: NetServer, delayMs: number): boolean {
  const h = (server as unknown as { _handle?: { setKeepAlive?: (on: boolean, delayS: number) => number } | null })._handle;
  if (process.platform !== 'linux' || h == null || typeof h.setKeepAlive !== 'function') return false;
  return h.setKeepAlive(true, Math.max(1, Math.floor(delayMs / 1000))) === 0;
}
