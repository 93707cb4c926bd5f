// SPDX-License-Identifier: LGPL-3.0-or-later
/**
 * The PostgreSQL backend: a `pg` connection pool on the main thread (pg is
 * asynchronous, so a slow query only holds one pooled connection, never the
 * event loop). Queries go through the extended protocol (one statement per
 * query, parameters never spliced into SQL). Each connection carries
 * `statement_timeout`, so the server itself cancels a query over the limit.
 * A server that is down or restarting fails fast (connection refused → 503);
 * broken connections are dropped by the pool and new ones opened on demand.
 */
import type pg from 'pg';
import type { DbConfig } from './config.ts';
import { DbError, fromPg } from './errors.ts';
import { checkFor } from './guard.ts';
import type { BatchRequest, Params, QueryRequest, RowMode, Statement } from './request.ts';
import { Budget, RowCollector, type BatchResult, type QueryResult } from './results.ts';
import { pgNamed } from './sql.ts';
import { pgParam, type Row } from './values.ts';

/** The pg package, imported by loadPg() when a URL selects PostgreSQL (a SQLite server never loads it). */
let pgLib: typeof pg | null = null;

export async function loadPg(): Promise<void> {
  if (pgLib !== null) return;
  pgLib = ((await import('pg')) as { default: typeof pg }).default;
  CollectingQuery = collectingQueryClass(pgLib);
}

function lib(): typeof pg {
  if (pgLib === null) throw new Error('db: pg is not loaded (loadPg)');
  return pgLib;
}

const INT8 = 20;
/** date, time, timestamp, timestamptz, timetz: kept as PostgreSQL's text (no time-zone surprises). */
const AS_TEXT = new Set([1082, 1083, 1114, 1184, 1266]);

function int8(s: string): number | string {
  const n = Number(s);
  return Number.isSafeInteger(n) ? n : s;
}

const types = {
  getTypeParser(oid: number, format?: 'text' | 'binary'): unknown {
    if (format !== 'binary') {
      if (oid === INT8) return int8;
      if (AS_TEXT.has(oid)) return String;
    }
    return (lib().types.getTypeParser as (o: number, f?: string) => unknown)(oid, format);
  },
};

function toPg(st: Statement): { text: string; values: unknown[] } {
  const p: Params | undefined = st.params;
  if (p === undefined) return { text: st.sql, values: [] };
  if (Array.isArray(p)) return { text: st.sql, values: p.map((v, i) => pgParam(v, `params[${i}]`)) };
  const r = pgNamed(st.sql, p as Record<string, unknown>);
  return { text: r.text, values: r.values.map((v, i) => pgParam(v, `params[${i}]`)) };
}

/** pg's Query internals this subclass relies on (pg 8). */
interface QueryInternals {
  _canceledDueToError: unknown;
  _result: { parseRow(fields: unknown[]): Row; fields: Array<{ name: string }>; command: string | null; rowCount: number | null };
  callback?: (err: Error | null) => void;
}

/**
 * A query whose rows go to a RowCollector as they arrive, never into pg's
 * result array. Past a limit the rest of the rows are skipped and the
 * connection is destroyed (the server stops when its next write fails, and
 * nothing of that answer can reach a later query), so memory stays bounded.
 */
type CollectingQueryClass = new (config: pg.QueryConfig, budget: Budget, onOver: () => void) => pg.Query & { readonly sink: RowCollector; shape(): QueryResult };
/** Set by loadPg (the class extends pg's own Query, so it exists once pg is loaded). */
let CollectingQuery: CollectingQueryClass = null as unknown as CollectingQueryClass;

function collectingQueryClass(lib: typeof pg): CollectingQueryClass {
  const Query = lib.Query;
  return class CollectingQuery extends (Query as unknown as new (config: pg.QueryConfig) => pg.Query) {
    readonly sink: RowCollector;
    constructor(
      config: pg.QueryConfig,
      budget: Budget,
      private readonly onOver: () => void,
    ) {
      super(config);
      this.sink = new RowCollector(budget);
    }

    handleRowDescription(msg: { fields: unknown[] }): void {
      (Query.prototype as unknown as { handleRowDescription(m: unknown): void }).handleRowDescription.call(this, msg);
      // Rows go to the sink only.
      (this as unknown as { _accumulateRows: boolean })._accumulateRows = false;
    }

    handleDataRow(msg: { fields: unknown[] }): void {
      const q = this as unknown as QueryInternals;
      if (q._canceledDueToError) return;
      try {
        this.sink.add(q._result.parseRow(msg.fields));
      } catch (err) {
        q._canceledDueToError = err;
        if (err instanceof DbError && err.status === 413) this.onOver();
      }
    }

    shape(): QueryResult {
      const r = (this as unknown as QueryInternals)._result;
      if (r.command === 'SELECT' || (r.fields && r.fields.length > 0)) return { rows: this.sink.done(), columns: r.fields.map((f) => f.name) };
      return { changes: r.rowCount ?? 0, lastInsertRowid: null };
    }
  };
}

