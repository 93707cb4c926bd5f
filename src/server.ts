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
import { giveBack, peek, PeekOutcome, type Peeker } from './router/peek.ts';
import type { PrefixEntry } from './router/prefix-table.ts';
import { busyReply, discardUntilClosed, endBusy, endWith, ERR_NO_ROUTE, HTTP_503 } from './router/responses.ts';
import { HttpHost } from './http/host.ts';

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
}

const EMPTY_CONFIG: Readonly<Record<string, string>> = Object.freeze({});
/** The reply to a message that none of its connection's module routes matches. */
const ERR_NO_ROUTE_REPLY = 'ERR no route\n';
const MAX_PENDING_REPLIES = 1024;

export class HrmrServer implements AdminControl {
  readonly registry: ModuleRegistry;
  /** Serves every HTTP route, per request. */
  readonly http: HttpHost;
  private readonly server: net.Server;
  /** Every open connection, with what it is bound to. */
  private readonly sockets = new Set<ConnSocket>();
  private shutdownPromise: Promise<void> | null = null;
  private readonly peeker: Peeker<RouteTarget>;
  private readonly started = Date.now();
  private rejected = { maxConnections: 0, routeMaxConnections: 0, noRoute: 0, peekTimeout: 0, reloading: 0 };
  private accepted = 0;
  port = 0;

  constructor(
    private readonly opts: ServerOptions,
    private readonly pool: WorkerPool | null = null,
  ) {
    this.registry = new ModuleRegistry({
      dir: opts.modulesDir,
      drainTimeoutMs: opts.drainTimeoutMs,
      log: opts.log,
      config: (name) => withRedis(opts.config.get(name) ?? EMPTY_CONFIG, opts.redis ?? null),
      processes: opts.processes ?? 1,
      ...(pool ? { hooks: pool.hooks } : {}),
      ...(opts.extraFolders ? { extraFolders: opts.extraFolders } : {}),
    });
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
    });
    this.peeker = {
      table: () => this.registry.table,
      limits: { timeoutMs: opts.peekTimeoutMs, maxBytes: opts.maxPeek },
      done: (socket, outcome, entry, data, ended) => this.onPeeked(socket as ConnSocket, outcome, entry, data, ended),
    };
    // allowHalfOpen: 'whole' framing reads until the client half-closes; every other route ends its side itself.
    this.server = net.createServer({ allowHalfOpen: true, noDelay: true, pauseOnConnect: false }, (s) => this.onConnection(s));
  }

  get adminToken(): string | null {
    return this.opts.adminToken;
  }

  /** Loads the modules and listens. Rejects if the port cannot be bound. */
  /**
   * Binds the port first, so a port in use fails at once, before any module
   * (or pool worker) starts; then loads the modules. Connections that arrive
   * meanwhile wait, paused, and are routed once the modules serve.
   */
  async start(): Promise<number> {
    await new Promise<void>((resolve, reject) => {
      const onError = (err: Error): void => reject(err);
      this.server.once('error', onError);
      this.server.listen({ port: this.opts.port, host: this.opts.host, backlog: 4096 }, () => {
        this.server.removeListener('error', onError);
        resolve();
      });
    });
    this.server.on('error', (err) => this.opts.log.error({ err }, 'server error'));
    const report = await this.registry.reload();
    if (!report.ok) this.opts.log.warn({ failed: report.failed }, 'some modules failed to load; the rest are serving');
    const early = this.early;
    this.early = null;
    for (const s of early!) if (!s.destroyed) this.onConnection(s);
    const addr = this.server.address() as net.AddressInfo;
    this.port = addr.port;
    this.opts.log.info({ host: addr.address, port: addr.port, modules: report.modules, reloadMode: this.opts.reloadMode }, 'listening');
    return addr.port;
  }

  /** `source: 'watch'`: the watcher logs one line per save itself, so the details go at debug. */
  async reload(only?: readonly string[], opts?: { source: 'watch' }): Promise<ReloadReport> {
    const quiet = opts?.source === 'watch';
    const report = await this.registry.reload(only, quiet);
    // From watch mode, failures are logged once by the registry (per module), not again here.
    this.opts.log[quiet ? 'debug' : report.ok ? 'info' : 'warn']({ ok: report.ok, modules: report.modules, loaded: report.loaded, reloaded: report.reloaded, unloaded: report.unloaded, failed: report.failed.length, ms: report.ms }, formatReload(report));
    return report;
  }

  /** Connections accepted before the modules loaded (null once serving). */
  private early: ConnSocket[] | null = [];

  private onConnection(socket: ConnSocket): void {
    if (this.early !== null) {
      // Not paused: without a 'data' listener its bytes wait in its buffer for the peek.
      socket.on('error', onSocketError);
      this.early.push(socket);
      return;
    }
    if (socket.listenerCount('error') === 0) socket.on('error', onSocketError);
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
    peek(socket, this.peeker);
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
    peek(socket, this.overLimitPeeker);
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
      new AdminSession(socket, this.opts.adminControl ?? this, guard, true).start(data, ended);
      return;
    }
    this.rejected.maxConnections++;
    if (outcome === PeekOutcome.Closed) socket.destroy();
    else endBusy(socket, data, ended, Math.min(this.opts.peekTimeoutMs, OVER_LIMIT_PEEK_MS));
  }

  private onPeeked(socket: ConnSocket, outcome: PeekOutcome, entry: PrefixEntry<RouteTarget> | null, data: Buffer | null, ended: boolean): void {
    const rec = records.get(socket)!;
    rec.peeking = false;
    // The peek leaves the socket reading; only the HTTP parser takes it over at once (see peek()).
    if (entry === null || entry.target.kind !== 'http' || outcome !== PeekOutcome.Routed) socket.pause();
    if (outcome !== PeekOutcome.Routed || entry === null) {
      if (outcome === PeekOutcome.Closed || data === null) {
        if (outcome === PeekOutcome.Timeout) this.rejected.peekTimeout++;
        socket.destroy();
      } else {
        if (outcome === PeekOutcome.Timeout) this.rejected.peekTimeout++;
        else this.rejected.noRoute++;
        endWith(socket, ERR_NO_ROUTE);
      }
      return;
    }
    if (this.shutdownPromise) {
      socket.destroy();
      return;
    }
    const target = entry.target;
    if (target.kind === 'admin') {
      rec.admin = true;
      new AdminSession(socket, this.opts.adminControl ?? this, this.guard).start(data, ended);
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
    const idle = route.idleTimeout ?? this.opts.idleTimeoutMs;
    if (idle > 0) socket.setTimeout(idle, onIdle);
    const ctx = new ConnectionContext(version, socket);

    if (route.kind === 'stream') {
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
    const invoke: Invoke = (msg) => {
      const r = version.messageRoute(msg, route);
      if (r === null) return ERR_NO_ROUTE_REPLY;
      if (r.pool && pool) return pool.run((gen ??= pool.acquire(socket)), version, r, msg, ctx, socket);
      return r.message!(msg, ctx);
    };
    const session: MessageSession = new MessageSession(socket, invoke, {
      framing: route.framing,
      maxWhole: this.opts.maxMessage,
      maxPending: MAX_PENDING_REPLIES,
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
  constructor(readonly all: Set<ConnSocket>) {}
}

/** Connection records by socket: a WeakMap, so node's sockets keep their hidden class (see peek.ts). */
const records = new WeakMap<Socket, ConnRecord>();
type ConnSocket = Socket;

function onConnClose(this: ConnSocket): void {
  const rec = records.get(this)!;
  rec.all.delete(this);
  rec.version?.detach(this, rec.routeIndex);
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
