// SPDX-License-Identifier: LGPL-3.0-or-later
/**
 * The Redis bridge: two connections (publish, subscribe) made with the
 * kit's keptRedis (shared/redis.ts), so they outlive RELOADs with one retry
 * and offline policy, and each version attaches its own handlers (the
 * previous version's are removed for it). Every message published here goes
 * to Redis with this server's 8-byte origin in front; messages from other
 * servers are delivered locally, ours are skipped (already delivered).
 */
import { randomBytes } from 'node:crypto';
import { keptRedis, type Keep, type RedisHandlers } from '../../shared/index.ts';
import { ScriptBatcher } from '../relay/redis-batch.ts';
import { deliverExact, deliverSet } from './output.ts';
import type { RedisBus, State } from './state.ts';
import { matchTokens } from './subjects.ts';

/**
 * Connects the bus (first version) or re-attaches this version's handlers to
 * the kept connections (a RELOAD). Call it last in setup: the handlers of a
 * version whose setup failed must not replace the serving version's.
 */
export function attachRedis(ctx: { readonly keep: Keep }, state: State, url: string, prefix: string): RedisBus {
  let bus = state.redis;
  // A bus made before the kit (listeners trampolining through state.impl): replaced by one made with it.
  if (bus !== null && bus.kept !== true) {
    for (const c of [bus.pub, bus.sub]) {
      c.removeAllListeners();
      c.on('error', () => undefined);
      c.disconnect();
    }
    state.redis = bus = null;
  }
  // Up, down, or failing: the same bookkeeping for both connections.
  const updown = (which: 'pub' | 'sub'): RedisHandlers => ({
    ready: () => onRedisStatus(state, which, true),
    close: () => onRedisStatus(state, which, false),
    error: (err) => onRedisStatus(state, which, false, err),
  });
  const pub = keptRedis(ctx, 'lhttp-pub', url, updown('pub'), { connectionName: 'hrmr-lhttp-pub', autoPipelining: true });
  const sub = keptRedis(
    ctx,
    'lhttp-sub',
    url,
    {
      ...updown('sub'),
      messageBuffer: (ch, msg) => onRedisMessage(state, ch, msg),
      // ioredis reports the pattern of a pmessage UTF-8 decoded (see globKey).
      pmessageBuffer: (glob, ch, msg) => onRedisPMessage(state, glob, ch, msg),
    },
    { connectionName: 'hrmr-lhttp-sub' },
  );
  if (bus !== null) return bus;
  const fresh: RedisBus = {
    kept: true,
    url,
    prefix: Buffer.from(prefix, 'utf8').toString('latin1'), // a byte string, like channel names
    origin: randomBytes(8),
    pub,
    sub,
    pubUp: pub.status === 'ready',
    subUp: sub.status === 'ready',
    down: false,
    outages: 0,
    droppedWhileDown: 0,
    dropped: 0,
    published: 0,
    received: 0,
    globs: new Map(),
  };
  state.redis = fresh;
  // Whichever comes first, the outage of a bus that never came up is logged after a while.
  const t = setTimeout(() => {
    if (state.redis === fresh && (!fresh.pubUp || !fresh.subUp) && !fresh.down) markDown(state, fresh, undefined);
  }, 2000);
  t.unref();
  return fresh;
}

function markDown(state: State, bus: RedisBus, err: Error | undefined): void {
  bus.down = true;
  bus.outages++;
  bus.droppedWhileDown = 0;
  state.log.warn({ url: redact(bus.url), err: err?.message }, 'lhttp redis bus down: local delivery goes on, cross-server messages are dropped until it is back');
}

function onRedisStatus(state: State, which: 'pub' | 'sub', up: boolean, err?: Error): void {
  const bus = state.redis;
  if (bus === null) return;
  const wasUp = bus.pubUp && bus.subUp;
  if (which === 'pub') bus.pubUp = up;
  else bus.subUp = up;
  if (which === 'sub' && up) resubscribeAll(state, bus);
  const isUp = bus.pubUp && bus.subUp;
  if (isUp && bus.down) {
    bus.down = false;
    state.log.info({ url: redact(bus.url), channels: state.exact.size, patterns: state.wild.size, droppedDuringOutage: bus.droppedWhileDown }, 'lhttp redis bus back: every live channel re-subscribed');
  } else if (!isUp && (wasUp || err) && !bus.down) {
    markDown(state, bus, err);
  }
}

