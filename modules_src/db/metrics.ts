// SPDX-License-Identifier: LGPL-3.0-or-later
/**
 * db's Prometheus metrics (ctx.metrics): queries and batches by outcome
 * with their latency, engine errors by code (SQLite's result code name or
 * PostgreSQL's SQLSTATE: a fixed set), and the PostgreSQL pool's use. The
 * backend's two entry points are wrapped in place, so the backends and
 * their callers stay as they are. In pool workers (SQLite) the counts reach
 * /metrics through the main thread.
 */
import type { ModuleMetrics } from '../../shared/index.ts';
import { DbError } from './errors.ts';
import type { Backend } from './protocol.ts';

/** Wraps `backend.query` and `backend.batch` with counting; returns the same object. */
export function instrumentDb<B extends Backend>(backend: B, m: ModuleMetrics): B {
  const queries = m.counter('hrmr_db_queries_total', 'Queries and batches by op (query, batch) and outcome (ok, error)', ['op', 'outcome']);
  const latency = m.histogram('hrmr_db_query_duration_seconds', 'Time a query or batch took in the engine, by op', ['op']);
  const errors = m.counter('hrmr_db_errors_total', 'Failed queries by error code (SQLite result code, PostgreSQL SQLSTATE, or the module own: timeout, unavailable...)', ['code']);
  const wrap = <A, R>(op: 'query' | 'batch', fn: (a: A) => R | Promise<R>) => {
    // Label objects made once (prom-client keeps them, never changes them): no allocation per query for them.
    const opLabel = { op };
    const ok = { op, outcome: 'ok' };
    const failed = { op, outcome: 'error' };
    return (a: A): R | Promise<R> => {
      const t0 = performance.now();
      const done = (err: unknown): void => {
        latency.observe(opLabel, (performance.now() - t0) / 1000);
        queries.inc(err === null ? ok : failed);
        if (err !== null) errors.inc({ code: codeOf(err) });
      };
      let out: R | Promise<R>;
      try {
        out = fn(a);
      } catch (err) {
        done(err);
        throw err;
      }
      if (!(out instanceof Promise)) {
        done(null);
        return out;
      }
      return out.then(
        (v) => (done(null), v),
        (err: unknown) => {
          done(err);
          throw err;
        },
      );
    };
  };
  backend.query = wrap('query', backend.query.bind(backend));
  backend.batch = wrap('batch', backend.batch.bind(backend));
  return backend;
}

function codeOf(err: unknown): string {
  if (err instanceof DbError) return err.code;
  const c = (err as { code?: unknown } | null)?.code;
  return typeof c === 'string' && /^[A-Z0-9_]{1,64}$/.test(c) ? c : 'internal';
}

/** The network engine pool's connections by state (total, idle, waiting clients), read at scrape time. */
export function pgPoolMetrics(m: ModuleMetrics, pool: () => { totalCount: number; idleCount: number; waitingCount: number } | null): void {
  m.gauge('hrmr_db_pool_connections', 'Network engine pool (PostgreSQL, MySQL): connections open (total), idle, and callers waiting for one', ['state'], () => {
    const p = pool();
    return p === null ? null : [[{ state: 'total' }, p.totalCount], [{ state: 'idle' }, p.idleCount], [{ state: 'waiting' }, p.waitingCount]];
  });
}
