// SPDX-License-Identifier: LGPL-3.0-or-later
/**
 * Observability for one server process: the Prometheus registry (prom-client
 * defaults, hrmr's core metrics, module metrics), the small counting hooks
 * the hot paths call, the recent reloads and errors the status page shows,
 * and the access log. The server composes it; the HTTP host serves it
 * (endpoint.ts) before module routing.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { Logger } from 'pino';
import { collectDefaultMetrics, Registry } from 'prom-client';
import type { Reply } from '../../shared/index.ts';
import type { ReloadReport } from '../modules/registry.ts';
import type { CompiledRoute } from '../modules/validate.ts';
import type { ModuleVersion } from '../modules/version.ts';
import type { WorkerPool } from '../pool/pool.ts';
import { Computed, OUTCOME_INDEX, RawHistogram, routeMetrics, RouteStats, statusClass, type MetricJson, type MetricValue } from './computed.ts';
import { coreMetrics, type CoreSources } from './core-metrics.ts';
import { moduleMetricStore } from './module-api.ts';
import { now } from '../util/clock.ts';

export interface HubOptions {
  /** null: metrics off (`--metrics-path off`). */
  metricsPath: string | null;
  accessLog: boolean;
  log: Logger;
}

/** prom-client's default gauges whose names end in _total draw a promtool lint warning; hrmr drops them (nodejs_active_* without _total stay). */
const DROPPED_DEFAULTS = ['nodejs_active_handles_total', 'nodejs_active_requests_total', 'nodejs_active_resources_total'];

/** What a connection's access-log line needs (the server's connection record). */
export interface ConnCounts {
  t0: number;
  messages: number;
}

export interface RecentReload {
  time: number;
  module: string;
  result: 'loaded' | 'reloaded' | 'unloaded' | 'failed';
  version: number | null;
  error?: string;
}

export interface RecentError {
  time: number;
  module: string;
  route: string;
  outcome: string;
}

const RECENT = 50;

export class MetricsHub {
  readonly registry = new Registry();
  /** Whether the hot paths count (metrics on, or the access log). */
  readonly counting: boolean;
  readonly metricsOn: boolean;
  private readonly routes = new Map<string, RouteStats>();
  private readonly byVersion = new WeakMap<ModuleVersion, RouteStats[]>();
  private readonly peek = new RawHistogram();
  private readonly reloadTime = new RawHistogram([0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30]);
  private readonly poolTasks = new RawHistogram();
  private readonly reloadCounts = new Map<string, number>();
  private readonly unrouted = new Map<number, number>();
  readonly recentReloads: RecentReload[] = [];
  readonly recentErrors: RecentError[] = [];
  private readonly access: Logger | null;
  private sources: CoreSources | null = null;
  private fresh: () => void = () => undefined;
  /** `--workers`: every worker's metrics as JSON (through the supervisor); null in one process. */
  gather: (() => Promise<MetricJson[][]>) | null = null;
  /** The worker index in `--workers` (a `worker` label on per-worker values), else null. */
  worker: number | null = null;

  constructor(readonly opts: HubOptions) {
    this.metricsOn = opts.metricsPath !== null;
    this.counting = this.metricsOn || opts.accessLog;
    this.access = opts.accessLog ? opts.log.child({ access: true }) : null;
    if (!this.metricsOn) return;
    moduleMetricStore.attach(this.registry, (err) => opts.log.warn({ err }, 'module metric update from a pool worker failed'));
  }

  /** The server's counters, read at scrape time. */
  bind(sources: CoreSources): void {
    this.sources = sources;
    if (!this.metricsOn) return;
    const reg = (m: Computed): void => this.registry.registerMetric(m as never);
    const core = coreMetrics(sources);
    this.fresh = core.fresh;
    for (const m of core.metrics) reg(m);
    for (const m of routeMetrics(() => this.routes.values())) reg(m);
    reg(new Computed('hrmr_peek_duration_seconds', 'Time from accept until the first bytes decided the route', 'histogram', () => this.peek.values('hrmr_peek_duration_seconds', {})));
    reg(new Computed('hrmr_reloads_total', 'Module loads by RELOAD (and at start-up), by module and result: loaded, reloaded, unloaded, failed', 'counter', () => {
      const out: MetricValue[] = [];
      for (const [k, value] of this.reloadCounts) {
        const i = k.indexOf('\0');
        out.push({ labels: { module: k.slice(0, i), result: k.slice(i + 1) }, value });
      }
      return out;
    }));
    reg(new Computed('hrmr_reload_duration_seconds', 'Time a whole reload took (scan, import, setup, swap)', 'histogram', () => this.reloadTime.values('hrmr_reload_duration_seconds', {})));
    reg(new Computed('hrmr_pool_task_duration_seconds', 'Time from a pool task submitted until its result (queue wait included)', 'histogram', () => this.poolTasks.values('hrmr_pool_task_duration_seconds', {})));
    reg(new Computed('hrmr_http_unrouted_total', 'HTTP requests the host answered itself, by code: 404 no route, 405 method, 503 reloading', 'counter', () =>
      [...this.unrouted].map(([code, value]) => ({ labels: { code }, value })),
    ));
    // prom-client's process and Node metrics after hrmr's own (so `curl /metrics | head` shows hrmr's first).
    collectDefaultMetrics({ register: this.registry });
    for (const n of DROPPED_DEFAULTS) this.registry.removeSingleMetric(n);
  }