/** On (re)connect of the subscriber: SUBSCRIBE every live channel, PSUBSCRIBE every live pattern. */
function resubscribeAll(state: State, bus: RedisBus): void {
  bus.globs.clear();
  const chans: string[] = [];
  for (const ch of state.exact.keys()) chans.push(redisName(bus, ch));
  const globs: string[] = [];
  for (const [pattern, w] of state.wild) {
    const key = globKey(bus, w.glob);
    let set = bus.globs.get(key);
    if (set === undefined) {
      set = new Set();
      bus.globs.set(key, set);
      globs.push(redisName(bus, w.glob));
    }
    set.add(pattern);
  }
  for (let i = 0; i < chans.length; i += 1000) void bus.sub.subscribe(...chans.slice(i, i + 1000)).catch(() => undefined);
  for (let i = 0; i < globs.length; i += 1000) void bus.sub.psubscribe(...globs.slice(i, i + 1000)).catch(() => undefined);
}

/** The Redis channel (or glob) for a name: UTF-8 text (names come from UTF-8-checked frames). */
function redisName(bus: RedisBus, name: string): string {
  return Buffer.from(bus.prefix + name, 'latin1').toString();
}

/** The glob as ioredis reports it back in pmessage (UTF-8 decoded). */
function globKey(bus: RedisBus, glob: string): string {
  return Buffer.from(bus.prefix + glob, 'latin1').toString();
}

export function redisSubscribe(state: State, channel: string): void {
  const bus = state.redis;
  if (bus === null || !bus.subUp) return; // resubscribeAll catches up on ready
  void bus.sub.subscribe(redisName(bus, channel)).catch(() => undefined);
}

export function redisUnsubscribe(state: State, channel: string): void {
  const bus = state.redis;
  if (bus === null || !bus.subUp) return;
  void bus.sub.unsubscribe(redisName(bus, channel)).catch(() => undefined);
}

export function redisPsubscribe(state: State, pattern: string, glob: string): void {
  const bus = state.redis;
  if (bus === null) return;
  const key = globKey(bus, glob);
  let set = bus.globs.get(key);
  if (set === undefined) {
    set = new Set();
    bus.globs.set(key, set);
    if (bus.subUp) void bus.sub.psubscribe(redisName(bus, glob)).catch(() => undefined);
  }
  set.add(pattern);
}

export function redisPunsubscribe(state: State, pattern: string, glob: string): void {
  const bus = state.redis;
  if (bus === null) return;
  const key = globKey(bus, glob);
  const set = bus.globs.get(key);
  if (set === undefined) return;
  set.delete(pattern);
  if (set.size === 0) {
    bus.globs.delete(key);
    if (bus.subUp) void bus.sub.punsubscribe(redisName(bus, glob)).catch(() => undefined);
  }
}

/** The publish connection's batcher (this version's; remade if the bus's connection changes). */
let publisher: { client: RedisBus['pub']; batch: ScriptBatcher } | null = null;

export function redisPublish(state: State, bus: RedisBus, subject: string, payload: Buffer): void {
  if (!bus.pubUp) {
    bus.dropped++;
    bus.droppedWhileDown++;
    return;
  }
  bus.published++;
  // One ioredis Command per publish, the turn's publishes in one write (not auto-pipelining's Pipeline per turn:
  // measured, its objects and promise steps were most of a lone publish's cost on the server).
  if (publisher === null || publisher.client !== bus.pub) publisher = { client: bus.pub, batch: new ScriptBatcher(bus.pub) };
  void publisher.batch.send('publish', [redisName(bus, subject), Buffer.concat([bus.origin, payload])]).catch(() => {
    bus.dropped++;
    bus.droppedWhileDown++;
  });
}

/** A message from Redis: from another server (ours are delivered locally already). */
function fromOtherServer(bus: RedisBus, ch: Buffer, msg: Buffer): string | null {
  if (msg.length < 8 || bus.origin.equals(msg.subarray(0, 8))) return null;
  const name = ch.toString('latin1');
  return name.startsWith(bus.prefix) ? name.slice(bus.prefix.length) : null;
}

function onRedisMessage(state: State, ch: Buffer, msg: Buffer): void {
  const bus = state.redis;
  if (bus === null) return;
  const subject = fromOtherServer(bus, ch, msg);
  if (subject === null) return;
  bus.received++;
  deliverExact(state, subject, msg.subarray(8));
}

function onRedisPMessage(state: State, glob: string, ch: Buffer, msg: Buffer): void {
  const bus = state.redis;
  if (bus === null) return;
  const subject = fromOtherServer(bus, ch, msg);
  if (subject === null) return;
  const patterns = bus.globs.get(glob);
  if (patterns === undefined) return;
  bus.received++;
  const payload = msg.subarray(8);
  for (const p of patterns) {
    const w = state.wild.get(p);
    if (w !== undefined && matchTokens(w.tokens, subject)) deliverSet(state, w.subs, payload);
  }
}

export function redact(url: string): string {
  return url.replace(/\/\/[^@/]*@/, '//***@');
}