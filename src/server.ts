// SPDX-License-Identifier: LGPL-3.0-or-later
/**
 * The hrmr server: accepts connections, peeks, and hands each one to its
 * route (admin session, stream handler or message session). Composes the
 * prefix table (from the registry), the admin commands and the pool; owns
 * connection limits and graceful shutdown.
 */
import net, { type Socket } from 'node:net';
import type { Logger } from 'pino';
import { AdminSession, formatReload, isLoopback, type AdminControl } from './admin/session.ts';
import { ADMIN_RESERVE, ConnectionGuard, MAX_OVER_LIMIT, OVER_LIMIT_PEEK_MS } from './admin/guard.ts';
import { ConnectionContext } from './modules/context.ts';
import { ModuleRegistry, type ReloadReport } from './modules/registry.ts';
import type { ModuleFolder } from './modules/scan.ts';
import type { WorkerPool } from './pool/pool.ts';
import type { PoolGeneration } from './pool/generation.ts';
import type { ModuleVersion } from './modules/version.ts';
import type { RouteTarget } from './modules/route-table.ts';
import { MessageSession, type Invoke } from './router/message-session.ts';
import { giveBack, peek, PeekOutcome, redecide, type Peeker } from './router/peek.ts';
import type { PrefixEntry } from './router/prefix-table.ts';
import { busyReply, discardUntilClosed, endBusy, endWith, ERR_NO_ROUTE, HTTP_501, HTTP_503 } from './router/responses.ts';
import { looksLikeHttpRequest } from './http/methods.ts';
import { HttpHost } from './http/host.ts';
import type { TLSSocket } from 'node:tls';
import { TlsFront, type ClientAuth } from './tls/front.ts';
import type { CertStore } from './tls/certs.ts';
import { notePassthrough } from './tls/info.ts';
import { inheritPeer, ProxyGate, startProxyRead } from './proxy/gate.ts';
import { MetricsHub } from './metrics/hub.ts';
import { BuiltinRoutes } from './metrics/endpoint.ts';
import type { CompiledRoute } from './modules/validate.ts';
import type { Reply } from '../shared/index.ts';
import { keepAliveOnListener } from './util/node-internals.ts';
import { now } from './util/clock.ts';

export interface ServerOptions {
  port: number;
  host: string;
  modulesDir: string;
  peekTimeoutMs: number;
  maxPeek: number;
  drainTimeoutMs: number;
  adminToken: string | null;
  maxConnections: number;
  /** 0 = off. */
  idleTimeoutMs: number;
  /** '503': new connections to a module being swapped get 503; 'graceful': the old version serves until the new one is ready. */
  reloadMode: '503' | 'graceful';
  /** Largest message for 'whole' framing. */
  maxMessage: number;
  config: ReadonlyMap<string, Readonly<Record<string, string>>>;
  /** `--redis URL`: every module's default `redis` setting. */
  redis?: string | null;
  /** Server processes sharing the port (1 without --workers). */
  processes?: number;
  /** --setup-timeout (registry.ts DEFAULT_SETUP_TIMEOUT_MS when unset). */
  setupTimeoutMs?: number;
  httpKeepAliveTimeoutMs?: number;
  httpHeadersTimeoutMs?: number;
  httpMaxHeaderSize?: number;
  log: Logger;
  /** Called once a shutdown has completed (the CLI exits 0 here). */
  onStopped?: () => void;
  /** Module folders loaded before `modulesDir` (the bundled modules; `--bundled`). */
  extraFolders?: readonly ModuleFolder[];
  /** Answers this server's admin sessions instead of the server itself (the `--workers` agent, which acts for every worker). */
  adminControl?: AdminControl;
  /** TLS termination (`--tls-cert`/`--tls-key`, loaded); null/absent = none. */
  tls?: { store: CertStore; clientAuth: ClientAuth } | null;
  /** `--proxy-protocol-from`: CIDRs whose connections must start with a PROXY header. */
  proxyProtocolFrom?: string | null;
  /** `--metrics-path`: where Prometheus metrics are served (default /metrics); null turns metrics off. */
  metricsPath?: string | null;
  /** `--access-log`: one log line per HTTP request and per closed message/stream connection. */
  accessLog?: boolean;
}