  /**
   * Times pool HTTP tasks (wraps the pool's HTTP entry point; the pool itself
   * is unchanged). Pool message tasks are timed in message(), on the promise
   * it waits for anyway.
   */
  instrumentPool(pool: WorkerPool): void {
    if (!this.metricsOn) return;
    const h = this.poolTasks;
    const runHttp = pool.runHttp.bind(pool);
    pool.runHttp = (...a) => {
      const t0 = now();
      const p = runHttp(...a);
      const done = (): void => h.observe((now() - t0) / 1000);
      p.then(done, done);
      return p;
    };
  }

  statsFor(v: ModuleVersion, index: number): RouteStats {
    let list = this.byVersion.get(v);
    if (list === undefined) {
      list = v.spec.routes.map((r) => {
        const key = `${v.name}\0${r.label}`;
        let s = this.routes.get(key);
        if (s === undefined) this.routes.set(key, (s = new RouteStats(v.name, r.label, r.kind)));
        return s;
      });
      this.byVersion.set(v, list);
    }
    return list[index]!;
  }

  allRoutes(): IterableIterator<RouteStats> {
    return this.routes.values();
  }

  private failed(s: RouteStats, outcome: string): void {
    this.recentErrors.push({ time: Date.now(), module: s.module, route: s.route, outcome });
    if (this.recentErrors.length > RECENT) this.recentErrors.shift();
  }

  // Hooks (only called when `counting`).

  /** An HTTP response routed to a module closed. `start`: performance.now() at dispatch; `bytes0`: the socket's bytesWritten then. */
  httpDone(res: ServerResponse, v: ModuleVersion, index: number, start: number, bytes0: number): void {
    const ms = now() - start;
    const s = this.statsFor(v, index);
    const outcome = res.writableFinished ? statusClass(res.statusCode) : OUTCOME_INDEX.aborted;
    s.done(outcome, ms / 1000);
    if (outcome === OUTCOME_INDEX['5xx']) this.failed(s, String(res.statusCode));
    if (this.access !== null) this.accessHttp(res.req, res.statusCode, s.module, s.route, ms, bytes0, res.writableFinished);
  }

  /** The host answered 404/405/503 itself. */
  httpUnrouted(req: IncomingMessage, status: number): void {
    this.unrouted.set(status, (this.unrouted.get(status) ?? 0) + 1);
    if (this.access !== null) this.accessHttp(req, status, null, null, 0, -1, true);
  }

  /** A WebSocket (or other) upgrade handed to a module. */
  upgraded(v: ModuleVersion, index: number): void {
    // Counted, not timed: an upgraded socket has no response to time.
    this.statsFor(v, index).outcomes[OUTCOME_INDEX.upgraded]!++;
  }

  /** A built-in route (metrics, status page) answered. */
  builtinDone(req: IncomingMessage, status: number, route: string, start: number): void {
    if (this.access !== null) this.accessHttp(req, status, null, route, now() - start, -1, true);
  }

  private accessHttp(req: IncomingMessage, status: number, module: string | null, route: string | null, ms: number, bytes0: number, finished: boolean): void {
    const sock = req.socket as Socket;
    const bytes = bytes0 >= 0 ? sock.bytesWritten - bytes0 : null;
    this.access!.info({ kind: 'http', method: req.method, path: req.url, module, route, status: finished ? status : null, aborted: finished ? undefined : true, bytes, ms: round(ms), client: sock.remoteAddress }, 'access');
  }

