// SPDX-License-Identifier: LGPL-3.0-or-later
/**
 * Sending to connections: frames for one connection in one tick leave in
 * one write (corked, uncorked by the flush the connection module runs), and
 * delivery of a payload to a channel's subscribers.
 */
import type { Conn, State } from './state.ts';

const TEXT = { binary: false } as const;

/** Queues a frame; the send buffer is checked against max_buffered when the tick's writes are flushed. */
export function sendTo(state: State, conn: Conn, payload: Buffer): void {
  const ws = conn.ws;
  if (conn.closed || ws.readyState !== 1) return;
  // Frames sent to one connection in the same tick (a publisher's burst) leave in one write.
  if (!conn.corked) {
    conn.corked = true;
    conn.socket.cork();
    state.corked.push(conn);
    if (!state.flushScheduled) {
      state.flushScheduled = true;
      process.nextTick(state.impl.flush, state);
    }
  }
  ws.send(payload, TEXT);
  state.stats.messagesOut++;
}

export function deliverExact(state: State, subject: string, payload: Buffer): void {
  const set = state.exact.get(subject);
  if (set !== undefined) deliverSet(state, set, payload);
}

export function deliverSet(state: State, set: Set<Conn>, payload: Buffer): void {
  // A slow consumer closed during the loop removes itself from the set: Set iteration copes.
  for (const conn of set) sendTo(state, conn, payload);
}