const EMPTY_CONFIG: Readonly<Record<string, string>> = Object.freeze({});
/** The reply to a message that none of its connection's module routes matches. */
const ERR_NO_ROUTE_REPLY = 'ERR no route\n';
const MAX_PENDING_REPLIES = 1024;
/** Bytes of finished replies waiting (behind an unfinished one) per connection before it stops framing and reading. */
const MAX_PENDING_REPLY_BYTES = 64 * 1024;
/** TCP keep-alive on every accepted socket: first probe after this long idle (then the kernel's interval and count). */
export const TCP_KEEPALIVE_DELAY_MS = 60_000;

export class HrmrServer implements AdminControl {
  readonly registry: ModuleRegistry;
  /** Serves every HTTP route, per request. */
  readonly http: HttpHost;
  /** Metrics, the status page's data, the access log (src/metrics/). */
  readonly metrics: MetricsHub;
  private readonly server: net.Server;
  /** Every open connection, with what it is bound to. */
  private readonly sockets = new Set<ConnSocket>();
  private shutdownPromise: Promise<void> | null = null;
  private readonly peeker: Peeker<RouteTarget>;
  private readonly started = Date.now();
  private rejected = { maxConnections: 0, routeMaxConnections: 0, noRoute: 0, peekTimeout: 0, reloading: 0, proxyRefused: 0 };
  private accepted = 0;
  /** TCP keep-alive set per accepted socket (the listening socket could not pass it on). */
  private keepAlivePerSocket = true;
  port = 0;
  /** TLS termination (null without --tls-cert). */
  private readonly tls: TlsFront | null;
  /** PROXY protocol headers from trusted balancers (null without --proxy-protocol-from). */
  private readonly proxy: ProxyGate | null;
  /** Routes a decrypted TLS stream: the byte-prefix table alone. */
  private readonly securePeeker: Peeker<RouteTarget>;

  constructor(
    private readonly opts: ServerOptions,
    private readonly pool: WorkerPool | null = null,
  ) {
    const metricsPath = opts.metricsPath === undefined ? '/metrics' : opts.metricsPath;
    this.metrics = new MetricsHub({ metricsPath, accessLog: opts.accessLog ?? false, log: opts.log });
    const builtin = new BuiltinRoutes(this.metrics, { metricsPath, adminToken: opts.adminToken, status: async () => (opts.adminControl ?? this).status() });
    this.registry = new ModuleRegistry({
      httpPrefixes: builtin.bytePrefixes(),
      dir: opts.modulesDir,
      drainTimeoutMs: opts.drainTimeoutMs,
      log: opts.log,
      config: (name) => withRedis(opts.config.get(name) ?? EMPTY_CONFIG, opts.redis ?? null),
      processes: opts.processes ?? 1,
      ...(opts.setupTimeoutMs !== undefined ? { setupTimeoutMs: opts.setupTimeoutMs } : {}),
      ...(pool ? { hooks: pool.hooks } : {}),
      tlsTerminate: !!opts.tls,
      ...(opts.extraFolders ? { extraFolders: opts.extraFolders } : {}),
    });
    this.tls = opts.tls ? new TlsFront({ ...opts.tls, handshakeTimeoutMs: opts.peekTimeoutMs, log: opts.log, onSecure: (raw, s) => this.onSecure(raw, s) }) : null;
    this.proxy = opts.proxyProtocolFrom ? new ProxyGate(opts.proxyProtocolFrom, opts.peekTimeoutMs, opts.log) : null;
    this.http = new HttpHost(this.registry, pool, {
      onPersistent: (socket) => {
        const rec = records.get(socket as Socket);
        if (rec) rec.persistent = true;
      },
      keepAliveTimeoutMs: opts.httpKeepAliveTimeoutMs ?? 5000,
      headersTimeoutMs: opts.httpHeadersTimeoutMs ?? 20_000,
      maxHeaderSize: opts.httpMaxHeaderSize ?? 16 * 1024,
      reloadMode: opts.reloadMode,
      log: opts.log,
      hub: this.metrics,
      builtin,
      connections: {
        stateOf: (socket) => records.get(socket as ConnSocket),
        forEach: (fn) => {
          for (const s of this.sockets) {
            const rec = records.get(s);
            if (rec !== undefined && rec.guarded) fn(s, rec);
          }
        },
      },
    });
    this.metrics.bind({ status: () => ({ ...(this.status() as object), authFailures: this.guardObj?.authFailures ?? 0 }), connections: () => this.connectionKinds() });
    if (pool) this.metrics.instrumentPool(pool);
    this.peeker = {
      table: () => this.registry.table,
      // Until start() has loaded the modules: peeks wait for the routes (their timeout runs from accept).
      holding: true,
      limits: { timeoutMs: opts.peekTimeoutMs, maxBytes: opts.maxPeek },
      done: (socket, outcome, entry, data, ended) => this.onPeeked(socket as ConnSocket, outcome, entry, data, ended),
    };
    this.securePeeker = { ...this.peeker, table: () => this.registry.plainTable, clock: undefined };
    // allowHalfOpen: 'whole' framing reads until the client half-closes; every other route ends its side itself.
    // TCP keep-alive (a peer gone without a FIN is found by the kernel's probes) is set on the listening socket once it listens: see start().
    this.server = net.createServer({ allowHalfOpen: true, noDelay: true, pauseOnConnect: false }, (s) => this.onConnection(s));
  }

