// SPDX-License-Identifier: LGPL-3.0-or-later
/**
 * db: one shared database for a fleet of bots. Clients send SQL over HTTP
 * (`POST /db/query`, `POST /db/batch`, JSON) or a line protocol (`DB {json}`,
 * `DB BATCH {json}`, `DB AUTH <token>`); hrmr runs it against one SQLite file
 * on the worker pool (default), or against PostgreSQL (`db.url=postgres://...`)
 * or MySQL/MariaDB (`db.url=mysql://...`) from the main thread through a
 * connection pool. The front ends here only know the Backend contract
 * (db/protocol.ts); which engine runs is decided once, in `openRemote`. See docs/db.md.
 *
 * Settings (`--set db.KEY=VALUE`): url, mount, token, readonly, synchronous,
 * busy_timeout, timeout, pool_size, max_body, max_rows, max_result_bytes (modules_src/db/config.ts).
 */
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import { defineModule, readBody, type Context, type MessageRoute, type PoolHttpRequest, type PoolHttpResponse, type Route, type SetupContext, type TooLargeReply } from '../shared/index.ts';
import { describe, parseConfig, taskTimeoutFrom, type DbConfig } from './db/config.ts';
import { DbError, errorLine } from './db/errors.ts';
import { loadMysql, MysqlBackend } from './db/mysql.ts';
import { loadPg, PgBackend } from './db/postgres.ts';
import { checkBearer, errorReply, httpReply, httpToLine, lineReply, tokenMatches, type Backend, type JsonReply, type Op, type RemoteBackend } from './db/protocol.ts';
import { parseLine } from './db/request.ts';
import { loadSqlite, openSqlite, SqliteBackend } from './db/sqlite.ts';
import { instrumentDb, pgPoolMetrics } from './db/metrics.ts';

/** This version's state in this thread (each version is a fresh module instance). */
let sqlite: SqliteBackend | null = null;
let remote: RemoteBackend | null = null;
let parsed: { raw: Readonly<Record<string, string>>; cfg: DbConfig } | null = null;

function configOf(raw: Readonly<Record<string, string>>): DbConfig {
  if (parsed?.raw === raw) return parsed.cfg;
  const cfg = parseConfig(raw, { cwd: process.cwd(), taskTimeout: taskTimeoutFrom(process.argv, process.env) });
  parsed = { raw, cfg };
  return cfg;
}

function sqliteBackend(ctx: Context): SqliteBackend {
  // setup opened it; a worker that skipped setup (never expected) opens on first use.
  if (sqlite === null) {
    const cfg = configOf(ctx.config);
    sqlite = new SqliteBackend(openSqlite(cfg), cfg);
  }
  return sqlite;
}

function remoteBackend(): RemoteBackend {
  if (remote === null) throw new DbError(503, 'unavailable', 'db module is not set up');
  return remote;
}

/** The network engines, by URL scheme (config.ts decided which). */
async function openRemote(cfg: DbConfig, log: SetupContext['log']): Promise<RemoteBackend> {
  if (cfg.backend !== 'mysql') {
    await loadPg();
    return new PgBackend(cfg, log);
  }
  await loadMysql();
  return new MysqlBackend(cfg, log);
}

const ENGINE_NAME = { sqlite: 'SQLite', postgres: 'PostgreSQL', mysql: 'MySQL/MariaDB' } as const;

const NOT_FOUND = (mount: string): JsonReply => errorReply(new DbError(404, 'not_found', `no such endpoint: POST ${mount}query or POST ${mount}batch`));

function send(res: ServerResponse, r: JsonReply): void {
  // Each reply has its own headers object: completed in place, not copied.
  r.headers['content-length'] = String(Buffer.byteLength(r.body));
  res.writeHead(r.status, r.headers);
  res.end(r.body);
}

