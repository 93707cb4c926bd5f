// SPDX-License-Identifier: LGPL-3.0-or-later
/**
 * Dead-peer detection (the `ws` README's "detect and close broken
 * connections"): every `lhttp.ping_interval` ms each connection that
 * answered since the last round (a pong, or any frame) is pinged again; one
 * that did not is cut, so a peer that vanished without a FIN is gone within
 * two intervals, with its subscriptions and its connection slot.
 *
 * One timer for all connections (not one per socket): a round is a loop
 * over `state.conns`. The timer lives in the kept state and calls through
 * `state.impl`, so it survives RELOADs and runs the current code.
 */
import type { Conn, State } from './state.ts';
import { warnLimited } from './warn.ts';

/** (Re)starts the timer when the interval changed (start-up, or a RELOAD with a new setting). */
export function setHeartbeat(state: State): void {
  const ms = state.options.pingInterval;
  if (state.pingTimer !== null && state.pingEvery === ms) return;
  stopHeartbeat(state);
  state.pingEvery = ms;
  if (ms <= 0) return;
  // Connections pinged under the old interval get a full new one to answer.
  for (const c of state.conns) c.alive = true;
  state.pingTimer = setInterval(() => state.impl.heartbeat(state), ms);
  state.pingTimer.unref();
}

export function stopHeartbeat(state: State): void {
  if (state.pingTimer !== null) clearInterval(state.pingTimer);
  state.pingTimer = null;
  state.pingEvery = 0;
}

/** One round: cut the connections that did not answer the previous ping, ping the others. */
export function heartbeat(state: State): void {
  for (const conn of state.conns) {
    if (conn.closed) continue;
    // Reading is paused while an async processor holds the connection: its pong cannot be seen yet.
    if (conn.paused) continue;
    if (!conn.alive) {
      deadPeer(state, conn);
      continue;
    }
    conn.alive = false;
    if (conn.ws.readyState === 1) conn.ws.ping();
  }
}

function deadPeer(state: State, conn: Conn): void {
  state.stats.deadPeers++;
  const ms = state.options.pingInterval;
  warnLimited(state, 'dead-peer', { conn: conn.id, peer: conn.remoteAddress, pingInterval: ms }, 'lhttp peer did not answer a ping within lhttp.ping_interval: connection closed');
  // Subscriptions go now (a publish no longer counts it), not when the socket's close comes through.
  state.impl.onClose(state, conn);
  conn.ws.terminate();
}