  get adminToken(): string | null {
    return this.opts.adminToken;
  }

  /** Loads the modules and listens. Rejects if the port cannot be bound. */
  /**
   * Binds the port first, so a port in use fails at once, before any module
   * (or pool worker) starts; then loads the modules. Connections that arrive
   * meanwhile are counted and peeked as usual, but their peek waits for the
   * routes (within its timeout, from accept); they are routed once the
   * modules serve.
   */
  async start(): Promise<number> {
    await new Promise<void>((resolve, reject) => {
      const onError = (err: Error): void => reject(err);
      this.server.once('error', onError);
      this.server.listen({ port: this.opts.port, host: this.opts.host, backlog: 4096 }, () => {
        this.server.removeListener('error', onError);
        // Accepted sockets inherit it (no system calls per connection); where they cannot, each gets it on accept.
        this.keepAlivePerSocket = !keepAliveOnListener(this.server, TCP_KEEPALIVE_DELAY_MS);
        resolve();
      });
    });
    this.server.on('error', (err) => this.opts.log.error({ err }, 'server error'));
    const report = await this.registry.reload();
    this.reloaded(report);
    if (!report.ok) this.opts.log.warn({ failed: report.failed }, 'some modules failed to load; the rest are serving');
    this.peeker.holding = false;
    this.securePeeker.holding = false;
    for (const s of this.sockets) if (records.get(s)!.peeking) redecide(s);
    const addr = this.server.address() as net.AddressInfo;
    this.port = addr.port;
    this.opts.log.info({ host: addr.address, port: addr.port, modules: report.modules, reloadMode: this.opts.reloadMode }, 'listening');
    return addr.port;
  }

  /** `source: 'watch'`: the watcher logs one line per save itself, so the details go at debug. */
  async reload(only?: readonly string[], opts?: { source: 'watch' }): Promise<ReloadReport> {
    const quiet = opts?.source === 'watch';
    const report = await this.registry.reload(only, quiet);
    // RELOAD and SIGHUP re-read the certificates too (not watch mode's module saves); a file that fails keeps its old certificate.
    if (this.tls !== null && !quiet) {
      for (const e of this.tls.reload()) {
        report.failed.push({ module: 'tls', error: `certificate not reloaded, the old one still serves: ${e.message}` });
        report.ok = false;
      }
    }
    this.reloaded(report);
    // From watch mode, failures are logged once by the registry (per module), not again here.
    this.opts.log[quiet ? 'debug' : report.ok ? 'info' : 'warn']({ ok: report.ok, modules: report.modules, loaded: report.loaded, reloaded: report.reloaded, unloaded: report.unloaded, failed: report.failed.length, ms: report.ms }, formatReload(report));
    return report;
  }

  private reloaded(report: ReloadReport): void {
    const versions = new Map(this.registry.status().map((m) => [m.name, m.version]));
    this.metrics.reloaded(report, (m) => versions.get(m) ?? null);
  }

