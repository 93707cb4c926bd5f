// SPDX-License-Identifier: LGPL-3.0-or-later
/**
 * The http module's settings, from `ctx.config` (`--set http.KEY=VALUE` or
 * `HRMR_CFG_HTTP_KEY=VALUE`). Pure: unknown or bad values throw, so a typo
 * fails the module load instead of being silently ignored.
 */
import { resolve } from 'node:path';

export type AccessLogLevel = 'off' | 'trace' | 'debug' | 'info' | 'warn';

export interface HttpOptions {
  /** Absolute folder served. */
  readonly root: string;
  /** Level of the access log lines; `'off'` writes none. */
  readonly accessLog: AccessLogLevel;
  /** Files up to this size are kept in memory; bigger ones are streamed from disk. */
  readonly cacheMaxFile: number;
  /** Total bytes the memory cache may hold. */
  readonly cacheSize: number;
  /** Largest request head node's parser accepts (431 above). */
  readonly maxHeaderSize: number;
  /** Idle keep-alive connections are closed after this many ms. */
  readonly keepAliveTimeout: number;
  /** A client must send its whole request head within this many ms (slow-loris defence; 408 after). */
  readonly headersTimeout: number;
  /** How a cached file notices changes on disk: fs.watch on its folder, or a statSync per request. */
  readonly cacheCheck: 'watch' | 'stat';
}

const KEYS = new Set(['root', 'access-log', 'cache-max-file', 'cache-size', 'max-header-size', 'keep-alive-timeout', 'headers-timeout', 'cache-check']);
const LEVELS = new Set<AccessLogLevel>(['off', 'trace', 'debug', 'info', 'warn']);

function size(key: string, raw: string | undefined, dflt: number, min: number, max: number): number {
  if (raw === undefined || raw === '') return dflt;
  const m = /^(\d+)\s*([kmg]?)i?b?$/i.exec(raw.trim());
  if (!m) throw new Error(`http.${key}: not a size: ${JSON.stringify(raw)}`);
  const mult = { '': 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3 }[m[2]!.toLowerCase() as '' | 'k' | 'm' | 'g'];
  const n = Number(m[1]) * mult;
  if (n < min || n > max) throw new Error(`http.${key}: ${raw} is out of range (${min}..${max})`);
  return n;
}

export function parseOptions(config: Readonly<Record<string, string>>, cwd: string): HttpOptions {
  for (const k of Object.keys(config)) if (!KEYS.has(k)) throw new Error(`http: unknown setting ${JSON.stringify(k)} (known: ${[...KEYS].join(', ')})`);
  const level = (config['access-log'] ?? 'debug').toLowerCase() as AccessLogLevel;
  if (!LEVELS.has(level)) throw new Error(`http.access-log: expected one of ${[...LEVELS].join(', ')}`);
  const check = (config['cache-check'] ?? 'watch').toLowerCase();
  if (check !== 'watch' && check !== 'stat') throw new Error('http.cache-check: expected watch or stat');
  return {
    cacheCheck: check,
    root: resolve(cwd, config.root || 'static_html'),
    accessLog: level,
    cacheMaxFile: size('cache-max-file', config['cache-max-file'], 1024 * 1024, 0, 1024 ** 3),
    cacheSize: size('cache-size', config['cache-size'], 64 * 1024 * 1024, 0, 16 * 1024 ** 3),
    maxHeaderSize: size('max-header-size', config['max-header-size'], 16 * 1024, 1024, 1024 * 1024),
    keepAliveTimeout: size('keep-alive-timeout', config['keep-alive-timeout'], 5000, 0, 3_600_000),
    headersTimeout: size('headers-timeout', config['headers-timeout'], 20_000, 100, 3_600_000),
  };
}
