// SPDX-License-Identifier: LGPL-3.0-or-later
/**
 * The rhttp module's settings, from `ctx.config` (`--set rhttp.KEY=VALUE` or
 * `HRMR_CFG_RHTTP_KEY=VALUE`; `-` and `_` are the same in a key). Pure: a bad
 * value throws, so a typo fails the module load instead of being ignored.
 */
import { setting } from '../../shared/config.ts';

export interface RhttpOptions {
  /** The HTTP path prefix served (default `/api/`). */
  readonly mount: string;
  /** Remove the mount from the path before forwarding (default true). */
  readonly strip: boolean;
  /** The Redis URL, or null when none is configured. */
  readonly redis: string | null;
  /** Milliseconds between two `BEAT`s. */
  readonly heartbeatMs: number;
  /** A service whose last acknowledgement is older than heartbeatMs × deadBeats is dropped. */
  readonly deadBeats: number;
  /** Milliseconds a request waits for an answer before 408. */
  readonly timeoutMs: number;
  /** Largest request body forwarded, in bytes (larger: 413). */
  readonly maxBody: number;
  /** `Server` header on the gateway's own answers (the original's `server.name`), or null for none. */
  readonly serverName: string | null;
}

/** Keys understood, in their `_` spelling. */
export const KEYS = ['mount', 'strip', 'redis', 'heartbeat_interval', 'dead_server_beats', 'timeout', 'max_body', 'name'] as const;

function normKey(k: string): string {
  return k.toLowerCase().replace(/-/g, '_');
}

/** The config with keys in their `_` spelling (`max-body` and `max_body` are one key). */
export function normalizeConfig(config: Readonly<Record<string, string>>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(config)) out[normKey(k)] = v;
  return out;
}

/** Keys in `config` this module does not know (reported as a warning, not an error). */
export function unknownKeys(config: Readonly<Record<string, string>>): string[] {
  const known = new Set<string>(KEYS);
  return Object.keys(config).filter((k) => !known.has(normKey(k)));
}

// The shared settings grammar and error format (shared/config.ts), under the names this file always used.
/** ms from a setting in seconds (the original's unit: a plain `1.5` is seconds; `500ms`, `2m` work too). */
function seconds(key: string, raw: string | undefined, dflt: number, min: number, max: number): number {
  return setting('rhttp', key, raw).duration({ default: dflt * 1000, min: min * 1000, max: max * 1000, unit: 's' });
}

function integer(key: string, raw: string | undefined, dflt: number, min: number, max: number): number {
  return setting('rhttp', key, raw).int({ default: dflt, min, max });
}

/** A byte size: `1048576`, `512k`, `1m`, `1MiB`, `2mb`. */
export function size(key: string, raw: string | undefined, dflt: number, min: number, max: number): number {
  return setting('rhttp', key, raw).size({ default: dflt, min, max });
}

function bool(key: string, raw: string | undefined, dflt: boolean): boolean {
  return setting('rhttp', key, raw).bool({ default: dflt });
}

/** The mount as served: a leading `/` added when missing. */
export function normalizeMount(raw: string | undefined): string {
  const m = (raw ?? '').trim() || '/api/';
  if (/[\s?#]/.test(m)) setting('rhttp', 'mount', raw).fail('a path without spaces, ? or #');
  return m.startsWith('/') ? m : `/${m}`;
}

export function parseOptions(config: Readonly<Record<string, string>>): RhttpOptions {
  const c = normalizeConfig(config);
  const redis = setting('rhttp', 'redis', c.redis).url({ schemes: ['redis', 'rediss'] });
  return {
    mount: normalizeMount(c.mount),
    strip: bool('strip', c.strip, true),
    redis,
    heartbeatMs: seconds('heartbeat_interval', c.heartbeat_interval, 1, 0.01, 3600),
    deadBeats: integer('dead_server_beats', c.dead_server_beats, 3, 1, 1000),
    timeoutMs: seconds('timeout', c.timeout, 30, 0.01, 86_400),
    maxBody: size('max_body', c.max_body, 1024 * 1024, 0, 512 * 1024 * 1024),
    serverName: (c.name ?? '').trim() || null,
  };
}

/**
 * The request target a service sees: with `strip`, the mount is removed
 * (`/api/hello?x` -> `/hello?x`, `/api` -> `/`); otherwise the target as sent.
 * The host only routes targets that start with the mount (at a `/` boundary).
 */
export function forwardTarget(url: string, mount: string, strip: boolean): string {
  if (!strip || mount === '/') return url;
  const base = mount.endsWith('/') ? mount.slice(0, -1) : mount;
  if (!url.startsWith(base)) return url;
  const rest = url.slice(base.length);
  if (rest === '' || rest[0] === '?') return `/${rest}`;
  if (rest[0] !== '/') return url;
  return rest;
}
