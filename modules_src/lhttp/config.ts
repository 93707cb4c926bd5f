// SPDX-License-Identifier: LGPL-3.0-or-later
/**
 * The lhttp module's settings, from `ctx.config` (`--set lhttp.KEY=VALUE` or
 * `HRMR_CFG_LHTTP_KEY=VALUE`; `-` and `_` are the same in keys). Pure: a bad
 * value throws (the module does not load); unknown keys are returned so the
 * module can warn about them.
 */
import { parseAllowList, type AllowRule } from './upstream-allow.ts';

export interface LhttpOptions {
  /** WebSocket endpoint paths. */
  readonly paths: readonly string[];
  /** HTTP publish path, or null when turned off (`publish_path=off`). */
  readonly publishPath: string | null;
  /** Frames longer than this (bytes) are ignored and counted. */
  readonly maxFrame: number;
  /** Frames longer than this close the connection (1009): ws never buffers more. */
  readonly maxPayload: number;
  /** A connection whose unsent output passes this (bytes) is closed with 1008. */
  readonly maxBuffered: number;
  /** Subscriptions one connection may hold. */
  readonly maxSubscriptions: number;
  /** Channels one subscribe/publish/unsubscribe header may name. */
  readonly maxChannels: number;
  /** WebSocket connections held at once (more get 503). */
  readonly maxConnections: number;
  /** Redis URL for the cross-server bus, or null for the in-memory bus. */
  readonly redis: string | null;
  /** Prefix of the Redis pub/sub channel names. */
  readonly redisPrefix: string;
  /** Upstream request timeout (ms). */
  readonly upstreamTimeout: number;
  /** Upstream requests in flight at once (more are dropped and counted). */
  readonly upstreamMaxInflight: number;
  /** Longest an async processor may take before the connection moves on (ms). */
  readonly processorTimeout: number;
  /** Allowed `Origin` values (exact), or null for any. */
  readonly origins: readonly string[] | null;
  /** ms between pings to every connection (0: off); a peer that did not answer the previous one is closed. */
  readonly pingInterval: number;
  /** URL prefixes `upstream` may target; empty: upstream refused. */
  readonly upstreamAllow: readonly AllowRule[];
}

const KEYS = new Set([
  'path',
  'publish_path',
  'max_frame',
  'max_payload',
  'max_buffered',
  'max_subscriptions',
  'max_channels',
  'max_connections',
  'redis',
  'redis_prefix',
  'upstream_timeout',
  'upstream_max_inflight',
  'processor_timeout',
  'origins',
  'ping_interval',
  'upstream_allow',
]);

function int(name: string, raw: string | undefined, dflt: number, min: number, max: number): number {
  if (raw === undefined || raw.trim() === '') return dflt;
  const m = /^(\d+)\s*([kmg]?)i?b?$/i.exec(raw.trim());
  if (!m) throw new Error(`lhttp.${name}: not a number: ${JSON.stringify(raw)}`);
  const mult = { '': 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3 }[m[2]!.toLowerCase() as '' | 'k' | 'm' | 'g'];
  const n = Number(m[1]) * mult;
  if (n < min || n > max) throw new Error(`lhttp.${name}: ${raw} is out of range (${min}..${max})`);
  return n;
}

function path(name: string, p: string): string {
  if (!p.startsWith('/') || /[\s?#]/.test(p)) throw new Error(`lhttp.${name}: ${JSON.stringify(p)} is not a path (must start with /)`);
  return p;
}

export function parseOptions(config: Readonly<Record<string, string>>): { options: LhttpOptions; unknown: string[] } {
  const c: Record<string, string> = {};
  const unknown: string[] = [];
  for (const [k, v] of Object.entries(config)) {
    const key = k.toLowerCase().replace(/-/g, '_');
    if (KEYS.has(key)) c[key] = v;
    else unknown.push(k);
  }
  const paths = (c.path ?? '/lhttp')
    .split(/[\s,]+/)
    .filter((p) => p !== '')
    .map((p) => path('path', p));
  const pub = (c.publish_path ?? '/publish').trim();
  const publishPath = pub === '' || pub === 'off' ? null : path('publish_path', pub);
  if (publishPath !== null && paths.includes(publishPath)) throw new Error(`lhttp.publish_path: ${publishPath} is also a WebSocket path`);
  const maxFrame = int('max_frame', c.max_frame, 40960, 16, 64 * 1024 * 1024);
  const redis = (c.redis ?? '').trim();
  const origins = (c.origins ?? '').trim();
  return {
    options: {
      paths: paths.length > 0 ? [...new Set(paths)] : ['/lhttp'],
      publishPath,
      maxFrame,
      maxPayload: Math.max(maxFrame, int('max_payload', c.max_payload, 1024 * 1024, 16, 256 * 1024 * 1024)),
      maxBuffered: int('max_buffered', c.max_buffered, 1024 * 1024, 1024, 1024 ** 3),
      maxSubscriptions: int('max_subscriptions', c.max_subscriptions, 256, 1, 1_000_000),
      maxChannels: int('max_channels', c.max_channels, 32, 1, 10_000),
      maxConnections: int('max_connections', c.max_connections, 100_000, 1, 10_000_000),
      redis: redis === '' || redis === 'off' ? null : redis,
      redisPrefix: c.redis_prefix ?? 'lhttp:',
      upstreamTimeout: int('upstream_timeout', c.upstream_timeout, 5000, 1, 600_000),
      upstreamMaxInflight: int('upstream_max_inflight', c.upstream_max_inflight, 64, 1, 100_000),
      processorTimeout: int('processor_timeout', c.processor_timeout, 10_000, 1, 600_000),
      origins: origins === '' || origins === '*' ? null : origins.split(/[\s,]+/).filter((o) => o !== ''),
      pingInterval: int('ping_interval', c.ping_interval, 30_000, 0, 86_400_000),
      upstreamAllow: parseAllowList(c.upstream_allow),
    },
    unknown,
  };
}
