// SPDX-License-Identifier: LGPL-3.0-or-later
/**
 * The db module's settings, from `ctx.config` (`--set db.KEY=VALUE` or
 * `HRMR_CFG_DB_KEY=VALUE`; `-` and `_` in keys are the same). Pure: an unknown
 * key or a bad value throws a message naming it, so a typo fails the module
 * load instead of being silently ignored.
 */
import { isAbsolute, resolve } from 'node:path';
import { ConfigError, setting } from '../../shared/config.ts';

export type Engine = 'sqlite' | 'postgres' | 'mysql';

export type Synchronous = 'off' | 'normal' | 'full' | 'extra';

export interface DbConfig {
  readonly backend: Engine;
  /** The URL as given (a PostgreSQL password is masked in `describe`). */
  readonly url: string;
  /** SQLite: the absolute database file. */
  readonly file: string;
  /** HTTP mount point, starting and ending with `/`. */
  readonly mount: string;
  /** Access token, or null for none. */
  readonly token: string | null;
  readonly readonly: boolean;
  /** SQLite `PRAGMA synchronous` (WAL: `normal` survives a crash of hrmr, `full` a power loss). */
  readonly synchronous: Synchronous;
  /** SQLite busy timeout (ms): how long a writer waits for the write lock. */
  readonly busyTimeout: number;
  /** Query time limit (ms, 0 = none): PostgreSQL's statement_timeout. SQLite uses the pool's --task-timeout. */
  readonly timeout: number;
  /** PostgreSQL connections at most. */
  readonly poolSize: number;
  /** Largest request body (bytes). */
  readonly maxBody: number;
  /** Most rows in one answer (a batch's rows added up); past it: 413 result_too_large. */
  readonly maxRows: number;
  /** Largest answer (bytes of its JSON, a batch's added up); past it: 413 result_too_large. */
  readonly maxResultBytes: number;
}

const KEYS = ['url', 'mount', 'token', 'readonly', 'synchronous', 'busy_timeout', 'timeout', 'pool_size', 'max_body', 'max_rows', 'max_result_bytes'];
/** Keys the core may add to every module's config. */
const IGNORED = new Set(['redis']);

export const DEFAULT_URL = 'sqlite:./data/hrmr.db';

export class DbConfigError extends Error {
  override name = 'DbConfigError';
}

// The shared settings grammar and error format (shared/config.ts), under the names this file always used.
function int(key: string, raw: string | undefined, dflt: number, min: number, max: number): number {
  return setting('db', key, raw).int({ default: dflt, min, max });
}

/** Milliseconds: `10000`, `10s`, `2m`. */
function ms(key: string, raw: string | undefined, dflt: number, min: number, max: number): number {
  return setting('db', key, raw).duration({ default: dflt, min, max });
}

/** Bytes: `1048576`, `64k`, `1m`. */
function size(key: string, raw: string | undefined, dflt: number, min: number, max: number): number {
  return setting('db', key, raw).size({ default: dflt, min, max });
}

function bool(key: string, raw: string | undefined): boolean {
  return setting('db', key, raw).bool({ default: false });
}

/** `sqlite:PATH` (relative to `cwd`) or `sqlite:///abs/path` to an absolute file. */
export function sqliteFile(url: string, cwd: string): string {
  let p = url.slice('sqlite:'.length);
  if (p.startsWith('//')) p = p.slice(2);
  try {
    p = decodeURIComponent(p);
  } catch {
    throw new DbConfigError(`db.url: bad percent-encoding in ${JSON.stringify(url)}`);
  }
  if (p === '' || p === '/') throw new DbConfigError(`db.url: ${JSON.stringify(url)} names no file (example: ${DEFAULT_URL})`);
  if (p === ':memory:' || p.startsWith('file:') || p.includes('?')) {
    throw new DbConfigError(`db.url: ${JSON.stringify(url)} is not a plain file path: every worker must open the same file (example: ${DEFAULT_URL})`);
  }
  return isAbsolute(p) ? p : resolve(cwd, p);
}

export interface ConfigDefaults {
  cwd: string;
  /** `--task-timeout` of the server (ms), the default query time limit. */
  taskTimeout: number;
}

