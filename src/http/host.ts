// SPDX-License-Identifier: LGPL-3.0-or-later
/**
 * The HTTP host: one `http.Server` that never listens. The router hands it
 * connections whose first bytes are an HTTP method; node's own parser reads
 * them, and each request is routed on its own by path (the longest HTTP
 * route prefix over every module), so one keep-alive connection may visit
 * several modules, pipelined requests included (node answers them in order).
 *
 * Reload rules per request, Erlang-style: a request runs on the version that
 * is current when its head arrives and finishes there; an upgraded socket
 * (WebSocket) stays on the version it upgraded on until it closes. The
 * version tracks both, and drains when both are done.
 */
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { Logger } from 'pino';
import { ConnectionContext } from '../modules/context.ts';
import type { HttpTarget } from '../modules/route-table.ts';
import type { CompiledRoute } from '../modules/validate.ts';
import type { ModuleVersion } from '../modules/version.ts';
import { PoolTaskError, type WorkerPool } from '../pool/pool.ts';
import { SMALL_BYTES } from '../pool/protocol.ts';
import type { BuiltinRoutes } from '../metrics/endpoint.ts';
import type { MetricsHub } from '../metrics/hub.ts';
import { readBodyCallback } from '../../shared/body.ts';
import { targetPath, type PathTable } from './path-table.ts';
import { answer, answerRaw, bodyFor, TEXT_PLAIN } from './responses.ts';
import { duplicateHost } from './methods.ts';
import { feedParser, responseOnSocket } from '../util/node-internals.ts';
import { HeadGuard, type HostConnections } from './head-guard.ts';
import { now } from '../util/clock.ts';

export interface HttpHostOptions {
  /** An upgraded socket of a `persistent` route: the server waits for it only after the kept state is disposed. */
  onPersistent?: (socket: Duplex) => void;
  keepAliveTimeoutMs: number;
  headersTimeoutMs: number;
  maxHeaderSize: number;
  reloadMode: '503' | 'graceful';
  log: Logger;
  /** Counts requests (metrics, access log); null: nothing counted. */
  hub?: MetricsHub | null;
  /** /metrics and the status page, answered before module routes. */
  builtin?: BuiltinRoutes | null;
  /** The server's connection records (the head guard keeps its state there). */
  connections: HostConnections;
}

/** Where the host finds the current path table (the registry). */
export interface HttpRoutes {
  readonly http: PathTable<HttpTarget>;
}

const RETRY = ['Retry-After', '1'];
/** What node's own check reported for a late head or body (onClientError answers 408). */
const REQUEST_TIMEOUT: NodeJS.ErrnoException = Object.assign(new Error('request timeout'), { code: 'ERR_HTTP_REQUEST_TIMEOUT' });
const EMPTY = new Uint8Array(0);

/**
 * The host's responses: node's ServerResponse with the request's version
 * and route as declared fields (every response has the same hidden class,
 * so node's code stays monomorphic) and one shared 'close' listener that
 * ends the request's count on its version (no closure per request).
 */
class HostResponse<Request extends IncomingMessage = IncomingMessage> extends http.ServerResponse<Request> {
  hrmrVersion: ModuleVersion | null = null;
  hrmrRoute = 0;
  hrmrSlot = -1;
  /** Set when counting: the hub, performance.now() at dispatch, the socket's bytesWritten then (access log). */
  hrmrHub: MetricsHub | null = null;
  hrmrStart = 0;
  hrmrBytes = 0;
  constructor(req: Request) {
    super(req);
    this.on('close', onHostResponseClose);
  }
}

function onHostResponseClose(this: HostResponse): void {
  const v = this.hrmrVersion;
  if (v === null) return;
  this.hrmrVersion = null;
  v.endRequest(this, this.hrmrRoute, this.hrmrSlot);
  if (this.hrmrHub !== null) this.hrmrHub.httpDone(this, v, this.hrmrRoute, this.hrmrStart, this.hrmrBytes);
}


export class HttpHost {
  readonly server: http.Server;
  private closing = false;
  private clientErrors = 0;
  private served = 0;
  /** Upgraded sockets (WebSocket) open now. */
  upgradedOpen = 0;
  private readonly hub: MetricsHub | null;
  private readonly builtin: BuiltinRoutes | null;
  /** The slow-loris deadlines and the list of the host's connections. */
  private readonly guard: HeadGuard;