/** The 413 for a body over db.max_body, in the db's JSON error format (readBody closes the connection after it). */
function tooLargeReply(max: number): TooLargeReply {
  const r = errorReply(new DbError(413, 'too_large', `request body over ${max} bytes (db.max_body)`));
  return { body: r.body, type: r.headers['content-type'] };
}

/**
 * Line protocol routes. hrmr routes each line of a connection to the
 * module's longest-matching message route, so every `DB ` line comes here.
 *
 * Without a token: one `DB ` route, pooled for SQLite (each line runs on a
 * worker) or on the main thread for PostgreSQL.
 *
 * With a token the connection must be remembered as authenticated, and
 * pooled lines of one connection run on different workers that share no
 * state. So the `DB ` route runs on the main thread, keeps the flag per
 * connection (its ctx), refuses (ERR forbidden, then closes) until
 * `DB AUTH <token>`, and sends SQLite queries to the pool through this
 * server's own `{mount}query`/`{mount}batch` HTTP routes over loopback.
 */
function lineRoutes(cfg: DbConfig, pool: boolean, backend: (ctx: Context) => Backend, viaHttp: boolean): MessageRoute[] {
  const token = cfg.token;
  if (token === null) {
    return [{ prefix: 'DB ', framing: 'line', pool, message: (msg, ctx) => lineReply(backend(ctx), msg.toString('utf8'), null) }];
  }
  const authed = new WeakSet<Context>();
  return [
    {
      prefix: 'DB ',
      framing: 'line',
      message(msg, ctx) {
        const line = msg.toString('utf8');
        if (line.startsWith('DB AUTH ') || line === 'DB AUTH') {
          if (!tokenMatches(line.slice(8), token)) throw new Error('forbidden wrong token');
          authed.add(ctx);
          return 'OK {}\n';
        }
        // A throw answers ERR and closes the connection: nothing sent after it runs.
        if (!authed.has(ctx)) throw new Error('forbidden send DB AUTH <token> as the first line');
        return viaHttp ? forwardLine(cfg, line, ctx) : lineReply(backend(ctx), line, token);
      },
    },
  ];
}

let agent: http.Agent | null = null;

/** One authenticated line sent to the pool through the HTTP routes of the server it arrived on. */
function forwardLine(cfg: DbConfig, line: string, ctx: Context): string | Promise<string> {
  let op: Op;
  let body: string;
  try {
    const cmd = parseLine(line);
    if (cmd.kind === 'auth') return 'OK {}\n';
    op = cmd.kind;
    body = line.slice(cmd.kind === 'batch' ? 9 : 3);
  } catch (err) {
    return errorLine(err as DbError);
  }
  const sock = localSocket(ctx);
  agent ??= new http.Agent({ keepAlive: true, maxSockets: 64 });
  return new Promise((resolve) => {
    const req = http.request(
      { host: sock.localAddress, port: sock.localPort, method: 'POST', path: cfg.mount + op, agent: agent!, headers: { authorization: `Bearer ${cfg.token}`, 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (d: Buffer) => chunks.push(d));
        res.on('end', () => resolve(httpToLine(res.statusCode ?? 0, Buffer.concat(chunks).toString('utf8'))));
        res.on('error', (err) => resolve(errorLine(new DbError(503, 'unavailable', err.message))));
      },
    );
    req.on('error', (err) => resolve(errorLine(new DbError(503, 'unavailable', err.message))));
    req.end(body);
  });
}

/** The accepted socket behind a main-thread ctx (its local address is where this server listens). */
function localSocket(ctx: Context): { localAddress: string; localPort: number } {
  const s = (ctx as unknown as { socket?: { localAddress?: string; localPort?: number } }).socket;
  if (!s?.localPort || !s.localAddress) throw new Error('internal cannot find the local address of this connection');
  return { localAddress: s.localAddress, localPort: s.localPort };
}

