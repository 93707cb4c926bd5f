// SPDX-License-Identifier: LGPL-3.0-or-later
/**
 * The http module's settings, from `ctx.config` (`--set http.KEY=VALUE` or
 * `HRMR_CFG_HTTP_KEY=VALUE`). Pure: unknown or bad values throw, so a typo
 * fails the module load instead of being silently ignored.
 */
import { resolve } from 'node:path';
import { setting } from '../../shared/config.ts';

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
  /** The path prefix served (`/` by default); it is cut off before the file is looked up. */
  readonly mount: string;
  /** How a cached file notices changes on disk: fs.watch on its folder, or a statSync per request. */
  readonly cacheCheck: 'watch' | 'stat';
}

const KEYS = new Set(['root', 'mount', 'access-log', 'cache-max-file', 'cache-size', 'cache-check']);
/** Settings every module may receive from the server (not the module's own). */
const SERVER_WIDE = new Set(['redis']);
/** Settings that moved to the core's HTTP host. */
const MOVED: Record<string, string> = { 'max-header-size': '--http-max-header-size', 'keep-alive-timeout': '--http-keep-alive-timeout', 'headers-timeout': '--http-headers-timeout' };
const LEVELS = new Set<AccessLogLevel>(['off', 'trace', 'debug', 'info', 'warn']);

// The shared settings grammar and error format (shared/config.ts), under the name this file always used.
function size(key: string, raw: string | undefined, dflt: number, min: number, max: number): number {
  return setting('http', key, raw).size({ default: dflt, min, max });
}

export function parseOptions(config: Readonly<Record<string, string>>, cwd: string): HttpOptions {
  for (const k of Object.keys(config)) {
    if (KEYS.has(k) || SERVER_WIDE.has(k)) continue;
    if (MOVED[k]) throw new Error(`http.${k} moved to the server flag ${MOVED[k]} (the HTTP host serves every module)`);
    throw new Error(`http: unknown setting ${JSON.stringify(k)} (known: ${[...KEYS].join(', ')})`);
  }
  const mount = config.mount ?? '/';
  if (!/^\/[^\s?#]*$/.test(mount)) setting('http', 'mount', mount).fail('a path starting with / (no spaces, ? or #)');
  const level = setting('http', 'access-log', config['access-log']).oneOf([...LEVELS], { default: 'debug' });
  const check = setting('http', 'cache-check', config['cache-check']).oneOf(['watch', 'stat'], { default: 'watch' });
  return {
    cacheCheck: check,
    root: resolve(cwd, config.root || 'static_html'),
    accessLog: level,
    cacheMaxFile: size('cache-max-file', config['cache-max-file'], 1024 * 1024, 0, 1024 ** 3),
    cacheSize: size('cache-size', config['cache-size'], 64 * 1024 * 1024, 0, 16 * 1024 ** 3),
    mount: mount.replace(/\/+$/, '') + '/',
  };
}
