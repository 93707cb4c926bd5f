// SPDX-License-Identifier: LGPL-3.0-or-later
/**
 * Sending to connections, and delivery of a payload to a channel's
 * subscribers. A connection's first frame in a tick leaves at once (a lone
 * publish waits for nothing: measured, holding it until the tick's flush
 * delayed every subscriber by the whole delivery loop); its later frames in
 * the same tick (a publisher's burst) are corked and leave in one write when
 * the connection module flushes the tick.
 */
import type { Conn, State } from './state.ts';

const TEXT = { binary: false } as const;

/** Queues a frame; the send buffer is checked against max_buffered when the tick's writes are flushed. */
export function sendTo(state: State, conn: Conn, payload: Buffer): void {
  const ws = conn.ws;
  if (conn.closed || ws.readyState !== 1) return;
  if (!conn.corked) {
    // First frame this tick: written now; the flush checks the send buffer (and uncorks a burst).
    conn.corked = true;
    state.corked.push(conn);
    if (!state.flushScheduled) {
      state.flushScheduled = true;
      process.nextTick(state.impl.flush, state);
    }
  } else if (conn.burst !== true) {
    // A second frame in the same tick: the rest of this tick's frames leave in one write.
    conn.burst = true;
    conn.socket.cork();
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
