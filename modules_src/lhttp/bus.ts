// SPDX-License-Identifier: LGPL-3.0-or-later
/**
 * The bus: who is subscribed to what (exact channels in one map, wildcard
 * patterns in another), and publishing to local subscribers and, when
 * configured, to the other servers over Redis (redis-bus.ts).
 */
import { deliverExact, deliverSet } from './output.ts';
import { redisPsubscribe, redisPublish, redisPunsubscribe, redisSubscribe, redisUnsubscribe } from './redis-bus.ts';
import type { Conn, State } from './state.ts';
import { isWildcard, matchTokens, tokens, toGlob, validPattern, validSubject } from './subjects.ts';
import { warnLimited } from './warn.ts';

export function subscribe(state: State, conn: Conn, pattern: string): void {
  if (conn.closed || conn.ws.readyState !== 1 || conn.subs.has(pattern)) return;
  if (!validPattern(pattern)) {
    state.stats.badChannels++;
    return;
  }
  if (conn.subs.size >= state.options.maxSubscriptions) {
    state.stats.cappedSubscriptions++;
    warnLimited(state, 'subs', { conn: conn.id, limit: state.options.maxSubscriptions }, 'lhttp connection at lhttp.max_subscriptions: subscribe ignored');
    return;
  }
  conn.subs.add(pattern);
  if (isWildcard(pattern)) {
    let w = state.wild.get(pattern);
    if (w === undefined) {
      w = { tokens: tokens(pattern), subs: new Set(), glob: toGlob(pattern) };
      state.wild.set(pattern, w);
      redisPsubscribe(state, pattern, w.glob);
    }
    w.subs.add(conn);
  } else {
    let set = state.exact.get(pattern);
    if (set === undefined) {
      set = new Set();
      state.exact.set(pattern, set);
      redisSubscribe(state, pattern);
    }
    set.add(conn);
  }
}

export function unsubscribe(state: State, conn: Conn, pattern: string): void {
  // Unknown channels (never subscribed) are ignored: the original panics here.
  if (!conn.subs.delete(pattern)) return;
  removeSub(state, conn, pattern);
}

/** Removes conn from the pattern's subscribers (conn.subs is the caller's business). */
export function removeSub(state: State, conn: Conn, pattern: string): void {
  const w = state.wild.get(pattern);
  if (w !== undefined) {
    w.subs.delete(conn);
    if (w.subs.size === 0) {
      state.wild.delete(pattern);
      redisPunsubscribe(state, pattern, w.glob);
    }
    return;
  }
  const set = state.exact.get(pattern);
  if (set !== undefined) {
    set.delete(conn);
    if (set.size === 0) {
      state.exact.delete(pattern);
      redisUnsubscribe(state, pattern);
    }
  }
}

/** Delivers a payload to local subscribers of `subject` and publishes it on Redis. False for an invalid subject. */
export function publishPayload(state: State, subject: string, payload: Buffer): boolean {
  if (!validSubject(subject)) {
    state.stats.badChannels++;
    return false;
  }
  state.stats.published++;
  deliverExact(state, subject, payload);
  if (state.wild.size > 0) for (const w of state.wild.values()) if (matchTokens(w.tokens, subject)) deliverSet(state, w.subs, payload);
  if (state.redis !== null) redisPublish(state, state.redis, subject, payload);
  return true;
}
