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
import type { BatchRequest, Params, QueryRequest, RowMode, Statement } from './request.ts';
import { checkStatement, pgNamed } from './sql.ts';
import { pgParam, rowsOut, type Row } from './values.ts';
import type { QueryResult } from './sqlite.ts';

/** The pg package, imported by loadPg() when a URL selects PostgreSQL (a SQLite server never loads it). */
let pgLib: typeof pg | null = null;

export async function loadPg(): Promise<void> {
  pgLib ??= ((await import('pg')) as { default: typeof pg }).default;
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

function shape(r: pg.QueryResult): QueryResult {
  if (r.command === 'SELECT' || (r.fields && r.fields.length > 0)) {
    return { rows: rowsOut(r.rows as Row[]), columns: r.fields.map((f) => f.name) };
  }
  return { changes: r.rowCount ?? 0, lastInsertRowid: null };
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
    checkStatement(st.sql);
    const { text, values } = toPg(st);
    return { text, values, queryMode: 'extended', ...(mode === 'array' ? { rowMode: 'array' } : {}) } as pg.QueryConfig;
  }

  async query(req: QueryRequest): Promise<QueryResult> {
    const qc = this.config(req, req.rowMode);
    if (!this.cfg.readonly) {
      try {
        return shape(await this.pool.query(qc));
      } catch (err) {
        throw fromPg(err);
      }
    }
    const { results } = await this.transaction([qc], false);
    return results[0]!;
  }

  async batch(req: BatchRequest): Promise<{ results: QueryResult[] }> {
    const qcs = req.statements.map((st, i) => {
      try {
        return this.config(st, req.rowMode);
      } catch (err) {
        throw fromPg(err).at(i);
      }
    });
    return this.transaction(qcs, true);
  }

  /** Runs the statements in one transaction (READ ONLY with db.readonly); `indexed`: errors name their statement. */
  private async transaction(qcs: pg.QueryConfig[], indexed: boolean): Promise<{ results: QueryResult[] }> {
    let client: pg.PoolClient;
    try {
      client = await this.pool.connect();
    } catch (err) {
      throw fromPg(err);
    }
    let broken: Error | undefined;
    try {
      try {
        await client.query(this.cfg.readonly ? 'BEGIN READ ONLY' : 'BEGIN');
      } catch (err) {
        broken = err as Error;
        throw fromPg(err);
      }
      const results: QueryResult[] = [];
      for (let i = 0; i < qcs.length; i++) {
        try {
          results.push(shape(await client.query(qcs[i]!)));
        } catch (err) {
          const e = fromPg(err);
          await client.query('ROLLBACK').catch((re: Error) => (broken = re));
          if (e.status === 503) broken = err as Error;
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
      // A connection in an unknown state is destroyed, not reused.
      client.release(broken);
    }
  }

  async close(): Promise<void> {
    await this.pool.end();
  }
}

export { DbError };
