// SPDX-License-Identifier: LGPL-3.0-or-later
/**
 * The HTTP host's slow-loris defence (`--http-headers-timeout`: a request
 * head must be whole within that long, else 408 and close; a request body
 * within the request timeout likewise), and its list of connections for
 * closing idle ones at shutdown.
 *
 * Why not node's own: an http.Server that has emitted 'listening' keeps
 * every parser in a native ConnectionsList, two ordered sets updated at
 * every message's start and end. Measured as a duet (the host with and
 * without it, same build, keep-alive hello): about 7% of the host's CPU per
 * request. Here a request costs one counter increment (`requestSeen`); a
 * sweep every `headersTimeout / 4` (100 ms to 2 s, as node's check interval
 * was) looks at each connection instead:
 *
 * - a new request head was completed since the last sweep: the clock of the
 *   next head starts again;
 * - a response is in flight (the socket's `_httpMessage`): the handler's
 *   time is not the client's, but a body still arriving after the request
 *   timeout is;
 * - otherwise the connection is between requests: once bytes of a next head
 *   have arrived (`bytesRead` grew) it has `headersTimeout` to complete it.
 *   A fresh connection's first head runs from accept.
 *
 * The deadlines are as coarse as node's were (one sweep interval).
 */
import type { Socket } from 'node:net';
import { responseOnSocket } from '../util/node-internals.ts';

interface Guarded {
  readonly socket: Socket;
  /** Request heads completed (bumped by the host per request). */
  requests: number;
  /** `requests` at the last sweep. */
  seen: number;
  /** `bytesRead` when the last head completed (or at accept). */
  bytes: number;
  /** When the current head started (ms), 0 while none is in progress. */
  headAt: number;
  /** When the current request's head completed (ms). */
  requestAt: number;
}

export interface HeadGuardOptions {
  headersTimeoutMs: number;
  requestTimeoutMs: number;
  /** A connection missed a deadline: answer 408 and close it. */
  expire(socket: Socket): void;
}

export class HeadGuard {
  private readonly conns = new Map<Socket, Guarded>();
  private timer: NodeJS.Timeout | null;
  readonly intervalMs: number;
  /** One shared 'close' listener per guard (no closure per connection). */
  private readonly onClose: (this: Socket) => void;

  constructor(private readonly opts: HeadGuardOptions) {
    this.intervalMs = Math.min(2000, Math.max(100, Math.floor(opts.headersTimeoutMs / 4)));
    const conns = this.conns;
    this.onClose = function (this: Socket) {
      conns.delete(this);
    };
    // Unref'd, and kept while the host lives: starting and stopping it as the map empties would cost a connection-per-request load a timer each time.
    this.timer = setInterval(() => this.sweep(Date.now()), this.intervalMs);
    this.timer.unref();
  }

  /** A connection handed to the host: its first head runs from now. */
  track(socket: Socket): void {
    const now = Date.now();
    this.conns.set(socket, { socket, requests: 0, seen: 0, bytes: socket.bytesRead, headAt: now, requestAt: now });
    socket.on('close', this.onClose);
  }

  /** The socket left HTTP (upgraded) or closed. */
  untrack(socket: Socket): void {
    if (this.conns.delete(socket)) socket.removeListener('close', this.onClose);
  }

  /** A request head on `socket` is complete. */
  requestSeen(socket: Socket): void {
    const g = this.conns.get(socket);
    if (g !== undefined) g.requests++;
  }

  get size(): number {
    return this.conns.size;
  }

  /** Checks every connection's deadline as of `now` (ms). */
  sweep(now: number): void {
    const { headersTimeoutMs, requestTimeoutMs } = this.opts;
    let late: Socket[] | null = null;
    for (const g of this.conns.values()) {
      const s = g.socket;
      if (g.requests !== g.seen) {
        g.seen = g.requests;
        g.bytes = s.bytesRead;
        g.headAt = 0;
        g.requestAt = now;
        continue;
      }
      const res = responseOnSocket(s) as { req?: { complete?: boolean } } | null;
      if (res !== null) {
        if (res.req?.complete === false && now - g.requestAt > requestTimeoutMs) (late ??= []).push(s);
        continue;
      }
      if (g.headAt === 0) {
        if (s.bytesRead !== g.bytes) g.headAt = now;
      } else if (now - g.headAt > headersTimeoutMs) (late ??= []).push(s);
    }
    if (late !== null) {
      for (const s of late) {
        this.untrack(s);
        this.opts.expire(s);
      }
    }
  }

  /** Connections between requests with no next head begun (what node's closeIdleConnections closed). */
  idle(): Socket[] {
    const out: Socket[] = [];
    for (const g of this.conns.values()) {
      const s = g.socket;
      if (g.requests === g.seen && g.headAt === 0 && s.bytesRead === g.bytes && responseOnSocket(s) === null) out.push(s);
    }
    return out;
  }

  all(): Socket[] {
    return [...this.conns.keys()];
  }

  close(): void {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
  }
}