function sqliteRoutes(cfg: DbConfig): Route[] {
  const http = (op: Op): Route => ({
    http: cfg.mount + op,
    methods: ['POST'],
    pool: true,
    maxBody: cfg.maxBody,
    request(req: PoolHttpRequest, ctx: Context): PoolHttpResponse {
      const denied = checkBearer(req.headers.authorization, cfg.token);
      if (denied) return errorReply(denied);
      return httpReply(sqliteBackend(ctx), op, req.body) as JsonReply;
    },
  });
  return [http('query'), http('batch'), notFound(cfg), ...lineRoutes(cfg, true, sqliteBackend, true)];
}

/** Routes on the main thread, for a network engine. */
function remoteRoutes(cfg: DbConfig): Route[] {
  // Built once: a DbError per request (its stack captured) cost more than the query's own JS.
  const tooLarge = tooLargeReply(cfg.maxBody);
  const http = (op: Op): Route => ({
    http: cfg.mount + op,
    methods: ['POST'],
    async request(req: IncomingMessage, res: ServerResponse): Promise<void> {
      const denied = checkBearer(req.headers.authorization, cfg.token);
      if (denied) {
        req.resume();
        return send(res, errorReply(denied));
      }
      const body = await readBody(req, { max: cfg.maxBody, res, tooLarge });
      if (body === null) return;
      send(res, await httpReply(remoteBackend(), op, body));
    },
  });
  return [http('query'), http('batch'), notFound(cfg), ...lineRoutes(cfg, false, remoteBackend, false)];
}

function notFound(cfg: DbConfig): Route {
  return {
    http: cfg.mount,
    request(req: IncomingMessage, res: ServerResponse): void {
      req.resume();
      send(res, NOT_FOUND(cfg.mount));
    },
  };
}

export default defineModule({
  routes(config) {
    const cfg = configOf(config);
    return cfg.backend === 'sqlite' ? sqliteRoutes(cfg) : remoteRoutes(cfg);
  },

  async setup(ctx: SetupContext) {
    const cfg = configOf(ctx.config);
    if (cfg.backend === 'sqlite') {
      if (ctx.thread === 'worker') {
        await loadSqlite();
        sqlite = instrumentDb(new SqliteBackend(openSqlite(cfg), cfg), ctx.metrics);
      } else {
        // The file is opened (and switched to WAL) by the pool's load of this version in a worker,
        // which fails the load when it cannot be: the main thread never loads better-sqlite3.
        ctx.log.info({ db: describe(cfg), mount: cfg.mount, readonly: cfg.readonly, token: cfg.token !== null }, 'db: SQLite on the worker pool');
      }
      return;
    }
    if (ctx.thread === 'worker') return;
    const r = instrumentDb(await openRemote(cfg, ctx.log), ctx.metrics);
    remote = r;
    const name = ENGINE_NAME[cfg.backend];
    pgPoolMetrics(ctx.metrics, () => {
      const st = remote?.status();
      return st ? { totalCount: st.total ?? 0, idleCount: st.idle ?? 0, waitingCount: st.waiting ?? 0 } : null;
    });
    try {
      await r.check();
      ctx.log.info({ db: describe(cfg), mount: cfg.mount, readonly: cfg.readonly, token: cfg.token !== null, timeout: cfg.timeout }, `db: ${name}`);
    } catch (err) {
      // Not a config error: serve (503 per query) and reconnect when it is back.
      ctx.log.warn({ db: describe(cfg), err: (err as Error).message }, `db: ${name} unreachable for now; queries answer 503 until it is back`);
    }
  },

  /** STATUS: the backend, and a network engine's pool connections. */
  status() {
    const cfg = parsed?.cfg;
    if (!cfg) return null;
    const base = { backend: cfg.backend, db: describe(cfg), mount: cfg.mount, readonly: cfg.readonly, token: cfg.token !== null };
    if (remote === null) return base;
    return { ...base, connections: remote.status() };
  },

  async dispose() {
    const s = sqlite;
    const p = remote;
    sqlite = null;
    remote = null;
    agent?.destroy();
    agent = null;
    s?.close();
    await p?.close();
  },
});