  constructor(
    private readonly routes: HttpRoutes,
    private readonly pool: WorkerPool | null,
    private readonly opts: HttpHostOptions,
  ) {
    this.hub = opts.hub !== undefined && opts.hub !== null && opts.hub.counting ? opts.hub : null;
    this.builtin = opts.builtin ?? null;
    this.server = http.createServer(
      {
        maxHeaderSize: opts.maxHeaderSize,
        requireHostHeader: false,
        ServerResponse: HostResponse as unknown as typeof http.ServerResponse,
      },
      (req, res) => this.onRequest(req, res),
    );
    this.server.keepAliveTimeout = opts.keepAliveTimeoutMs;
    this.server.headersTimeout = opts.headersTimeoutMs;
    this.server.requestTimeout = Math.max(60_000, opts.headersTimeoutMs);
    this.server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => this.onUpgrade(req, socket, head));
    this.server.on('clientError', (err: NodeJS.ErrnoException, socket: Duplex) => this.onClientError(err, socket));
    // No route tunnels: without a listener node would close the connection unanswered.
    this.server.on('connect', (_req: IncomingMessage, socket: Duplex) => answerRaw(socket, 501));
    // The server never listens (sockets come from the router), and node's own
    // headersTimeout/requestTimeout check stays off: the guard does that job
    // for less per request (see head-guard.ts).
    this.guard = new HeadGuard(opts.connections, {
      headersTimeoutMs: opts.headersTimeoutMs,
      requestTimeoutMs: this.server.requestTimeout,
      expire: (socket) => this.onClientError(REQUEST_TIMEOUT, socket),
    });
  }

  /** Takes a connection from the router; `data` (the peeked bytes) is read again by the parser. */
  accept(socket: Socket, data: Buffer | null): void {
    this.guard.track(socket);
    this.server.emit('connection', socket);
    // Straight to the parser's data listener: no unshift and second trip
    // through the socket's read buffer (node reads the rest natively).
    if (data !== null) feedParser(socket, data);
  }

  private target(req: IncomingMessage, res: ServerResponse | null, socket: Duplex | null): { t: HttpTarget; v: ModuleVersion } | null {
    if (duplicateHost(req.rawHeaders)) {
      // RFC 9112 §3.2: 400, and the connection is not reused.
      this.clientErrors++;
      if (res !== null) answer(res, 400, null, true);
      else answerRaw(socket!, 400);
      return null;
    }
    const path = targetPath(req.url ?? '');
    if (res !== null && path !== null && this.builtin !== null && this.builtin.has(path)) {
      this.builtin.serve(req, res, path);
      return null;
    }
    const t = path === null ? undefined : this.routes.http.match(path);
    if (t === undefined) {
      this.refuse(req, res, socket, 404, null);
      return null;
    }
    const route = t.route;
    if (route.methods && !route.methods.has(req.method!)) {
      this.refuse(req, res, socket, 405, ['Allow', route.allow!]);
      return null;
    }
    const v = this.opts.reloadMode === 'graceful' || !t.slot.swapping ? t.version : null;
    if (v === null || v.state !== 'live') {
      this.refuse(req, res, socket, 503, RETRY);
      return null;
    }
    return { t, v };
  }

  private refuse(req: IncomingMessage, res: ServerResponse | null, socket: Duplex | null, status: number, extra: readonly string[] | null): void {
    if (this.hub !== null) this.hub.httpUnrouted(req, status);
    if (res !== null) answer(res, status, extra, this.closing);
    else answerRaw(socket!, status, extra ?? []);
  }

  private onRequest(req: IncomingMessage, res: ServerResponse): void {
    this.served++;
    this.guard.requestSeen(req.socket);
    if (this.closing) res.shouldKeepAlive = false;
    const found = this.target(req, res, null);
    if (found === null) return;
    this.dispatch(req, res, found.t, found.v);
  }

  private dispatch(req: IncomingMessage, res: ServerResponse, t: HttpTarget, v: ModuleVersion): void {
    const route = t.route;
    const r = res as HostResponse;
    r.hrmrVersion = v;
    r.hrmrRoute = route.index;
    r.hrmrSlot = v.beginRequest(res, route.index);
    const hub = this.hub;
    if (hub !== null) {
      r.hrmrHub = hub;
      r.hrmrStart = now();
      if (hub.opts.accessLog) r.hrmrBytes = req.socket.bytesWritten;
    }
    const ctx = new ConnectionContext(v, req.socket);
    if (route.pool) {
      this.poolRequest(req, res, v, route, ctx);
      return;
    }
    try {
      const out = route.request!(req, res, ctx);
      if (out instanceof Promise) out.catch((err: unknown) => this.failed(res, v, route, err));
    } catch (err) {
      this.failed(res, v, route, err);
    }
  }

  /** A handler threw. `close`: the request body may be half read (main thread), so the connection cannot be reused. */
  private failed(res: ServerResponse, v: ModuleVersion, route: CompiledRoute, err: unknown, close = true): void {
    v.log.error({ err, route: route.label }, 'http handler failed');
    answer(res, 500, null, close);
  }

  private poolRequest(req: IncomingMessage, res: ServerResponse, v: ModuleVersion, route: CompiledRoute, ctx: ConnectionContext): void {
    const pool = this.pool;
    if (pool === null) {
      answer(res, 503, RETRY);
      return;
    }
    // The kit's reader (shared/body.ts): Content-Length checked first, chunked counted, 413 then close past maxBody.
    readBodyCallback(req, { max: route.maxBody!, res }, (err, body) => {
      // A 413 already answered, or the client is gone: nothing to run.
      if (err !== null || res.destroyed) return;
      // A small body crosses to the worker as a latin1 string: no ArrayBuffer made, moved and freed per request.
      const bytes =
        body!.length === 0 ? EMPTY : body!.length <= SMALL_BYTES ? body!.toString('latin1') : body!.byteOffset === 0 && body!.byteLength === body!.buffer.byteLength ? new Uint8Array(body!.buffer, 0, body!.byteLength) : new Uint8Array(body!);
      this.runPool(pool, req, res, v, route, ctx, bytes);
    });
  }

  private runPool(pool: WorkerPool, req: IncomingMessage, res: ServerResponse, v: ModuleVersion, route: CompiledRoute, ctx: ConnectionContext, body: Uint8Array | string): void {
    const url = req.url ?? '';
    const q = url.indexOf('?');
    pool
      .runHttp(v, route, {
        method: req.method!,
        url,
        path: q < 0 ? url : url.slice(0, q),
        query: q < 0 ? '' : url.slice(q + 1),
        rawHeaders: req.rawHeaders,
        body,
        remoteAddress: ctx.remoteAddress,
        remotePort: ctx.remotePort,
        tls: ctx.tls,
      })
      .then(
        (out) => {
          // The client is gone: nothing to deliver.
          if (res.destroyed) return;
          try {
            const b = out.body ?? undefined;
            const h = out.headers ?? {};
            let sized = false;
            for (const k in h) {
              const l = k.length === 14 || k.length === 17 ? k.toLowerCase() : '';
              if (l === 'content-length' || l === 'transfer-encoding') sized = true;
            }
            // A whole body is known: say its length rather than chunk it.
            if (!sized) (h as Record<string, unknown>)['Content-Length'] = b === undefined ? 0 : typeof b === 'string' ? Buffer.byteLength(b) : b.byteLength;
            res.writeHead(out.status, h as http.OutgoingHttpHeaders);
            res.end(b);
          } catch (err) {
            this.failed(res, v, route, err);
          }
        },
        (err: unknown) => {
          if (err instanceof PoolTaskError) return answer(res, err.reason === 'busy' ? 503 : 504, err.reason === 'busy' ? RETRY : null);
          this.failed(res, v, route, err, false);
        },
      );
  }

  private onUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    // No longer HTTP: its bytes are the module's now, not a next request head.
    this.guard.untrack(socket as Socket);
    const found = this.target(req, null, socket);
    if (found === null) return;
    const { t, v } = found;
    const route = t.route;
    const s = socket as Socket;
    if (route.upgrade === undefined) {
      // Not a WebSocket route: the route answers as usual, then the
      // connection closes (node has already detached its parser from it).
      const res = new HostResponse(req);
      res.shouldKeepAlive = false;
      res.assignSocket(s);
      res.once('finish', () => s.end());
      s.once('close', () => res.destroy());
      if (!req.complete) req.push(null);
      this.dispatch(req, res, t, v);
      return;
    }
    // The client half-closed: end our side once the module's writes are done, so a forgotten socket does not pin the version.
    s.allowHalfOpen = false;
    this.upgradedOpen++;
    socket.once('close', () => this.upgradedOpen--);
    this.hub?.upgraded(v, route.index);
    if (route.persistent) this.opts.onPersistent?.(socket);
    else {
      v.attach(socket, route.index);
      socket.once('close', () => v.detach(socket, route.index));
    }
    try {
      route.upgrade(req, socket, head, new ConnectionContext(v, s));
    } catch (err) {
      v.log.error({ err, route: route.label }, 'upgrade handler failed');
      socket.destroy();
    }
  }

  /** Malformed requests: node's parser failed. Answer 400/431/408 if nothing is on the wire yet, then close. */
  private onClientError(err: NodeJS.ErrnoException, socket: Duplex): void {
    this.clientErrors++;
    const busy = responseOnSocket(socket);
    if (err.code === 'ECONNRESET' || !socket.writable || busy?.headersSent) {
      socket.destroy();
      return;
    }
    const status = err.code === 'HPE_HEADER_OVERFLOW' ? 431 : err.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? 408 : 400;
    this.opts.log.debug({ code: err.code, status, peer: (socket as Socket).remoteAddress }, 'http client error');
    answerRaw(socket, status);
  }

  /** Stops keeping connections alive (shutdown): idle ones close now, busy ones after their response. */
  drain(): void {
    this.closing = true;
    // The guard's view first catches up with the requests completed since its last sweep.
    this.guard.sweep(Date.now());
    for (const s of this.guard.idle()) s.destroy();
  }

  status(): unknown {
    return { requests: this.served, clientErrors: this.clientErrors, keepAliveTimeoutMs: this.opts.keepAliveTimeoutMs, headersTimeoutMs: this.opts.headersTimeoutMs, maxHeaderSizeBytes: this.opts.maxHeaderSize };
  }

  close(): void {
    this.server.close(() => undefined);
    for (const s of this.guard.all()) s.destroy();
    this.guard.close();
  }
}

export { bodyFor, TEXT_PLAIN };