  /** Open connections by kind (hrmr_connections). */
  connectionKinds(): Record<'message' | 'stream' | 'http' | 'upgraded' | 'admin' | 'peeking', number> {
    const k = { message: 0, stream: 0, http: 0, upgraded: 0, admin: 0, peeking: 0 };
    for (const s of this.sockets) {
      const r = records.get(s);
      if (r === undefined) continue;
      if (r.peeking) k.peeking++;
      else if (r.admin) k.admin++;
      else if (r.http) k.http++;
      else if (r.session !== null) k.message++;
      else if (r.version !== null) k.stream++;
    }
    // Upgraded sockets came in as HTTP connections.
    k.upgraded = this.http.upgradedOpen;
    k.http = Math.max(0, k.http - k.upgraded);
    return k;
  }

  private onConnection(socket: ConnSocket): void {
    socket.on('error', onSocketError);
    if (this.keepAlivePerSocket) socket.setKeepAlive(true, TCP_KEEPALIVE_DELAY_MS);
    if (this.shutdownPromise) {
      socket.destroy();
      return;
    }
    this.accepted++;
    if (this.sockets.size >= this.opts.maxConnections) {
      this.overLimit(socket);
      return;
    }
    this.sockets.add(socket);
    // One record and one shared 'close' listener per connection: no closures on the accept path.
    records.set(socket, new ConnRecord(this.sockets));
    socket.on('close', onConnClose);
    this.startPeek(socket, this.peeker);
  }

  /** Peeks, after reading the PROXY header of a connection from a trusted balancer. */
  private startPeek(socket: ConnSocket, peeker: Peeker<RouteTarget>): void {
    if (this.proxy !== null && this.proxy.trusts(socket.remoteAddress)) startProxyRead(this.proxy, socket, (rest) => peek(socket, peeker, rest));
    else peek(socket, peeker);
  }

  /** A TLS handshake is done: the decrypted socket takes the raw one's place and is peeked like a plain connection. */
  private onSecure(raw: ConnSocket, secure: TLSSocket): void {
    const rec = records.get(raw);
    if (rec === undefined || this.shutdownPromise) {
      secure.destroy();
      return;
    }
    inheritPeer(raw, secure);
    raw.removeListener('close', onConnClose);
    this.sockets.delete(raw);
    this.sockets.add(secure);
    records.set(secure, rec);
    rec.peeking = true;
    secure.on('close', onConnClose);
    secure.on('error', onSocketError);
    peek(secure, this.securePeeker);
  }

  private guardObj: ConnectionGuard | null = null;
  /** AUTH failures, the admin reserve, connections over the limit (created on first use). */
  private get guard(): ConnectionGuard {
    return (this.guardObj ??= new ConnectionGuard(this.opts.log));
  }
  private overLimitPeeker: Peeker<RouteTarget> | null = null;

  /**
   * A connection over --max-connections. Its first bytes decide the answer:
   * an admin session of an operator gets one of ADMIN_RESERVE slots, an HTTP
   * request a 503, anything else `ERR busy`. Bounded: at most MAX_OVER_LIMIT
   * such connections at once (more are closed unanswered), each with
   * OVER_LIMIT_PEEK_MS to send its first bytes.
   */
  private overLimit(socket: ConnSocket): void {
    const guard = this.guard;
    if (guard.overLimit >= MAX_OVER_LIMIT) {
      this.rejected.maxConnections++;
      guard.unanswered++;
      socket.destroy();
      return;
    }
    guard.overLimit++;
    socket.once('close', () => guard.overLimit--);
    this.overLimitPeeker ??= {
      table: () => this.registry.table,
      limits: { timeoutMs: Math.min(this.opts.peekTimeoutMs, OVER_LIMIT_PEEK_MS), maxBytes: Math.min(this.opts.maxPeek, 4096) },
      done: (s, outcome, entry, data, ended) => this.onOverLimitPeeked(s as ConnSocket, outcome, entry, data, ended),
    };
    this.startPeek(socket, this.overLimitPeeker);
  }

