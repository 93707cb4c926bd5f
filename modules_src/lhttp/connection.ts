// SPDX-License-Identifier: LGPL-3.0-or-later
/**
 * Connection lifecycle: a freshly upgraded WebSocket joins the state
 * (listeners are trampolines through `state.impl`, so a socket opened under
 * an old version runs the current code), leaves it on close (its
 * subscriptions dropped, the processor's onClose run), and is cut when it
 * stops reading (max_buffered, checked when the tick's writes are flushed).
 */
import type { Duplex } from 'node:stream';
import type { WebSocket } from 'ws';
import { removeSub } from './bus.ts';
import { callHook, makeContext, processorFor, settle } from './context.ts';
import type { Conn, State } from './state.ts';
import { warnLimited } from './warn.ts';

/** Wires a freshly upgraded WebSocket into the state. */
export function attach(state: State, ws: WebSocket, socket: Duplex, remoteAddress: string): Conn {
  const conn: Conn = {
    id: ++state.nextId,
    ws,
    socket,
    corked: false,
    burst: false,
    remoteAddress,
    subs: new Set(),
    opened: false,
    last: null,
    busy: false,
    queue: [],
    paused: false,
    closed: false,
    data: {},
    alive: true,
    upstreamRefused: false,
  };
  state.conns.add(conn);
  state.stats.connectionsTotal++;
  // Trampolines: always the current version's code.
  ws.on('message', (data: Buffer, isBinary: boolean) => state.impl.onFrame(state, conn, data, isBinary));
  ws.on('close', () => state.impl.onClose(state, conn));
  ws.on('pong', () => (conn.alive = true));
  ws.on('error', () => undefined); // protocol errors: ws closes the connection itself ('close' follows)
  return conn;
}

export function onClose(state: State, conn: Conn): void {
  if (conn.closed) return;
  conn.closed = true;
  conn.queue.length = 0;
  for (const p of conn.subs) removeSub(state, conn, p);
  conn.subs.clear();
  state.conns.delete(conn);
  const last = conn.last;
  conn.last = null;
  if (last !== null) {
    const proc = processorFor(last.command);
    if (proc?.onClose) void settle(state, callHook(state, proc, 'onClose', makeContext(state, conn, last, null)));
  }
}

/** Closes a connection whose unsent output passed max_buffered. */
function slowConsumer(state: State, conn: Conn): void {
  if (conn.closed) return;
  state.stats.droppedSlowConsumers++;
  // No more deliveries: drop its subscriptions now, not when the close completes.
  for (const p of conn.subs) removeSub(state, conn, p);
  conn.subs.clear();
  warnLimited(state, 'slow', { conn: conn.id, peer: conn.remoteAddress, buffered: conn.ws.bufferedAmount, limit: state.options.maxBuffered }, 'lhttp slow consumer closed (1008): send buffer over lhttp.max_buffered');
  conn.ws.close(1008, 'slow consumer');
}

export function flush(state: State): void {
  state.flushScheduled = false;
  const list = state.corked;
  state.corked = [];
  const max = state.options.maxBuffered;
  for (const conn of list) {
    conn.corked = false;
    conn.burst = false;
    // Every cork undone: a burst's, and one an older version's send left in a RELOAD's tick (it corked every first frame).
    const s = conn.socket;
    while (s.writableCorked > 0) s.uncork();
    // What the kernel did not take stays in user space: past the cap, the peer is not reading.
    if (!conn.closed && conn.ws.bufferedAmount > max) slowConsumer(state, conn);
  }
}
