// SPDX-License-Identifier: LGPL-3.0-or-later
/**
 * The HTTP host's slow-loris defence (`--http-headers-timeout`: a request
 * head must be whole within that long, else 408 and close; a request body
 * within the request timeout likewise), and its view of which connections
 * are idle at shutdown.
 *
 * Why not node's own: an http.Server that has emitted 'listening' keeps
 * every parser in a native ConnectionsList, two ordered sets updated at
 * every message's start and end. Measured as a duet (the host with and
 * without it, same build, keep-alive hello): 7-13% of the host's CPU per
 * request. Here a request costs one counter increment on the connection's
 * record (the server's, found through `HostConnections`: no list of our
 * own to add to and delete from per connection); a sweep every
 * `headersTimeout / 4` (100 ms to 2 s, node's check interval before) looks
 * at each HTTP connection instead:
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

/** A connection's deadline state, kept on the server's connection record. */
export interface HeadState {
  /** Handed to the host and still HTTP (not upgraded). */
  guarded: boolean;
  /** Request heads completed (bumped by the host per request). */
  requests: number;
  /** `requests` at the last sweep. */
  seen: number;
  /** `bytesRead` when the sweep last saw a head completed (or at accept). */
  bytes: number;
  /** When the current head started (ms), 0 while none is in progress. */
  headAt: number;
  /** When the current request began (ms): its head's start if a sweep saw it, else when a sweep saw it complete. */
  requestAt: number;
}

/** The host's connections, as the server keeps them. */
export interface HostConnections {
  /** The record of a live connection. */
  stateOf(socket: Socket): HeadState | undefined;
  /** Every live connection with its record. */
  forEach(fn: (socket: Socket, st: HeadState) => void): void;
}

export interface HeadGuardOptions {
  headersTimeoutMs: number;
  requestTimeoutMs: number;
  /** A connection missed a deadline: answer 408 and close it. */
  expire(socket: Socket): void;
}

export class HeadGuard {
  private timer: NodeJS.Timeout | null;
  readonly intervalMs: number;

  constructor(
    private readonly conns: HostConnections,
    private readonly opts: HeadGuardOptions,
  ) {
    this.intervalMs = Math.min(2000, Math.max(100, Math.floor(opts.headersTimeoutMs / 4)));
    // Unref'd, and kept while the host lives (not started and stopped as connections come and go).
    this.timer = setInterval(() => this.sweep(Date.now()), this.intervalMs);
    this.timer.unref();
  }

  /** A connection handed to the host: its first head runs from now. */
  track(socket: Socket): void {
    const st = this.conns.stateOf(socket);
    if (st === undefined) return;
    st.guarded = true;
    st.requests = st.seen = 0;
    st.bytes = socket.bytesRead;
    st.headAt = st.requestAt = Date.now();
  }

  /** The socket left HTTP (upgraded): its bytes are no longer request heads. */
  untrack(socket: Socket): void {
    const st = this.conns.stateOf(socket);
    if (st !== undefined) st.guarded = false;
  }

  /** A request head on `socket` is complete. */
  requestSeen(socket: Socket): void {
    const st = this.conns.stateOf(socket);
    if (st !== undefined) st.requests++;
  }

  /** Checks every HTTP connection's deadline as of `now` (ms). */
  sweep(now: number): void {
    const { headersTimeoutMs, requestTimeoutMs } = this.opts;
    const late: Socket[] = [];
    this.conns.forEach((s, g) => {
      if (!g.guarded) return;
      if (g.requests !== g.seen) {
        g.seen = g.requests;
        g.bytes = s.bytesRead;
        // The whole request counts from its head's first byte, as far as the sweeps saw it.
        g.requestAt = g.headAt !== 0 ? g.headAt : now;
        g.headAt = 0;
        return;
      }
      const res = responseOnSocket(s) as { req?: { complete?: boolean } } | null;
      if (res !== null) {
        if (res.req?.complete === false && now - g.requestAt > requestTimeoutMs) late.push(s);
        return;
      }
      if (g.headAt === 0) {
        if (s.bytesRead !== g.bytes) g.headAt = now;
      } else if (now - g.headAt > headersTimeoutMs) late.push(s);
    });
    for (const s of late) {
      this.untrack(s);
      this.opts.expire(s);
    }
  }

  /** HTTP connections between requests with no next head begun (what node's closeIdleConnections closed). */
  idle(): Socket[] {
    const out: Socket[] = [];
    this.conns.forEach((s, g) => {
      if (g.guarded && g.requests === g.seen && g.headAt === 0 && s.bytesRead === g.bytes && responseOnSocket(s) === null) out.push(s);
    });
    return out;
  }

  /** Every HTTP connection. */
  all(): Socket[] {
    const out: Socket[] = [];
    this.conns.forEach((s, g) => {
      if (g.guarded) out.push(s);
    });
    return out;
  }

  close(): void {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
  }
}