  /** One message through a module's message route: counted with its outcome and latency. */
  message(v: ModuleVersion, r: CompiledRoute, call: (msg: Buffer, r: CompiledRoute) => Reply | Promise<Reply>, msg: Buffer, rec: ConnCounts): Reply | Promise<Reply> {
    rec.messages++;
    const t0 = now();
    const s = this.statsFor(v, r.index);
    let out: Reply | Promise<Reply>;
    try {
      out = call(msg, r);
    } catch (err) {
      this.messageDone(s, t0, OUTCOME_INDEX.error);
      throw err;
    }
    if (!(out instanceof Promise)) {
      s.done(OUTCOME_INDEX.ok, (now() - t0) / 1000);
      return out;
    }
    const pool = r.pool ? this.poolTasks : null;
    return out.then(
      (x) => {
        const sec = (now() - t0) / 1000;
        s.done(OUTCOME_INDEX.ok, sec);
        pool?.observe(sec);
        return x;
      },
      (err: unknown) => {
        pool?.observe((now() - t0) / 1000);
        const e = err as { name?: string; code?: string; message?: string } | null;
        // A queued task dropped because its connection closed was never answered: not counted.
        if (!(e?.name === 'Error' && e.message === 'connection closed')) {
          this.messageDone(s, t0, e?.name === 'PoolTaskError' ? (e.code === 'HRMR_POOL_BUSY' ? OUTCOME_INDEX.busy : OUTCOME_INDEX.timeout) : OUTCOME_INDEX.error);
        }
        throw err;
      },
    );
  }

  private messageDone(s: RouteStats, t0: number, outcome: number): void {
    s.done(outcome, (now() - t0) / 1000);
    this.failed(s, outcome === OUTCOME_INDEX.busy ? 'busy' : outcome === OUTCOME_INDEX.timeout ? 'timeout' : 'error');
  }

  /** A connection's route was decided (or it was refused) after its peek. */
  peeked(t0: number): void {
    this.peek.observe((now() - t0) / 1000);
  }

  /** A message or stream connection closed (access log). */
  connectionClosed(socket: Socket, v: ModuleVersion, route: string, kind: string, rec: ConnCounts): void {
    this.access?.info({ kind, module: v.name, version: v.number, route, messages: kind === 'message' ? rec.messages : undefined, bytesIn: socket.bytesRead, bytesOut: socket.bytesWritten, bytes: socket.bytesRead + socket.bytesWritten, ms: round(now() - rec.t0), client: socket.remoteAddress }, 'access');
  }

  /** A reload (or the start-up load) finished. `version`: the version serving now, by module name. */
  reloaded(report: ReloadReport, version: (module: string) => number | null): void {
    if (!this.counting && this.sources === null) return;
    this.reloadTime.observe(report.ms / 1000);
    const now = Date.now();
    const add = (module: string, result: RecentReload['result'], error?: string): void => {
      const k = `${module}\0${result}`;
      this.reloadCounts.set(k, (this.reloadCounts.get(k) ?? 0) + 1);
      this.recentReloads.push({ time: now, module, result, version: result === 'unloaded' ? null : version(module), ...(error ? { error } : {}) });
      if (this.recentReloads.length > RECENT) this.recentReloads.shift();
    };
    for (const m of report.loaded) add(m, 'loaded');
    for (const m of report.reloaded) add(m, 'reloaded');
    for (const m of report.unloaded) add(m, 'unloaded');
    for (const f of report.failed) add(f.module, 'failed', f.error);
  }

  /** This process's metrics as JSON, per-worker values labelled with the worker (for `--workers` aggregation). */
  async localJson(): Promise<MetricJson[]> {
    this.fresh();
    const list = (await this.registry.getMetricsAsJSON()) as unknown as MetricJson[];
    if (this.worker === null) return list;
    const w = this.worker;
    return list.map((m) =>
      perWorker(m.name) ? { ...m, values: m.values.map((v) => ({ ...v, labels: { ...v.labels, worker: w } })) } : m,
    );
  }

  /** This process's metrics in the text format. */
  text(): Promise<string> {
    this.fresh();
    return this.registry.metrics();
  }

  close(): void {
    moduleMetricStore.close();
  }
}

/** Values that mean something per worker process (a sum of them would not): memory and event-loop lag. */
export function perWorker(name: string): boolean {
  return name === 'process_resident_memory_bytes' || name.startsWith('nodejs_eventloop_lag');
}

function round(ms: number): number {
  return Math.round(ms * 1000) / 1000;
}
