// SPDX-License-Identifier: LGPL-3.0-or-later
/**
 * The gateway's two Redis connections (one to publish, one subscribed to
 * RESPONSE_PIPE, REJECT_PIPE and ACKNOWLEDGE_PIPE) and the link state they
 * make (see `Link` in gateway.ts).
 *
 * A dropped connection is a blip, not an outage: Redis drops a subscriber
 * whose pub/sub output buffer passes `client-output-buffer-limit pubsub`
 * (32 MB by default: one oversized answer does it), or on `CLIENT KILL`.
 * Requests in flight stay pending across the reconnect and resubscribe
 * (they get their answer, or 408 at their own timeout); requests arriving
 * meanwhile are held and published once the link is back. The link is down
 * (every request waiting gets 503, new ones too) only when Redis is
 * unreachable: a reconnection attempt fails, or the blip lasts longer than
 * BLIP_GRACE_MS.
 *
 * Exactly one version listens on the connections and runs the heartbeat at
 * a time (the newest): `connect` takes them over from the previous one (the
 * clients are kept by the kit's keptRedis, which swaps the handlers), so a
 * message is never handled twice and a retired version's code is not pinned
 * by them.
 */
import type { Redis } from 'ioredis';
import { dropRedis, keptRedis, type SetupContext } from '../../shared/index.ts';
import { BLIP_GRACE_MS, brokerReady, CHANNELS, failAll, onMessage, redactUrl, releaseHeld, tick, type Env, type State } from './gateway.ts';

const noop = (): void => undefined;

/** A state kept by a version from before the link states: the fields it lacks. */
function upgrade(st: State): void {
  const s = st as Partial<State> & State;
  s.held ??= [];
  s.grace ??= null;
  s.blipEnded ??= 0;
  s.link ??= brokerReady(st) ? 'ready' : 'starting';
}

/** Redis is unreachable: once per outage, a warning; everything waiting gets 503; the services are forgotten (nobody can acknowledge). */
function goDown(st: State, env: Env, why: string, err?: unknown): void {
  if (st.grace !== null) clearTimeout(st.grace);
  st.grace = null;
  if (st.link !== 'down') {
    st.link = 'down';
    env.log.warn({ redis: redactUrl(st.url ?? ''), why, err: err === undefined ? undefined : String(err) }, 'rhttp: Redis unavailable: requests get 503 until it is back (reconnecting)');
  }
  if (st.services.size > 0) st.services.clear();
  failAll(st, env);
}

/** A connection dropped while the link was up: a blip, until it is back or the grace runs out. */
function blip(st: State, env: Env, which: 'subscriber' | 'publisher'): void {
  if (st.link !== 'ready') return;
  st.link = 'blip';
  env.log.warn({ redis: redactUrl(st.url ?? ''), pending: st.pending.size }, `rhttp: Redis dropped the ${which} connection: ${which === 'subscriber' ? 'resubscribing' : 'reconnecting'} (requests in flight stay pending)`);
  const grace = Math.min(BLIP_GRACE_MS, env.opts.timeoutMs);
  st.grace = setTimeout(() => {
    st.grace = null;
    if (!brokerReady(st)) goDown(st, env, `not back within ${grace} ms`);
  }, grace);
}

/** Both connections ready and subscribed: the link is up (again). */
function up(st: State, env: Env): void {
  if (!brokerReady(st) || st.link === 'ready') return;
  const was = st.link;
  st.link = 'ready';
  if (st.grace !== null) clearTimeout(st.grace);
  st.grace = null;
  const redis = redactUrl(st.url ?? '');
  if (was === 'down') env.log.info({ redis }, 'rhttp: Redis is back');
  else if (was === 'blip') env.log.info({ redis, pending: st.pending.size, held: st.held.length }, 'rhttp: resubscribed to Redis');
  else env.log.info({ redis, instance: st.prefix }, 'rhttp: connected to Redis');
  // The services could not be heard during the blip: each gets a whole window from now to acknowledge again.
  if (was === 'blip') {
    st.blipEnded = Date.now();
    for (const s of st.services.values()) s.lastAck = st.blipEnded;
  }
  // Discover services now rather than at the next beat.
  tick(st, env);
  releaseHeld(st);
}

