// SPDX-License-Identifier: LGPL-3.0-or-later
/**
 * The lhttp module: LHTTP/1.0 publish/subscribe over WebSocket, wire
 * compatible with fanux/lhttp and its browser SDK. See docs/lhttp.md.
 *
 *   ws://host:port/lhttp        WebSocket endpoint (`--set lhttp.path=/chat`, several space-separated)
 *   POST /publish               HTTP publish (`--set lhttp.publish_path=/x`, `off` to turn off)
 *
 * The bus is in memory, or Redis pub/sub across servers with `--redis URL`
 * (or `--set lhttp.redis=URL`). State (sockets, subscriptions, the Redis
 * connections, counters) is kept across RELOADs; see lhttp/hub.ts.
 * The Redis connections are the kit's keptRedis (lhttp/redis-bus.ts).
 * Command processors live in their own modules (see lhttp-chat.ts).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import { isUtf8 } from 'node:buffer';
import { readBody, type Context, type HttpRoute, type Module, type Route, type SetupContext, type TooLargeReply } from '../shared/index.ts';
import { parseOptions, type LhttpOptions } from './lhttp/config.ts';
import { attach, attachRedis, impl, migrate, newStats, publishMessage, publishPayload, redact, status, warnLimited, type State } from './lhttp/hub.ts';
import { setHeartbeat, stopHeartbeat } from './lhttp/heartbeat.ts';
import { parseMessage, splitChannels } from './lhttp/message.ts';
import { registry, type LhttpApi } from './lhttp/processors.ts';
import { lhttpMetrics } from './lhttp/metrics.ts';

/** This version's view of the kept state (null before setup and after dispose). */
let state: State | null = null;
/** The API this version published on the registry (removed on dispose only if still ours). */
let api: LhttpApi | null = null;

function createState(options: LhttpOptions, log: SetupContext['log']): State {
  return {
    schema: 1,
    options,
    log,
    impl,
    wss: null,
    conns: new Set(),
    nextId: 0,
    exact: new Map(),
    wild: new Map(),
    stats: newStats(),
    redis: null,
    upstreamInFlight: 0,
    corked: [],
    flushScheduled: false,
    warned: new Map(),
    pingTimer: null,
    pingEvery: 0,
  };
}

/** Runs when the module is unloaded for good or the server shuts down (not on RELOAD). */
function disposeState(s: State): Promise<void> {
  const r = registry();
  r.api = null;
  stopHeartbeat(s);
  for (const c of s.conns) c.ws.close(1001, 'server going away');
  const conns = [...s.conns];
  s.redis?.pub.disconnect();
  s.redis?.sub.disconnect();
  s.redis = null;
  return new Promise((resolve) => {
    // Peers that do not answer the close handshake are cut after a moment.
    const t = setTimeout(() => {
      for (const c of conns) c.ws.terminate();
      s.wss?.close();
      resolve();
    }, conns.length > 0 ? 500 : 0);
    t.unref();
  });
}

function reject(socket: Duplex, status: number, text: string): void {
  socket.on('error', () => undefined);
  socket.end(`HTTP/1.1 ${status} ${text}\r\nConnection: close\r\nContent-Type: text/plain\r\nContent-Length: ${text.length + 1}\r\n\r\n${text}\n`);
}

function upgrade(req: IncomingMessage, socket: Duplex, head: Buffer, ctx: Context): void {
  const s = state;
  if (s === null) {
    reject(socket, 503, 'Service Unavailable');
    return;
  }
  const origins = s.options.origins;
  if (origins !== null && !origins.includes(String(req.headers.origin ?? ''))) {
    reject(socket, 403, 'Forbidden');
    return;
  }
  if (s.conns.size >= s.options.maxConnections) {
    warnLimited(s, 'max-conns', { limit: s.options.maxConnections }, 'lhttp at lhttp.max_connections: upgrade refused (503)');
    reject(socket, 503, 'Service Unavailable');
    return;
  }
  const wss = s.wss;
  if (wss === null) {
    // ws loads with the first WebSocket (a server without one never pays for it); then the checks run again.
    loadWs(s).then(
      () => upgrade(req, socket, head, ctx),
      (err: unknown) => {
        s.log.error({ err }, 'lhttp: cannot load ws');
        reject(socket, 503, 'Service Unavailable');
      },
    );
    return;
  }
  const remote = ctx.remoteAddress;
  wss.handleUpgrade(req, socket, head, (ws) => attach(s, ws, socket, remote));
}

let wsLib: Promise<typeof import('ws')> | null = null;

function loadWs(s: State): Promise<void> {
  if (wsLib === null) {
    const p = (wsLib = import('ws'));
    p.catch(() => {
      if (wsLib === p) wsLib = null;
    });
  }
  return wsLib.then(({ WebSocketServer }) => {
    s.wss ??= new WebSocketServer({ noServer: true, maxPayload: s.options.maxPayload, clientTracking: false, perMessageDeflate: false });
  });
}

