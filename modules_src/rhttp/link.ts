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
 * a time (the newest): `attach` takes them over from the previous one, so a
 * message is never handled twice and a retired version's code is not pinned
 * by them.
 */
import type { Redis } from 'ioredis';
import { BLIP_GRACE_MS, brokerReady, CHANNELS, failAll, onMessage, redactUrl, releaseHeld, tick, type Env, type State } from './gateway.ts';

/** ioredis, imported by loadRedis() when a Redis URL is configured (without one, rhttp never loads it). */
let RedisClient: typeof Redis | null = null;

export async function loadRedis(): Promise<void> {
  RedisClient ??= (await import('ioredis')).Redis;
}

function retry(times: number): number {
  return Math.min(50 * times, 1000);
}

/** Creates the Redis clients for `url` (closing others first). They connect and reconnect by themselves. */
export function ensureClients(st: State, url: string): void {
  if (st.url === url && st.pub !== null && st.sub !== null) return;
  closeClients(st);
  const Client = RedisClient;
  if (Client === null) throw new Error('rhttp: ioredis is not loaded (loadRedis)');
  st.url = url;
  st.link = 'starting';
  // Publishing fails at once while disconnected (no queue): the request gets 503 rather than waiting.
  st.pub = new Client(url, { enableOfflineQueue: false, enableAutoPipelining: true, maxRetriesPerRequest: 1, retryStrategy: retry, connectionName: 'hrmr-rhttp-pub' });
  // Subscriptions are (re)made by the owner on every 'ready' (see attach).
  st.sub = new Client(url, { autoResubscribe: false, maxRetriesPerRequest: null, retryStrategy: retry, connectionName: 'hrmr-rhttp-sub' });
}

export function closeClients(st: State): void {
  for (const c of [st.pub, st.sub]) {
    if (c === null) continue;
    c.removeAllListeners();
    c.on('error', () => undefined);
    c.disconnect();
  }
  st.pub = st.sub = null;
  st.subscribed = false;
  if (st.grace !== null) clearTimeout(st.grace);
  st.grace = null;
}

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
 * Makes this version the one that listens on the Redis connections and runs
 * the heartbeat (the previous owner's listeners and timer are removed).
 */
export function attach(st: State, env: Env, me: symbol): void {
  st.detach?.();
  upgrade(st);
  const pub = st.pub!;
  const sub = st.sub!;
  const subscribe = (): void => {
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
  const failed = (c: Redis, err: unknown): void => {
    if (c.status !== 'ready') goDown(st, env, 'error', err);
  };
  const onMsg = (channel: Buffer, msg: Buffer): void => onMessage(st, env, channel, msg);
  const onSubReady = (): void => subscribe();
  const onSubClose = (): void => {
    st.subscribed = false;
    blip(st, env, 'subscriber');
  };
  const onSubError = (err: unknown): void => failed(sub, err);
  const onPubClose = (): void => blip(st, env, 'publisher');
  const onPubError = (err: unknown): void => {
    env.log.debug({ err: String(err) }, 'rhttp: publisher connection error');
    failed(pub, err);
  };
  const onPubReady = (): void => up(st, env);
  sub.on('messageBuffer', onMsg);
  sub.on('ready', onSubReady);
  sub.on('close', onSubClose);
  sub.on('error', onSubError);
  pub.on('close', onPubClose);
  pub.on('error', onPubError);
  pub.on('ready', onPubReady);
  if (st.beat !== null) clearInterval(st.beat);
  st.beat = setInterval(tick, env.opts.heartbeatMs, st, env);
  // Already connected (a reload): nothing to redo. Connected but not subscribed yet: subscribe now.
  if (sub.status === 'ready' && !st.subscribed) subscribe();
  st.owner = me;
  st.shutdown = () => shutdown(st, env);
  st.detach = () => {
    sub.off('messageBuffer', onMsg);
    sub.off('ready', onSubReady);
    sub.off('close', onSubClose);
    sub.off('error', onSubError);
    pub.off('close', onPubClose);
    pub.off('error', onPubError);
    pub.off('ready', onPubReady);
    if (st.beat !== null) clearInterval(st.beat);
    st.beat = null;
    st.owner = null;
    st.detach = null;
  };
}

/** The version `me` is retired: if it still owns the connections (no newer version took them), it lets go. */
export function release(st: State, me: symbol): void {
  if (st.owner === me) st.detach?.();
}

/** The module leaves for good (or the server stops): every request waiting gets 503, the connections close. */
export function shutdown(st: State, env: Env): void {
  st.detach?.();
  failAll(st, env);
  closeClients(st);
  st.services.clear();
}
