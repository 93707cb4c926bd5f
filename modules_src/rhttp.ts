// SPDX-License-Identifier: LGPL-3.0-or-later
/**
 * The rhttp module: RHTTP's HTTP -> Redis -> services gateway on hrmr's
 * port, wire-compatible with services written for the original (the Node
 * library `rhttp_node`, the Python `rhttp-python`). Requests under the mount
 * (default `/api/`) are published on REQUEST_PIPE; the first matching answer
 * on RESPONSE_PIPE goes back to the client. See docs/rhttp.md.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Context, HttpRoute, Logger, Module, SetupContext } from '../shared/index.ts';
import { parseOptions, unknownKeys, type RhttpOptions } from './rhttp/config.ts';
import { answerJson, BODIES, forward, newState, readBody, statusOf, type Env, type State } from './rhttp/gateway.ts';
import { connect, disconnect, release } from './rhttp/link.ts';
import { rhttpMetrics } from './rhttp/metrics.ts';

/** This version's identity (ownership of the Redis listeners and the heartbeat). */
const me = Symbol('rhttp version');
let state: State | null = null;
let env: Env | null = null;

function request(req: IncomingMessage, res: ServerResponse, _ctx: Context): void {
  const st = state;
  const e = env;
  if (st === null || e === null) {
    res.writeHead(503, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(BODIES.noBroker) });
    res.end(BODIES.noBroker);
    return;
  }
  st.stats.requests++;
  if (e.opts.redis === null) {
    answerJson(res, e, 503, BODIES.noBroker);
    return;
  }
  readBody(st, e, req, res, (body) => forward(st, e, req, res, body));
}

const mod = {
  name: 'rhttp',
  routes(config: Readonly<Record<string, string>>): HttpRoute[] {
    // Every setting checked here, as the other modules do: a bad value fails the load (and each RELOAD) in the one format.
    return [{ http: parseOptions(config).mount, request }];
  },
  setup(ctx: SetupContext): void {
    // Requests are handled on the main thread only.
    if (ctx.thread !== 'main') return;
    const opts: RhttpOptions = parseOptions(ctx.config);
    const log: Logger = ctx.log;
    const unknown = unknownKeys(ctx.config);
    if (unknown.length > 0) log.warn({ unknown }, 'rhttp: unknown settings ignored');
    const st = ctx.keep('gateway', newState, (s) => {
      s.shutdown?.();
    });
    const e: Env = { opts, log };
    if (opts.redis === null) {
      log.warn({ mount: opts.mount }, 'rhttp: no Redis configured: every request gets 503 (start hrmr with --redis redis://HOST:PORT)');
      disconnect(ctx, st, e);
    } else {
      // Last of what may throw: a failed setup leaves the serving version its handlers.
      connect(ctx, st, e, me, opts.redis);
      log.info({ mount: opts.mount, strip: opts.strip, heartbeatMs: opts.heartbeatMs, deadBeats: opts.deadBeats, timeoutMs: opts.timeoutMs, maxBody: opts.maxBody }, 'rhttp serving');
    }
    state = st;
    env = e;
    rhttpMetrics(ctx.metrics, () => state);
  },
  dispose(): void {
    if (state !== null) release(state, me);
    state = null;
    env = null;
  },
  /** What STATUS shows: the live services and the request counters. */
  status(): unknown {
    return statusOf(state, env?.opts ?? null);
  },
} satisfies Module & { status(): unknown };

export default mod;
