// SPDX-License-Identifier: LGPL-3.0-or-later
/**
 * hrmr's core metrics that are read at scrape time from what the server
 * counts anyway (its STATUS): connections by kind, accepted and refused
 * connections, module versions, the pool, the HTTP host, AUTH failures.
 * Nothing here runs per request.
 */
import { Computed, type MetricValue } from './computed.ts';

/** The parts of HrmrServer.status() read here (see src/server.ts). */
export interface ServerStatus {
  accepted?: number;
  rejected?: Record<string, number>;
  leakedVersions?: number;
  authFailures?: number;
  modules?: Array<{ name: string; version: number; swapping?: boolean; draining?: Array<{ version: number }> }>;
  http?: { requests?: number; clientErrors?: number };
  pool?: { liveThreads?: number; generations?: number; queued?: number; running?: number; completed?: number; timeouts?: number; busy?: number; dropped?: number; abandoned?: number };
}

export type ConnectionKind = 'message' | 'stream' | 'http' | 'upgraded' | 'admin' | 'peeking';

export interface CoreSources {
  status(): ServerStatus;
  connections(): Record<ConnectionKind, number>;
}

/** STATUS `rejected` keys → `reason` label values. */
export const REFUSED_REASONS: ReadonlyArray<[key: string, reason: string]> = [
  ['maxConnections', 'busy'],
  ['routeMaxConnections', 'route_busy'],
  ['noRoute', 'no_route'],
  ['peekTimeout', 'peek_timeout'],
  ['reloading', 'reloading'],
];

/** `fresh()`: call at the start of each scrape; every metric of that scrape reads one STATUS snapshot. */
export function coreMetrics(src: CoreSources): { metrics: Computed[]; fresh(): void } {
  let cached: ServerStatus | null = null;
  const st = (): ServerStatus => (cached ??= src.status());
  const fresh = (): void => {
    cached = null;
  };
  const one = (v: number | undefined): MetricValue[] => [{ labels: {}, value: v ?? 0 }];
  const pool = (k: keyof NonNullable<ServerStatus['pool']>) => (): MetricValue[] => {
    const p = st().pool;
    return p ? one(p[k]) : [];
  };
  const metrics = [
    new Computed('hrmr_connections', 'Open connections by kind (message, stream, http, upgraded, admin, peeking: not routed yet)', 'gauge', () =>
      Object.entries(src.connections()).map(([kind, value]) => ({ labels: { kind }, value })),
    ),
    new Computed('hrmr_connections_accepted_total', 'Connections accepted', 'counter', () => one(st().accepted)),
    new Computed('hrmr_connections_refused_total', 'Connections refused, by reason (busy: --max-connections; route_busy: a route maxConnections; no_route; peek_timeout; reloading: 503 while swapped)', 'counter', () => {
      const r = st().rejected ?? {};
      return REFUSED_REASONS.map(([k, reason]) => ({ labels: { reason }, value: r[k] ?? 0 }));
    }),
    new Computed('hrmr_module_version', 'The version number serving now, per module (1, 2, ... per reload of a changed file)', 'gauge', () =>
      (st().modules ?? []).map((m) => ({ labels: { module: m.name }, value: m.version })),
    ),
    new Computed('hrmr_module_versions', 'Module versions in memory by state: live (serving) and draining (replaced, finishing their connections)', 'gauge', () => {
      const ms = st().modules ?? [];
      let draining = 0;
      for (const m of ms) draining += m.draining?.length ?? 0;
      return [
        { labels: { state: 'live' }, value: ms.length },
        { labels: { state: 'draining' }, value: draining },
      ];
    }),
    new Computed('hrmr_module_versions_leaked_total', 'Versions still in memory after dispose (a timer or listener keeps them alive)', 'counter', () => one(st().leakedVersions)),
    new Computed('hrmr_http_requests_total', 'HTTP requests the HTTP host parsed (routed or not)', 'counter', () => one(st().http?.requests)),
    new Computed('hrmr_http_client_errors_total', 'Malformed or timed-out HTTP requests (400, 408, 431, resets)', 'counter', () => one(st().http?.clientErrors)),
    new Computed('hrmr_admin_auth_failures_total', 'Wrong admin tokens sent with AUTH', 'counter', () => one(st().authFailures)),
    new Computed('hrmr_pool_threads', 'Live pool worker threads (every generation)', 'gauge', pool('liveThreads')),
    new Computed('hrmr_pool_generations', 'Pool generations alive (old ones close with their last connection)', 'gauge', pool('generations')),
    new Computed('hrmr_pool_tasks_queued', 'Pool tasks waiting for a thread', 'gauge', pool('queued')),
    new Computed('hrmr_pool_tasks_running', 'Pool tasks running on a thread', 'gauge', pool('running')),
    new Computed('hrmr_pool_tasks_completed_total', 'Pool tasks that ran to a value or an error', 'counter', pool('completed')),
    new Computed('hrmr_pool_task_timeouts_total', 'Pool tasks stopped by --task-timeout', 'counter', pool('timeouts')),
    new Computed('hrmr_pool_busy_total', 'Pool tasks refused because the queue was full (--max-queue)', 'counter', pool('busy')),
    new Computed('hrmr_pool_dropped_total', 'Queued pool tasks dropped because their connection closed', 'counter', pool('dropped')),
    new Computed('hrmr_pool_abandoned_total', 'Connections closed because their client gave up while its tasks waited', 'counter', pool('abandoned')),
  ];
  return { metrics, fresh };
}