function notUpgrade(_req: IncomingMessage, res: ServerResponse): void {
  const body = 'This is an LHTTP/1.0 WebSocket endpoint: connect with a WebSocket client.\n';
  res.writeHead(426, { Upgrade: 'websocket', Connection: 'Upgrade', 'Content-Type': 'text/plain; charset=utf-8', 'Content-Length': Buffer.byteLength(body) });
  res.end(body);
}

/** A short text answer; `close` ends the connection after it (a body we will not read). */
function answer(res: ServerResponse, status: number, text: string, close = false): void {
  if (res.headersSent) return;
  const h: Record<string, string | number> = { 'Content-Type': 'text/plain; charset=utf-8', 'Content-Length': Buffer.byteLength(text) };
  if (close) h.Connection = 'close';
  res.writeHead(status, h);
  res.end(text);
}

/** The 413 of /publish, made once per max_frame value. */
let tooLarge: { limit: number; reply: TooLargeReply } | null = null;
function tooLargeReply(limit: number): TooLargeReply {
  if (tooLarge?.limit !== limit) tooLarge = { limit, reply: { body: `body over lhttp.max_frame (${limit} bytes)\n` } };
  return tooLarge.reply;
}

/** `POST /publish` (any method): the body is an lhttp message; its `publish` channels get the body as posted. */
function publishRequest(req: IncomingMessage, res: ServerResponse): void {
  const s = state;
  if (s === null) return answer(res, 503, 'lhttp is not loaded\n');
  const limit = s.options.maxFrame;
  // Past the limit: 413, then close (the policy everywhere): the rest of the body is never read.
  void readBody(req, { max: limit, res, tooLarge: tooLargeReply(limit) }).then((body) => {
    if (body === null) return; // answered 413, or the client is gone
    if (!isUtf8(body)) return answer(res, 400, 'body is not UTF-8\n');
    const msg = parseMessage(body.toString('latin1'));
    if (typeof msg === 'string') return answer(res, 400, 'body is not an LHTTP/1.0 message\n');
    s.stats.messagesIn++;
    s.stats.httpPublished++;
    const pub = msg.headers.get('publish');
    if (pub !== undefined) {
      let channels = splitChannels(pub);
      if (channels.length > s.options.maxChannels) {
        s.stats.cappedChannels++;
        channels = channels.slice(0, s.options.maxChannels);
      }
      for (const ch of channels) publishPayload(s, ch, body);
    }
    res.writeHead(200, { 'Content-Length': 0 });
    res.end();
  });
}

function routes(config: Readonly<Record<string, string>>): Route[] {
  const { options } = parseOptions(config);
  const out: Route[] = options.paths.map((p): HttpRoute => ({ http: p, request: notUpgrade, upgrade, persistent: true }));
  if (options.publishPath !== null) out.push({ http: options.publishPath, request: publishRequest });
  return out;
}

const mod = {
  name: 'lhttp',
  routes,
  setup(ctx: SetupContext): void {
    if (ctx.thread !== 'main') return;
    const { options, unknown } = parseOptions(ctx.config);
    if (unknown.length > 0) ctx.log.warn({ unknown }, 'lhttp: unknown settings ignored');
    // The memory bus reaches only the sockets of this process: with several, clients on different processes would not hear each other.
    if (options.redis === null && (ctx.processes ?? 1) > 1) {
      throw new Error(`lhttp: the memory bus cannot connect ${ctx.processes} server processes; give a Redis URL (--redis URL or --set lhttp.redis=URL)`);
    }
    const s = ctx.keep('state', () => createState(options, ctx.log), disposeState);
    // A RELOAD: the kept state now runs this version's code.
    migrate(s);
    s.options = options;
    s.log = ctx.log;
    s.impl = impl;
    setHeartbeat(s);
    // A bus, once up, stays on its URL until the server restarts; each version attaches its own Redis handlers (last: nothing below throws).
    const redisUrl = s.redis?.url ?? options.redis;
    if (redisUrl !== null) attachRedis(ctx, s, redisUrl, options.redisPrefix);
    state = s;
    api = { publish: (channels, command, headers, body) => publishMessage(s, channels, command, headers, body) };
    registry().api = api;
    lhttpMetrics(ctx.metrics, () => (state === null ? null : status(state)));
    ctx.log.info({ paths: options.paths, publishPath: options.publishPath, bus: s.redis ? `redis ${redact(s.redis.url)}` : 'memory', connections: s.conns.size }, 'lhttp serving');
  },
  dispose(): void {
    const r = registry();
    if (api !== null && r.api === api) r.api = null;
    api = null;
    state = null;
  },
  /** For STATUS: connections, channels, subscriptions, messages in/out, dropped slow consumers, and more. */
  status(): unknown {
    return state === null ? null : status(state);
  },
} satisfies Module & { status(): unknown };

export default mod;