  private onOverLimitPeeked(socket: ConnSocket, outcome: PeekOutcome, entry: PrefixEntry<RouteTarget> | null, data: Buffer | null, ended: boolean): void {
    const guard = this.guard;
    const admin = outcome === PeekOutcome.Routed && entry !== null && entry.target.kind === 'admin';
    // The reserve is for an operator: loopback, or a peer that will AUTH with the token (its first command must).
    if (admin && !this.shutdownPromise && guard.reserveInUse < ADMIN_RESERVE && (this.opts.adminToken !== null || isLoopback(socket.remoteAddress))) {
      guard.reserveInUse++;
      socket.once('close', () => guard.reserveInUse--);
      this.sockets.add(socket);
      const rec = new ConnRecord(this.sockets);
      records.set(socket, rec);
      rec.peeking = false;
      rec.admin = true;
      socket.on('close', onConnClose);
      new AdminSession(socket, this.opts.adminControl ?? this, guard, true, this.opts.idleTimeoutMs).start(data, ended);
      return;
    }
    this.rejected.maxConnections++;
    // A TLS client cannot read an answer in clear: it is closed.
    if (outcome === PeekOutcome.Closed || entry?.target.kind === 'tls') socket.destroy();
    else endBusy(socket, data, ended, Math.min(this.opts.peekTimeoutMs, OVER_LIMIT_PEEK_MS));
  }

  private onPeeked(socket: ConnSocket, outcome: PeekOutcome, entry: PrefixEntry<RouteTarget> | null, data: Buffer | null, ended: boolean): void {
    const rec = records.get(socket);
    // Closed during the peek: its record went with the close.
    if (rec === undefined) {
      socket.destroy();
      return;
    }
    rec.peeking = false;
    const hub = this.metrics.counting ? this.metrics : null;
    if (hub !== null) hub.peeked(rec.t0);
    // The peek leaves the socket reading; only the HTTP parser takes it over at once (see peek()).
    if (entry === null || entry.target.kind !== 'http' || outcome !== PeekOutcome.Routed) socket.pause();
    if (outcome !== PeekOutcome.Routed || entry === null) {
      if (outcome === PeekOutcome.Closed || data === null) {
        if (outcome === PeekOutcome.Timeout) this.rejected.peekTimeout++;
        socket.destroy();
      } else {
        if (outcome === PeekOutcome.Timeout) this.rejected.peekTimeout++;
        else this.rejected.noRoute++;
        // Where HTTP is served, an HTTP request (a method outside the list) gets an HTTP status, not a raw line.
        endWith(socket, this.registry.hasHttp && looksLikeHttpRequest(data) ? HTTP_501 : ERR_NO_ROUTE);
      }
      return;
    }
    if (this.shutdownPromise) {
      socket.destroy();
      return;
    }
    const target = entry.target;
    if (target.kind === 'tls') {
      // The ClientHello (or what came of it): terminated, or closed and counted.
      rec.peeking = true;
      if (this.tls !== null) this.tls.accept(socket, data, ended ? 'incomplete' : target.action);
      else socket.destroy();
      return;
    }
    if (target.kind === 'proxy-refused') {
      if (this.proxy !== null) this.proxy.refused++;
      this.rejected.proxyRefused++;
      socket.destroy();
      return;
    }
    if (target.kind === 'admin') {
      rec.admin = true;
      // Timed by the session itself: 5 s to complete an authorized command, then --idle-timeout.
      new AdminSession(socket, this.opts.adminControl ?? this, this.guard, false, this.opts.idleTimeoutMs).start(data, ended);
      return;
    }
    if (target.kind === 'http') {
      // The parser cannot be handed bytes after the client's FIN was seen; such a request cannot be answered anyway.
      if (ended) {
        socket.destroy();
        return;
      }
      rec.http = true;
      this.http.accept(socket, data);
      return;
    }
    const { slot, route } = target;
    const version = this.opts.reloadMode === 'graceful' || !slot.swapping ? target.version : null;
    if (version === null || version.state !== 'live') {
      this.rejected.reloading++;
      endWith(socket, HTTP_503);
      return;
    }
    if (version.routeConnections[route.index]! >= route.maxConnections) {
      this.rejected.routeMaxConnections++;
      endWith(socket, busyReply(data));
      return;
    }
    version.attach(socket, route.index);
    rec.version = version;
    rec.routeIndex = route.index;
    if (hub !== null && hub.opts.accessLog) rec.hub = hub;
    const idle = route.idleTimeout ?? this.opts.idleTimeoutMs;
    if (idle > 0) socket.setTimeout(idle, onIdle);
    const ctx = new ConnectionContext(version, socket);

    if (route.kind === 'sni') notePassthrough(socket, data);
    if (route.kind !== 'message') {
      if (ended) {
        // The client half-closed before the route was decided; a stream handler can no longer see its 'end'.
        socket.destroy();
        return;
      }
      socket.allowHalfOpen = false;
      // Destroyed once both sides are done, even if the handler never reads (see onStreamFinish).
      socket.once('finish', onStreamFinish);
      giveBack(socket, data);
      try {
        route.connection!(socket, ctx);
      } catch (err) {
        version.log.error({ err, route: route.label }, 'connection handler threw');
        socket.destroy();
      }
      return;
    }

    // The connection belongs to this module: each message goes to the module's
    // longest-matching message route (main thread or pool), replies in order.
    const pool = this.pool;
    let gen: PoolGeneration | null = null;
    const call = (msg: Buffer, r: CompiledRoute): Reply | Promise<Reply> => (r.pool && pool ? pool.run((gen ??= pool.acquire(socket)), version, r, msg, ctx, socket) : r.message!(msg, ctx));
    const invoke: Invoke = (msg) => {
      const r = version.messageRoute(msg, route);
      if (r === null) return ERR_NO_ROUTE_REPLY;
      return hub === null ? call(msg, r) : hub.message(version, r, call, msg, rec);
    };
    const session: MessageSession = new MessageSession(socket, invoke, {
      framing: route.framing,
      maxWhole: this.opts.maxMessage,
      maxPending: MAX_PENDING_REPLIES,
      maxPendingBytes: MAX_PENDING_REPLY_BYTES,
      onError: (err) => version.log.warn({ err, route: route.label, peer: `${ctx.remoteAddress}:${ctx.remotePort}` }, 'message handler failed'),
    });
    rec.session = session;
    session.start(data, ended);
  }

