// SPDX-License-Identifier: LGPL-3.0-or-later
/**
 * The status page's data (/_hrmr/status.json): STATUS (the whole server's,
 * per-worker rows with --workers) joined with the metrics (summed over
 * workers) and this process's recent reloads and errors. Totals only: the
 * page turns them into rates between two polls. Pure.
 */
import type { MetricJson } from './computed.ts';
import type { RecentError, RecentReload } from './hub.ts';

/** The totals of one process's STATUS that both this page and the supervisor's aggregation read. */
export interface StatusTotals {
  uptimeSeconds?: number;
  port?: number;
  connections?: number;
  adminSessions?: number;
  accepted?: number;
  rejected?: Record<string, number>;
  reloads?: number;
  memory?: { rssBytes?: number; heapUsedBytes?: number };
}

interface StatusIn extends StatusTotals {
  leakedVersions?: number;
  reloadMode?: string;
  modules?: Array<{ name: string; version: number; swapping?: boolean; connections?: number; routes?: Array<Record<string, unknown>>; draining?: Array<{ version: number }> }>;
  pool?: Record<string, unknown>;
  workers?: Array<Record<string, unknown>>;
  supervisor?: Record<string, unknown>;
}

export interface StatusRoute {
  route: string;
  kind: string;
  requests: number;
  failed: number;
  outcomes: Record<string, number>;
}

export interface StatusModule {
  name: string;
  version: number;
  /** `NAME vN` */
  label: string;
  swapping: boolean;
  connections: number;
  draining: number[];
  routes: StatusRoute[];
}

const FAILED = new Set(['5xx', 'aborted', 'error', 'timeout', 'busy']);

export function buildStatusJson(status: unknown, metrics: readonly MetricJson[], recent: { recentReloads: readonly RecentReload[]; recentErrors: readonly RecentError[] }, now = Date.now()): Record<string, unknown> {
  const s = (status ?? {}) as StatusIn;
  const byName = new Map(metrics.map((m) => [m.name, m]));
  const routes = new Map<string, StatusRoute>();
  for (const v of byName.get('hrmr_requests_total')?.values ?? []) {
    const key = `${v.labels.module}\0${v.labels.route}`;
    let r = routes.get(key);
    if (!r) routes.set(key, (r = { route: String(v.labels.route), kind: '', requests: 0, failed: 0, outcomes: {} }));
    const o = String(v.labels.outcome);
    r.outcomes[o] = (r.outcomes[o] ?? 0) + v.value;
    r.requests += v.value;
    if (FAILED.has(o)) r.failed += v.value;
  }
  const modules: StatusModule[] = (s.modules ?? []).map((m) => ({
    name: m.name,
    version: m.version,
    label: `${m.name} v${m.version}`,
    swapping: m.swapping === true,
    connections: m.connections ?? 0,
    draining: (m.draining ?? []).map((d) => d.version),
    routes: (m.routes ?? []).map((r) => {
      const label = String(r.http ?? r.prefix ?? '');
      const kind = String(r.kind ?? '');
      const found = routes.get(`${m.name}\0${label}`);
      return { route: label, kind, requests: found?.requests ?? 0, failed: found?.failed ?? 0, outcomes: found?.outcomes ?? {} };
    }),
  }));
  const connections: Record<string, number> = {};
  for (const v of byName.get('hrmr_connections')?.values ?? []) connections[String(v.labels.kind)] = v.value;
  const rss = byName.get('process_resident_memory_bytes')?.values ?? [];
  const lag = byName.get('nodejs_eventloop_lag_seconds')?.values ?? [];
  const perWorker = (vals: typeof rss): Record<string, number> => Object.fromEntries(vals.map((v) => [String(v.labels.worker ?? '0'), v.value]));
  const since = now - 5 * 60_000;
  return {
    time: now,
    pid: process.pid,
    uptimeSeconds: s.uptimeSeconds ?? 0,
    port: s.port ?? null,
    connections: Object.keys(connections).length > 0 ? connections : { total: s.connections ?? 0, admin: s.adminSessions ?? 0 },
    accepted: s.accepted ?? 0,
    refused: s.rejected ?? {},
    reloads: s.reloads ?? 0,
    reloadMode: s.reloadMode ?? null,
    leakedVersions: s.leakedVersions ?? 0,
    modules,
    recentReloads: [...recent.recentReloads].reverse().slice(0, 20),
    recentErrors: recent.recentErrors.filter((e) => e.time >= since).reverse().slice(0, 20),
    errorsLast5m: recent.recentErrors.filter((e) => e.time >= since).length,
    pool: s.pool ?? null,
    memory: s.memory ?? null,
    rssByWorker: perWorker(rss),
    eventLoopLagByWorker: perWorker(lag),
    workers: s.workers ?? null,
    supervisor: s.supervisor ?? null,
    metrics: metrics.length > 0,
  };
}
