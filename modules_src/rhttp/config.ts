// SPDX-License-Identifier: LGPL-3.0-or-later
/**
 * The rhttp module's settings, from `ctx.config` (`--set rhttp.KEY=VALUE` or
 * `HRMR_CFG_RHTTP_KEY=VALUE`; `-` and `_` are the same in a key). Pure: a bad
 * value throws, so a typo fails the module load instead of being ignored.
 */

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

function seconds(key: string, raw: string | undefined, dflt: number, min: number, max: number): number {
  if (raw === undefined || raw.trim() === '') return dflt * 1000;
  const s = raw.trim();
  if (!/^\d+(\.\d+)?$/.test(s)) throw new Error(`rhttp.${key}: not a number of seconds: ${JSON.stringify(raw)}`);
  const n = Number(s);
  if (n < min || n > max) throw new Error(`rhttp.${key}: ${raw} is out of range (${min}..${max} s)`);
  return Math.round(n * 1000);
}

function integer(key: string, raw: string | undefined, dflt: number, min: number, max: number): number {
  if (raw === undefined || raw.trim() === '') return dflt;
  if (!/^\d+$/.test(raw.trim())) throw new Error(`rhttp.${key}: not a whole number: ${JSON.stringify(raw)}`);
  const n = Number(raw.trim());
  if (n < min || n > max) throw new Error(`rhttp.${key}: ${raw} is out of range (${min}..${max})`);
  return n;
}

/** A byte size: `1048576`, `512k`, `1m`, `1MiB`, `2mb`. */
export function size(key: string, raw: string | undefined, dflt: number, min: number, max: number): number {
  if (raw === undefined || raw.trim() === '') return dflt;
  const m = /^(\d+)\s*([kmg]?)(i?b)?$/i.exec(raw.trim());
  if (!m) throw new Error(`rhttp.${key}: not a size: ${JSON.stringify(raw)}`);
  const mult = { '': 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3 }[m[2]!.toLowerCase() as '' | 'k' | 'm' | 'g'];
  const n = Number(m[1]) * mult;
  if (n < min || n > max) throw new Error(`rhttp.${key}: ${raw} is out of range (${min}..${max} bytes)`);
  return n;
}

function bool(key: string, raw: string | undefined, dflt: boolean): boolean {
  if (raw === undefined || raw.trim() === '') return dflt;
  const s = raw.trim().toLowerCase();
  if (['1', 'true', 'yes', 'on'].includes(s)) return true;
  if (['0', 'false', 'no', 'off'].includes(s)) return false;
  throw new Error(`rhttp.${key}: expected true or false, got ${JSON.stringify(raw)}`);
}

/** The mount as served: a leading `/` added when missing. */
export function normalizeMount(raw: string | undefined): string {
  const m = (raw ?? '').trim() || '/api/';
  if (/[\s?#]/.test(m)) throw new Error(`rhttp.mount: must be a path without spaces, ? or #: ${JSON.stringify(raw)}`);
  return m.startsWith('/') ? m : `/${m}`;
}

export function parseOptions(config: Readonly<Record<string, string>>): RhttpOptions {
  const c = normalizeConfig(config);
  const redis = (c.redis ?? '').trim();
  if (redis !== '' && !/^rediss?:\/\//i.test(redis)) throw new Error(`rhttp.redis: expected redis://HOST:PORT, got ${JSON.stringify(redis)}`);
  return {
    mount: normalizeMount(c.mount),
    strip: bool('strip', c.strip, true),
    redis: redis === '' ? null : redis,
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
