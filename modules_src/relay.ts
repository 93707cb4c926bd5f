// SPDX-License-Identifier: LGPL-3.0-or-later
/**
 * The relay module: http-event-relay's tunnels (one-to-one message delivery
 * over HTTP: produce, consume, long poll, acknowledge, reply) on hrmr, wire
 * compatible with the original. Routes `${mount}t/` and `${mount}health`
 * (mount `/` unless `--set relay.mount=/relay/`). The store is in memory by
 * default (kept across reloads), or Redis Streams when a Redis URL is
 * configured (`--redis URL` or `--set relay.redis=URL`), which lets several
 * hrmr servers act as one relay. See docs/relay.md.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { dropRedis, type HttpRoute, type Module, type SetupContext } from '../shared/index.ts';
import { makeAuth } from './relay/auth.ts';
import { parseConfig, redactUrl } from './relay/config.ts';
import { handle, health, type Relay } from './relay/handler.ts';
import { MemoryStore, newMemoryData } from './relay/memory.ts';
import { closeShared, newShared, RedisStore } from './relay/redis.ts';
import { newCounts, relayMetrics } from './relay/metrics.ts';

let relay: Relay | null = null;
let sweeper: NodeJS.Timeout | undefined;
let redisStore: RedisStore | null = null;

const mod: Module & { status(): unknown } = {
  name: 'relay',
  routes(config): HttpRoute[] {
    const cfg = parseConfig(config);
    const t = `${cfg.mount}t/`;
    return [
      { http: t, request: (req: IncomingMessage, res: ServerResponse) => handle(relay, t, req, res) },
      { http: `${cfg.mount}health`, request: (req: IncomingMessage, res: ServerResponse) => health(req, res) },
    ];
  },
  async setup(ctx: SetupContext): Promise<void> {
    if (ctx.thread !== 'main') return;
    const cfg = parseConfig(ctx.config);
    const counts = ctx.keep('counts', newCounts);
    relayMetrics(ctx.metrics, () => (relay === null ? null : relay.store.stats()), counts);
    const auth = makeAuth(cfg.accessToken, cfg.signatureSecret, cfg.publicIds);
    if (cfg.store === 'memory') {
      if (ctx.processes > 1) {
        throw new Error(`relay: the memory store cannot be shared by ${ctx.processes} server processes; give a Redis URL (--redis URL or --set relay.redis=URL)`);
      }
      // A Redis store used before this version (a setting changed): its connections close.
      dropRedis(ctx, 'cmd');
      dropRedis(ctx, 'sub');
      const data = ctx.keep('memory', newMemoryData);
      const store = new MemoryStore(data, { maxlen: cfg.tunnelMaxlen, maxBytes: cfg.maxBytes, replyTtlMs: cfg.replyTtl * 1000 });
      sweeper = setInterval(() => store.sweep(), 1000);
      sweeper.unref();
      relay = { cfg, auth, store, log: ctx.log, counts };
      ctx.log.info({ store: 'memory', mount: cfg.mount, maxBytes: cfg.maxBytes, tunnelMaxlen: cfg.tunnelMaxlen, auth: auth.enabled }, 'relay serving');
      return;
    }
    // Awaited: a version before keptRedis kept a promise here.
    const shared = await ctx.keep(`redis ${cfg.redis}`, () => newShared(cfg.redis), async (s) => closeShared(await s));
    const store = new RedisStore(shared, { maxlen: cfg.tunnelMaxlen, replyTtl: cfg.replyTtl, idleTtl: cfg.idleTtl }, ctx.log, ctx);
    store.attach();
    redisStore = store;
    relay = { cfg, auth, store, log: ctx.log, counts };
    const up = await store.ready(1000);
    const fields = { store: 'redis', redis: redactUrl(cfg.redis), mount: cfg.mount, tunnelMaxlen: cfg.tunnelMaxlen, auth: auth.enabled };
    if (up) ctx.log.info(fields, 'relay serving');
    else ctx.log.warn(fields, 'relay serving, but Redis is not reachable yet: requests get 503 until it is');
  },
  dispose(): void {
    clearInterval(sweeper);
    sweeper = undefined;
    redisStore?.detach();
    redisStore = null;
    relay = null;
  },
  status(): unknown {
    if (relay === null) return { store: 'none' };
    return { mount: relay.cfg.mount, ...relay.store.stats() };
  },
};

export default mod;
