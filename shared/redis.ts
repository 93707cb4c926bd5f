// SPDX-License-Identifier: MIT
/**
 * A Redis client (ioredis) kept across reloads, with one offline, retry and
 * timeout policy for every service, and event handlers that belong to the
 * version that gave them: each call of {@link keptRedis} removes the
 * handlers the previous version attached and attaches its own, so a client
 * opened by version 1 runs version 2's code after a RELOAD, and never both.
 */
import { createRequire } from 'node:module';
import type { Redis, RedisOptions } from 'ioredis';
import type { Keep } from './index.js';

/**
 * The events a version may handle. Handlers are attached with `on` and
 * removed for the next version; an `error` handler is always attached (a
 * no-op when none is given), so a refused connection is never "unhandled".
 */
export interface RedisHandlers {
  /** Connected and ready for commands (again, after an outage): (re)subscribe here. */
  ready?(): void;
  /** The connection closed (it will be retried). */
  close?(): void;
  /** A connection error (refused, reset, timed out); ioredis retries by itself. */
  error?(err: Error): void;
  /** A retry is scheduled in `ms`. */
  reconnecting?(ms: number): void;
  /** No more retries (the client was disconnected). */
  end?(): void;
  message?(channel: string, message: string): void;
  messageBuffer?(channel: Buffer, message: Buffer): void;
  pmessage?(pattern: string, channel: string, message: string): void;
  pmessageBuffer?(pattern: string, channel: Buffer, message: Buffer): void;
}

export interface KeptRedisOptions {
  /** `CLIENT SETNAME`, seen in `CLIENT LIST` (e.g. `hrmr-lhttp-pub`). */
  readonly connectionName?: string;
  /** Commands of one tick go out in one write (ioredis `enableAutoPipelining`). */
  readonly autoPipelining?: boolean;
  /**
   * Fail a command not answered within this many ms (a Redis that stopped
   * answering without closing). Off by default: ioredis starts a timer per
   * command, a cost on a publish hot path; request/answer services set it.
   */
  readonly commandTimeout?: number;
  /** Anything else of ioredis' options, over {@link REDIS_POLICY} (use sparingly: the policy is shared on purpose). */
  readonly redis?: RedisOptions;
}

/**
 * The one policy. Offline: commands fail at once (no offline queue, no
 * retry of a command, nothing re-sent after a reconnect), so a request
 * answers 503 now rather than waiting for a Redis that may not come back.
 * Retry: reconnect forever, 50 ms more each time up to 1 s. Timeouts: 1 s to
 * connect; a command timeout when asked ({@link KeptRedisOptions.commandTimeout}).
 * Subscriptions are not restored by ioredis: the `ready` handler of the
 * current version subscribes to what it needs now.
 */
export const REDIS_POLICY: Readonly<RedisOptions> = Object.freeze({
  enableOfflineQueue: false,
  maxRetriesPerRequest: 0,
  autoResendUnfulfilledCommands: false,
  autoResubscribe: false,
  connectTimeout: 1000,
  retryStrategy: (times: number) => Math.min(50 * times, 1000),
  reconnectOnError: () => false,
});

// `any`: the type ioredis gives its listeners.
type Listener = (...args: any[]) => void;

const EVENTS = ['ready', 'close', 'error', 'reconnecting', 'end', 'message', 'messageBuffer', 'pmessage', 'pmessageBuffer'] as const;

/** What is kept per key: the client of the URL in use, and the handlers attached to it now. */
interface Slot {
  readonly shape: 'hrmr-kept-redis-1';
  url: string | null;
  client: Redis | null;
  attached: Array<[event: string, fn: Listener]>;
}

const noop = (): void => undefined;

/** ioredis, loaded on first use: modules that never call keptRedis never load it. */
let RedisClass: typeof Redis | null = null;
function redisClass(): typeof Redis {
  RedisClass ??= (createRequire(import.meta.url)('ioredis') as typeof import('ioredis')).Redis;
  return RedisClass;
}

function detach(slot: Slot): void {
  const c = slot.client;
  if (c !== null) for (const [event, fn] of slot.attached) c.off(event, fn);
  slot.attached = [];
}

/** The slot of `key`; on the last unload the handlers go before the disconnect, so no version's code hears the close. */
function keptSlot(ctx: { readonly keep: Keep }, key: string): Slot {
  return ctx.keep<Slot>(
    `hrmr-kept-redis ${key}`,
    () => ({ shape: 'hrmr-kept-redis-1', url: null, client: null, attached: [] }),
    (slot) => {
      detach(slot);
      slot.client?.disconnect();
    },
  );
}

/**
 * Lets the client of `key` go (a setting turned Redis off): the current
 * handlers are removed and the client disconnected. A later
 * {@link keptRedis} for the same key connects again.
 */
export function dropRedis(ctx: { readonly keep: Keep }, key: string): void {
  const slot = keptSlot(ctx, key);
  detach(slot);
  slot.client?.disconnect();
  slot.client = null;
  slot.url = null;
}

/**
 * The Redis client for `key` in this module (this thread), created on the
 * first call and kept across reloads (`ctx.keep`), disconnected when the
 * module is unloaded for good or the server shuts down. Each call attaches
 * `handlers` and removes the ones the previous call attached. A new `url`
 * (a changed setting) disconnects the old client and gives a new one.
 *
 * Call it last in `setup`, after everything that may throw: a setup that
 * fails keeps the previous version serving, and it should keep its handlers.
 * Handlers are not replayed: if the client is already ready
 * (`client.status === 'ready'`), act on that in setup.
 *
 * @example
 * setup(ctx) {
 *   const sub = keptRedis(ctx, 'sub', ctx.config.redis, {
 *     ready: () => void sub.subscribe('news'),
 *     message: (channel, text) => broadcast(text),
 *   });
 * }
 */
export function keptRedis(ctx: { readonly keep: Keep }, key: string, url: string, handlers: RedisHandlers, options: KeptRedisOptions = {}): Redis {
  const slot = keptSlot(ctx, key);
  if (slot.url !== url) {
    detach(slot);
    slot.client?.disconnect();
    // Made inside keep's init: the client's timers belong to the kept state, not to this version.
    slot.client = ctx.keep(
      `hrmr-kept-redis ${key} ${url}`,
      () => new (redisClass())(url, { ...REDIS_POLICY, enableAutoPipelining: options.autoPipelining === true, connectionName: options.connectionName, commandTimeout: options.commandTimeout, ...options.redis }),
      (c) => c.disconnect(),
    );
    // Back to a URL used before: its client was disconnected when we left it.
    if (slot.client.status === 'end') slot.client.connect().catch(noop);
    slot.url = url;
  }
  const client = slot.client!;
  detach(slot);
  const list: Array<[string, Listener]> = [];
  for (const event of EVENTS) {
    const fn = handlers[event] as Listener | undefined;
    // Bound: handlers may be methods of an object that uses `this`.
    if (typeof fn === 'function') list.push([event, fn.bind(handlers)]);
  }
  if (typeof handlers.error !== 'function') list.push(['error', noop]);
  for (const [event, fn] of list) client.on(event, fn);
  slot.attached = list;
  return client;
}
