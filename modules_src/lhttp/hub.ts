// SPDX-License-Identifier: LGPL-3.0-or-later
/**
 * The lhttp engine, one file per concern:
 *
 *   state.ts        the kept state: types, counters, migration of an older version's state
 *   connection.ts   connection lifecycle: attach, close, slow consumers, the tick's flush
 *   dispatch.ts     frame dispatch: the per-message order of the spec
 *   context.ts      the processor context (LhttpContext) and calling processor hooks
 *   bus.ts          subscriptions and publishing (in memory)
 *   output.ts       sending frames to connections, delivery to subscribers
 *   redis-bus.ts    the Redis bridge across servers (kept clients from shared/redis.ts)
 *   upstream.ts, heartbeat.ts, warn.ts: upstream requests, pings, rate-limited warnings
 *
 * This file is their entry point: the current version's `impl` and STATUS.
 *
 * Hot reload: everything that must outlive a version is in one plain
 * {@link State} object kept with `ctx.keep`. WebSocket listeners and the
 * ping timer are thin trampolines that call `state.impl.*`, and each
 * version's setup points `state.impl` at its own functions, so sockets
 * opened under an old version run the current code. The Redis clients are
 * kept by shared/redis.ts, which swaps each version's handlers.
 */
import { onClose, flush } from './connection.ts';
import { onFrame } from './dispatch.ts';
import { heartbeat } from './heartbeat.ts';
import { registry } from './processors.ts';
import { redact } from './redis-bus.ts';
import type { Impl, State } from './state.ts';

export { attach } from './connection.ts';
export { handleFrame } from './dispatch.ts';
export { publishMessage } from './context.ts';
export { publishPayload, subscribe, unsubscribe } from './bus.ts';
export { attachRedis, redact } from './redis-bus.ts';
export { migrate, newStats } from './state.ts';
export type { Conn, Impl, RedisBus, State, Stats } from './state.ts';
export { warnLimited } from './warn.ts';

export const impl: Impl = { onFrame, onClose, flush, heartbeat };

// ---------------------------------------------------------------- status

export function status(state: State): Record<string, unknown> {
  let subscriptions = 0;
  for (const c of state.conns) subscriptions += c.subs.size;
  const st = state.stats;
  const r = state.redis;
  return {
    paths: state.options.paths,
    publishPath: state.options.publishPath,
    connections: state.conns.size,
    channels: state.exact.size + state.wild.size,
    subscriptions,
    messagesIn: st.messagesIn,
    messagesOut: st.messagesOut,
    droppedSlowConsumers: st.droppedSlowConsumers,
    connectionsTotal: st.connectionsTotal,
    framesIn: st.framesIn,
    published: st.published,
    httpPublished: st.httpPublished,
    ignoredFrames: { ...st.ignored },
    badMultipart: st.badMultipart,
    badChannels: st.badChannels,
    cappedSubscriptions: st.cappedSubscriptions,
    cappedChannels: st.cappedChannels,
    processors: [...registry().processors.values()].map((e) => ({ command: e.command, module: e.owner })),
    processorErrors: st.processorErrors,
    processorTimeouts: st.processorTimeouts,
    droppedWhileBusy: st.droppedWhileBusy,
    pingInterval: state.options.pingInterval,
    deadPeers: st.deadPeers,
    upstream: { ...st.upstream, inFlight: state.upstreamInFlight },
    bus:
      r === null
        ? { kind: 'memory' }
        : { kind: 'redis', url: redact(r.url), up: r.pubUp && r.subUp, outages: r.outages, dropped: r.dropped, published: r.published, received: r.received },
  };
}