type Log = { warn(o: object, msg: string): void };

export class PgBackend {
  readonly pool: pg.Pool;

  constructor(
    private readonly cfg: DbConfig,
    log: Log,
  ) {
    this.pool = new (lib().Pool)({
      connectionString: cfg.url,
      max: cfg.poolSize,
      application_name: 'hrmr-db',
      // The server cancels a query over the limit (SQLSTATE 57014 → 504).
      ...(cfg.timeout > 0 ? { statement_timeout: cfg.timeout, query_timeout: cfg.timeout + 5000 } : {}),
      connectionTimeoutMillis: Math.max(1000, Math.min(cfg.timeout || 5000, 5000)),
      idleTimeoutMillis: 30_000,
      types: types as never,
    });
    // An idle connection the server dropped (restart) errors here; the pool discards it.
    this.pool.on('error', (err) => log.warn({ err: err.message }, 'db: idle PostgreSQL connection lost'));
  }

  private config(st: Statement, mode: RowMode): pg.QueryConfig {
    checkFor('postgres', st.sql);
    const { text, values } = toPg(st);
    return { text, values, queryMode: 'extended', ...(mode === 'array' ? { rowMode: 'array' } : {}) } as pg.QueryConfig;
  }

  async query(req: QueryRequest): Promise<QueryResult> {
    const qc = this.config(req, req.rowMode);
    if (!this.cfg.readonly) {
      const client = await this.connect();
      let broken: Error | undefined;
      try {
        return await this.run(client, qc, new Budget(this.cfg));
      } catch (err) {
        const e = fromPg(err);
        if (e.status === 503 || e.status === 413) broken = err as Error;
        throw e;
      } finally {
        this.release(client, broken);
      }
    }
    const { results } = await this.transaction([qc], false);
    return results[0]!;
  }

  async batch(req: BatchRequest): Promise<BatchResult> {
    const qcs = req.statements.map((st, i) => {
      try {
        return this.config(st, req.rowMode);
      } catch (err) {
        throw fromPg(err).at(i);
      }
    });
    return this.transaction(qcs, true);
  }

  private async connect(): Promise<pg.PoolClient> {
    let client: pg.PoolClient;
    try {
      client = await this.pool.connect();
    } catch (err) {
      throw fromPg(err);
    }
    // A checked-out client has no 'error' listener: a connection dying under a query must not crash the process.
    client.on('error', ignore);
    return client;
  }

  private release(client: pg.PoolClient, broken?: Error): void {
    client.removeListener('error', ignore);
    // A connection in an unknown state is destroyed, not reused.
    client.release(broken);
  }

  /** One statement on `client`, its rows collected under `budget`. */
  private run(client: pg.PoolClient, qc: pg.QueryConfig, budget: Budget): Promise<QueryResult> {
    return new Promise((resolve, reject) => {
      const q = new CollectingQuery(qc, budget, () => (client as unknown as { connection: { stream: { destroy(): void } } }).connection.stream.destroy());
      (q as unknown as QueryInternals).callback = (err) => (err ? reject(err) : resolve(q.shape()));
      client.query(q as unknown as pg.QueryConfig);
    });
  }

  /** Runs the statements in one transaction (READ ONLY with db.readonly); `indexed`: errors name their statement. */
  private async transaction(qcs: pg.QueryConfig[], indexed: boolean): Promise<BatchResult> {
    const client = await this.connect();
    let broken: Error | undefined;
    try {
      try {
        await client.query(this.cfg.readonly ? 'BEGIN READ ONLY' : 'BEGIN');
      } catch (err) {
        broken = err as Error;
        throw fromPg(err);
      }
      const results: QueryResult[] = [];
      const budget = new Budget(this.cfg);
      for (let i = 0; i < qcs.length; i++) {
        try {
          results.push(await this.run(client, qcs[i]!, budget));
        } catch (err) {
          const e = fromPg(err);
          if (e.status === 503 || e.status === 413) broken = err as Error;
          else await client.query('ROLLBACK').catch((re: Error) => (broken = re));
          throw indexed ? e.at(i) : e;
        }
      }
      try {
        await client.query(this.cfg.readonly ? 'ROLLBACK' : 'COMMIT');
      } catch (err) {
        broken = err as Error;
        throw fromPg(err);
      }
      return { results };
    } finally {
      this.release(client, broken);
    }
  }

  /** Proves the server answers (at setup). */
  async check(): Promise<void> {
    const c = await this.pool.connect();
    c.release();
  }

  /** STATUS: the pool's connections. */
  status(): Record<string, number> {
    return { total: this.pool.totalCount, idle: this.pool.idleCount, waiting: this.pool.waitingCount };
  }

  async close(): Promise<void> {
    await this.pool.end();
  }
}

export { DbError };

function ignore(): void {}