  status(): unknown {
    let admin = 0;
    for (const s of this.sockets) if (records.get(s)?.admin) admin++;
    return {
      uptimeSeconds: Math.round((Date.now() - this.started) / 1000),
      port: this.port,
      // Client connections: admin sessions (this STATUS one included) are counted apart.
      connections: this.sockets.size - admin,
      adminSessions: admin,
      accepted: this.accepted,
      rejected: this.rejected,
      reloads: this.registry.reloads,
      leakedVersions: this.registry.leakedVersions,
      reloadMode: this.opts.reloadMode,
      limits: { maxConnections: this.opts.maxConnections, idleTimeoutMs: this.opts.idleTimeoutMs, peekTimeoutMs: this.opts.peekTimeoutMs, maxPeekBytes: this.opts.maxPeek, drainTimeoutMs: this.opts.drainTimeoutMs },
      modules: this.registry.status(),
      conflicts: this.registry.conflicts.map((c) => c.message),
      http: this.http.status(),
      ...(this.tls ? { tls: this.tls.status() } : {}),
      ...(this.proxy ? { proxy: this.proxy.status() } : {}),
      ...(this.pool ? { pool: this.pool.status() } : {}),
      memory: { rssBytes: process.memoryUsage.rss(), heapUsedBytes: process.memoryUsage().heapUsed },
    };
  }

  /**
   * Stops accepting new connections (the ones already accepted go on).
   * Returns false if it was not listening. A retiring worker calls this, lets
   * connections in their peek settle, then shuts down.
   */
  stopAccepting(): boolean {
    if (!this.server.listening) return false;
    this.server.close();
    return true;
  }

  /**
   * Graceful shutdown: stop accepting, let in-flight messages and open
   * connections finish (up to the drain timeout), dispose every module,
   * close the pool. Resolves when all of that is done.
   */
  shutdown(reason: string): Promise<void> {
    if (this.shutdownPromise) return this.shutdownPromise;
    this.opts.log.info({ reason, connections: this.sockets.size }, 'shutting down');
    this.shutdownPromise = this.doShutdown();
    return this.shutdownPromise;
  }