export function parseConfig(raw: Readonly<Record<string, string>>, d: ConfigDefaults): DbConfig {
  const c: Record<string, string> = {};
  for (const [k0, v] of Object.entries(raw)) {
    const k = k0.toLowerCase().replace(/-/g, '_');
    if (IGNORED.has(k)) continue;
    if (!KEYS.includes(k)) throw new DbConfigError(`db: unknown setting ${JSON.stringify(k0)} (known: ${KEYS.join(', ')})`);
    c[k] = v;
  }
  const url = (c.url ?? '').trim() || DEFAULT_URL;
  let backend: DbConfig['backend'];
  let file = '';
  if (url.startsWith('sqlite:')) {
    backend = 'sqlite';
    file = sqliteFile(url, d.cwd);
  } else if (/^postgres(ql)?:\/\//i.test(url)) {
    backend = 'postgres';
    let u: URL;
    try {
      u = new URL(url);
    } catch {
      throw new DbConfigError('db.url: not a valid postgres:// URL');
    }
    if (!u.hostname && !u.searchParams.get('host')) throw new DbConfigError('db.url: a postgres:// URL needs a host (postgres://user@127.0.0.1:5432/db)');
  } else if (/^(mysql|mariadb):\/\//i.test(url)) {
    backend = 'mysql';
    let u: URL;
    try {
      u = new URL(url);
    } catch {
      throw new DbConfigError('db.url: not a valid mysql:// URL');
    }
    if (!u.hostname) throw new DbConfigError('db.url: a mysql:// URL needs a host (mysql://user:password@127.0.0.1:3306/db)');
  } else {
    throw new DbConfigError(`db.url must be sqlite:PATH, postgres://user@host:port/db or mysql://user:password@host:port/db (got ${JSON.stringify(url.replace(/\/\/[^@/]*@/, '//***@'))})`);
  }
  let mount = (c.mount ?? '').trim() || '/db/';
  if (!mount.startsWith('/') || /[\s?#]/.test(mount)) setting('db', 'mount', c.mount).fail('a path starting with / (no spaces, ? or #)');
  if (!mount.endsWith('/')) mount += '/';
  const token = c.token === undefined || c.token === '' ? null : c.token;
  // The token is a secret: its value is not shown.
  if (token !== null && !/^[\x21-\x7e]{1,512}$/.test(token)) throw new ConfigError('db', 'token', '***', '1 to 512 printable ASCII characters without spaces');
  const sync = setting('db', 'synchronous', c.synchronous).oneOf(['off', 'normal', 'full', 'extra'], { default: 'normal' });
  return {
    backend,
    url,
    file,
    mount,
    token,
    readonly: bool('readonly', c.readonly),
    synchronous: sync,
    busyTimeout: ms('busy_timeout', c.busy_timeout, 10_000, 0, 3_600_000),
    timeout: ms('timeout', c.timeout, d.taskTimeout, 0, 86_400_000),
    poolSize: int('pool_size', c.pool_size, 10, 1, 1000),
    maxBody: size('max_body', c.max_body, 1024 * 1024, 1024, 1024 ** 3),
    maxRows: int('max_rows', c.max_rows, 100_000, 1, 1_000_000_000),
    // At most 512 MiB: V8's longest string (the answer is one JSON string).
    maxResultBytes: size('max_result_bytes', c.max_result_bytes, 64 * 1024 * 1024, 1024, 512 * 1024 * 1024),
  };
}

/** The URL with any password masked, for logs. */
export function describe(c: DbConfig): string {
  return c.backend === 'sqlite' ? `sqlite:${c.file}` : c.url.replace(/^(\w+:\/\/[^:@/]*):[^@/]*@/, '$1:***@');
}

/**
 * The server's --task-timeout (ms): from the process arguments or
 * HRMR_TASK_TIMEOUT, else hrmr's default 30000. Only read on the main thread.
 */
export function taskTimeoutFrom(argv: readonly string[], env: Readonly<Record<string, string | undefined>>): number {
  let v: string | undefined = env.HRMR_TASK_TIMEOUT;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--task-timeout' && i + 1 < argv.length) v = argv[i + 1];
    else if (a.startsWith('--task-timeout=')) v = a.slice('--task-timeout='.length);
  }
  const n = v === undefined ? NaN : Number(v);
  return Number.isInteger(n) && n >= 0 ? n : 30_000;
}
