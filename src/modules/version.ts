// SPDX-License-Identifier: LGPL-3.0-or-later
/**
 * One loaded version of a module. Erlang-style: a version that is replaced
 * keeps its open connections until they close (or the drain timeout closes
 * them); only then does its `dispose` run.
 */
import type { Socket } from 'node:net';
import type { ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import type { Logger } from 'pino';
import type { Keep } from '../../shared/index.ts';
import { MatchState, PrefixTable } from '../router/prefix-table.ts';
import type { CompiledRoute, ModuleSpec } from './validate.ts';
import { Slots } from '../util/slots.ts';

export type VersionState = 'loading' | 'live' | 'retired' | 'disposed';

export interface VersionInfo {
  version: number;
  state: VersionState;
  connections: number;
  requestsInFlight: number;
}

export class ModuleVersion {
  state: VersionState = 'loading';
  /** Sockets bound to this version: stream/message connections and upgraded (WebSocket) sockets. */
  readonly connections = new Set<Socket | Duplex>();
  /** Open connections per route index, for per-route maxConnections (upgraded sockets for HTTP routes). */
  readonly routeConnections: number[];
  /** HTTP requests in flight on this version (their responses not yet closed). */
  readonly requests = new Slots<ServerResponse>();
  /** In-flight requests per route index. */
  readonly routeRequests: number[];
  /** Requests finished per route index. */
  readonly routeServed: number[];
  private drainTimer: NodeJS.Timeout | null = null;
  private disposed: Promise<void> | null = null;
  private resolveDisposed: (() => void) | null = null;
  /** Extra work when the version is purged (pool workers, snapshot file). */
  onPurge: (() => void | Promise<void>) | null = null;

  constructor(
    readonly file: string,
    readonly number: number,
    readonly hash: string,
    readonly url: string,
    readonly spec: ModuleSpec,
    readonly config: Readonly<Record<string, string>>,
    readonly log: Logger,
    /** `ctx.keep` of this module (shared by all its versions). */
    readonly keep: Keep,
  ) {
    this.routeConnections = spec.routes.map(() => 0);
    this.routeRequests = spec.routes.map(() => 0);
    this.routeServed = spec.routes.map(() => 0);
  }

  get name(): string {
    return this.spec.name;
  }

  private msgTable: PrefixTable<CompiledRoute> | null = null;
  /** Message routes whose prefix another message route of this module extends. */
  private extended: Set<number> | null = null;

  /**
   * The message route of this module for one message of a connection the
   * module owns: the longest matching prefix among its message routes, or
   * null. `hint` (the connection's first route) is tried first: most
   * messages of a connection start with the same prefix.
   */
  messageRoute(msg: Buffer, hint: CompiledRoute): CompiledRoute | null {
    if (this.msgTable === null) {
      const routes = this.spec.routes.filter((r) => r.kind === 'message');
      this.msgTable = new PrefixTable(routes.map((r) => ({ prefix: r.prefix, target: r })));
      this.extended = new Set(routes.filter((r) => routes.some((o) => o !== r && o.prefix.length > r.prefix.length && o.prefix.subarray(0, r.prefix.length).equals(r.prefix))).map((r) => r.index));
    }
    const p = hint.prefix;
    if (!this.extended!.has(hint.index) && startsWith(msg, p)) return hint;
    const r = this.msgTable.match(msg);
    // The message is complete: an undecided match (a longer prefix could have followed) takes the best so far.
    if (r.state === MatchState.NoMatch) return null;
    return r.entry?.target ?? null;
  }

  /** Binds a socket to this version; the server calls `detach` when it closes. */
  attach(socket: Socket | Duplex, routeIndex: number): void {
    this.connections.add(socket);
    this.routeConnections[routeIndex]!++;
  }

  detach(socket: Socket | Duplex, routeIndex: number): void {
    if (!this.connections.delete(socket)) return;
    this.routeConnections[routeIndex]!--;
    if (this.state === 'retired' && this.idle) void this.purge();
  }

  /** An HTTP request starts on this version; `endRequest` with the returned slot when its response closes. */
  beginRequest(res: ServerResponse, routeIndex: number): number {
    this.routeRequests[routeIndex]!++;
    return this.requests.add(res);
  }

  endRequest(res: ServerResponse, routeIndex: number, slot: number): void {
    if (!this.requests.remove(slot, res)) return;
    this.routeRequests[routeIndex]!--;
    this.routeServed[routeIndex]!++;
    if (this.state === 'retired' && this.idle) void this.purge();
  }

  /** Nothing in flight: no bound socket, no request. */
  get idle(): boolean {
    return this.connections.size === 0 && this.requests.size === 0;
  }

  /**
   * Takes the version out of service. Resolves once it is disposed: at once
   * with no connections, else when the last one closes or `drainMs` passes
   * (then the rest are destroyed).
   */
  retire(drainMs: number): Promise<void> {
    if (this.disposed) return this.disposed;
    this.state = 'retired';
    this.disposed = new Promise((r) => (this.resolveDisposed = r));
    if (this.idle) void this.purge();
    else {
      this.drainTimer = setTimeout(() => {
        this.log.warn({ connections: this.connections.size, requests: this.requests.size }, 'drain timeout: closing old connections');
        for (const s of this.connections) s.destroy();
        for (const res of this.requests.values()) res.destroy();
      }, drainMs);
      this.drainTimer.unref();
    }
    return this.disposed;
  }

  private async purge(): Promise<void> {
    if (this.state === 'disposed') return;
    this.state = 'disposed';
    if (this.drainTimer) clearTimeout(this.drainTimer);
    try {
      await this.spec.dispose?.();
    } catch (err) {
      this.log.error({ err }, 'dispose failed');
    }
    try {
      await this.onPurge?.();
    } catch (err) {
      this.log.error({ err }, 'purge failed');
    }
    this.log.debug('version disposed');
    this.resolveDisposed?.();
  }

  info(): VersionInfo {
    return { version: this.number, state: this.state, connections: this.connections.size, requestsInFlight: this.requests.size };
  }
}

/** `msg` begins with `prefix`. Prefixes are a few bytes: a loop here beats a call into Buffer.compare per message. */
function startsWith(msg: Buffer, prefix: Buffer): boolean {
  const n = prefix.length;
  if (msg.length < n) return false;
  if (n > 32) return msg.compare(prefix, 0, n, 0, n) === 0;
  for (let i = 0; i < n; i++) if (msg[i] !== prefix[i]) return false;
  return true;
}