  private async doShutdown(): Promise<void> {
    const closed = new Promise<void>((r) => this.server.close(() => r()));
    for (const s of this.sockets) {
      const rec = records.get(s)!;
      // Still peeking: nothing is in flight, close now. Message sessions finish what they have, then end.
      if (rec.peeking) s.destroy();
      else if (rec.session) rec.session.drain();
      else if (rec.admin && !s.writableEnded) s.end();
    }
    // HTTP: idle keep-alive connections close now, busy ones after their current response.
    this.http.drain();
    const deadline = Date.now() + this.opts.drainTimeoutMs;
    // Persistent upgraded sockets belong to kept state: they are closed by its dispose, below.
    const busy = (): number => {
      let n = 0;
      for (const s of this.sockets) if (!records.get(s)!.persistent) n++;
      return n;
    };
    while (busy() > 0 && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 20));
      this.http.server.closeIdleConnections();
    }
    if (busy() > 0) {
      this.opts.log.warn({ connections: busy() }, 'drain timeout: closing remaining connections');
      for (const s of this.sockets) if (!records.get(s)!.persistent) s.destroy();
    }
    // Versions, then kept state (whose dispose closes persistent sockets its own way, e.g. WebSocket 1001).
    await this.registry.retireAll(0);
    const grace = Date.now() + Math.min(2000, Math.max(0, deadline - Date.now()));
    while (this.sockets.size > 0 && Date.now() < grace) await new Promise((r) => setTimeout(r, 20));
    for (const s of this.sockets) s.destroy();
    // The listener's close completes once every connection is gone.
    await closed;
    this.http.close();
    await this.pool?.close(Math.max(0, deadline - Date.now()));
    this.metrics.close();
    this.opts.log.info('shutdown complete');
    this.opts.onStopped?.();
  }
}

/** What a connection is bound to; cleaned up by one shared 'close' listener. */
class ConnRecord {
  peeking = true;
  admin = false;
  /** Handed to the HTTP host. */
  http = false;
  /** An upgraded socket owned by a module's kept state (closed by its dispose at shutdown). */
  persistent = false;
  version: ModuleVersion | null = null;
  routeIndex = 0;
  session: MessageSession | null = null;
  /** performance.now() at accept (peek time, access log). */
  readonly t0 = now();
  /** Messages handled (access log). */
  messages = 0;
  /** Set with --access-log: told when the connection closes. */
  hub: MetricsHub | null = null;
  // The HTTP host's head deadlines (src/http/head-guard.ts), kept here rather than in a list of its own.
  guarded = false;
  requests = 0;
  seen = 0;
  bytes = 0;
  headAt = 0;
  requestAt = 0;
  constructor(readonly all: Set<ConnSocket>) {}
}

/** Connection records by socket: a WeakMap, so node's sockets keep their hidden class (see peek.ts). */
const records = new WeakMap<Socket, ConnRecord>();
type ConnSocket = Socket;

function onConnClose(this: ConnSocket): void {
  const rec = records.get(this);
  if (rec === undefined) return;
  // Deleted, not left to the collector: the table stays as small as the live connections.
  records.delete(this);
  rec.all.delete(this);
  rec.version?.detach(this, rec.routeIndex);
  if (rec.hub !== null && rec.version !== null) rec.hub.connectionClosed(this, rec.version, rec.version.spec.routes[rec.routeIndex]!.label, rec.session !== null ? 'message' : 'stream', rec);
}

/** A module's config with the server-wide Redis URL as its default `redis` setting. */
function withRedis(config: Readonly<Record<string, string>>, redis: string | null): Readonly<Record<string, string>> {
  if (redis === null || config.redis !== undefined) return config;
  return Object.freeze({ ...config, redis });
}

/**
 * A stream handler ended its side. 'end' (after which the socket destroys
 * itself) only comes to a reader: if nobody reads, unread input (the peeked
 * bytes given back included) would hold the descriptor open forever, so
 * discard it until the client closes.
 */
function onStreamFinish(this: Socket): void {
  if (this.destroyed || this.readableEnded) return;
  if (this.listenerCount('data') > 0 || this.listenerCount('readable') > 0) return;
  discardUntilClosed(this);
}

function onIdle(this: Socket): void {
  this.destroy();
}

function onSocketError(): void {
  // ECONNRESET and friends: the 'close' that follows does the cleanup.
}