/**
 * Makes this version the one that listens on the Redis connections for
 * `url` (kept across reloads by keptRedis, which removes the previous
 * version's handlers) and runs the heartbeat (the previous owner's timer is
 * stopped). The connections connect and reconnect by themselves.
 */
export function connect(ctx: Pick<SetupContext, 'keep'>, st: State, env: Env, me: symbol, url: string): void {
  // The previous owner's heartbeat stops (and, from a version before keptRedis, its listeners go).
  st.detach?.();
  upgrade(st);
  if (st.url !== url || st.pub === null || st.sub === null) {
    resetLink(st);
    st.link = 'starting';
  }
  const stray = [st.pub, st.sub];
  const subscribe = (): void => {
    const sub = st.sub!;
    sub.subscribe(CHANNELS.response, CHANNELS.reject, CHANNELS.acknowledge).then(
      () => {
        if (sub.status !== 'ready') return;
        st.subscribed = true;
        up(st, env);
      },
      (err: unknown) => env.log.debug({ err: String(err) }, 'rhttp: subscribe failed (will retry on reconnect)'),
    );
  };
  // An error while a connection is not ready is a failed (re)connection attempt: Redis is unreachable.
  // (A drop of a ready connection only closes it: a blip.)
  const failed = (c: Redis | null, err: unknown): void => {
    if (c !== null && c.status !== 'ready') goDown(st, env, 'error', err);
  };
  // Publishing fails at once while disconnected (the kit's policy: no queue): the request gets 503 rather than waiting.
  st.pub = keptRedis(
    ctx,
    'pub',
    url,
    {
      ready: () => up(st, env),
      close: () => blip(st, env, 'publisher'),
      error: (err) => {
        env.log.debug({ err: String(err) }, 'rhttp: publisher connection error');
        failed(st.pub, err);
      },
    },
    { connectionName: 'hrmr-rhttp-pub', autoPipelining: true },
  );
  // Subscriptions are (re)made by the owner on every 'ready' (ioredis does not restore them).
  st.sub = keptRedis(
    ctx,
    'sub',
    url,
    {
      ready: subscribe,
      close: () => {
        st.subscribed = false;
        blip(st, env, 'subscriber');
      },
      error: (err) => failed(st.sub, err),
      messageBuffer: (channel, msg) => onMessage(st, env, channel, msg),
    },
    { connectionName: 'hrmr-rhttp-sub' },
  );
  st.url = url;
  // Clients made by a version before keptRedis (its listeners are gone with its detach): closed.
  for (const c of stray) {
    if (c === null || c === st.pub || c === st.sub) continue;
    c.on('error', noop);
    c.disconnect();
  }
  if (st.beat !== null) clearInterval(st.beat);
  st.beat = setInterval(tick, env.opts.heartbeatMs, st, env);
  // Already connected (a reload): nothing to redo. Connected but not subscribed yet: subscribe now.
  if (st.sub.status === 'ready' && !st.subscribed) subscribe();
  st.owner = me;
  st.shutdown = () => shutdown(st, env);
  st.detach = () => {
    if (st.beat !== null) clearInterval(st.beat);
    st.beat = null;
    st.owner = null;
    st.detach = null;
  };
}

/** The link starts over: not subscribed, no blip running. */
function resetLink(st: State): void {
  st.subscribed = false;
  if (st.grace !== null) clearTimeout(st.grace);
  st.grace = null;
}

/** The version `me` is retired: if it still owns the heartbeat (no newer version took it), it stops it. */
export function release(st: State, me: symbol): void {
  if (st.owner === me) st.detach?.();
}

/**
 * The module leaves for good (or the server stops): every request waiting
 * gets 503. The connections are closed by keptRedis (their handlers removed first).
 */
export function shutdown(st: State, env: Env): void {
  st.detach?.();
  failAll(st, env);
  resetLink(st);
  st.services.clear();
}

/** Redis turned off by a setting: everything waiting gets 503 and the connections close. */
export function disconnect(ctx: Pick<SetupContext, 'keep'>, st: State, env: Env): void {
  shutdown(st, env);
  dropRedis(ctx, 'pub');
  dropRedis(ctx, 'sub');
  st.pub = st.sub = null;
  st.url = null;
}
