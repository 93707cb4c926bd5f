// SPDX-License-Identifier: LGPL-3.0-or-later
/**
 * The lhttp module's settings, from `ctx.config` (`--set lhttp.KEY=VALUE` or
 * `HRMR_CFG_LHTTP_KEY=VALUE`; `-` and `_` are the same in keys). Pure: a bad
 * value throws (the module does not load); unknown keys are returned so the
 * module can warn about them.
 */
import { settings, type Settings } from '../../shared/config.ts';
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

const PATH = (p: string): boolean => p.startsWith('/') && !/[\s?#]/.test(p);
const A_PATH = 'a path starting with / (no spaces, ? or #)';

export function parseOptions(config: Readonly<Record<string, string>>): { options: LhttpOptions; unknown: string[] } {
  const c: Record<string, string> = {};
  const unknown: string[] = [];
  for (const [k, v] of Object.entries(config)) {
    const key = k.toLowerCase().replace(/-/g, '_');
    if (KEYS.has(key)) c[key] = v;
    else unknown.push(k);
  }
  const s: Settings = settings('lhttp', c);
  const paths = s.list('path', { default: ['/lhttp'], item: PATH, expected: 'paths starting with /' });
  // Given but blank means off, as `off` does.
  const pub = c.publish_path === undefined ? '/publish' : c.publish_path.trim();
  if (pub !== '' && pub !== 'off' && !PATH(pub)) s.fail('publish_path', `${A_PATH}, or off`);
  const publishPath = pub === '' || pub === 'off' ? null : pub;
  if (publishPath !== null && paths.includes(publishPath)) s.fail('publish_path', 'a path that is not also a WebSocket path (lhttp.path)');
  const maxFrame = s.size('max_frame', { default: 40960, min: 16, max: 64 * 1024 * 1024 });
  const origins = s.list('origins');
  let upstreamAllow: AllowRule[];
  try {
    upstreamAllow = parseAllowList(c.upstream_allow);
  } catch (err) {
    s.fail('upstream_allow', `http:// or https:// URL prefixes separated by commas or spaces (${(err as Error).message})`);
  }
  return {
    options: {
      paths: paths.length > 0 ? [...new Set(paths)] : ['/lhttp'],
      publishPath,
      maxFrame,
      maxPayload: Math.max(maxFrame, s.size('max_payload', { default: 1024 * 1024, min: 16, max: 256 * 1024 * 1024 })),
      maxBuffered: s.size('max_buffered', { default: 1024 * 1024, min: 1024, max: 1024 ** 3 }),
      maxSubscriptions: s.int('max_subscriptions', { default: 256, min: 1, max: 1_000_000 }),
      maxChannels: s.int('max_channels', { default: 32, min: 1, max: 10_000 }),
      maxConnections: s.int('max_connections', { default: 100_000, min: 1, max: 10_000_000 }),
      redis: s.url('redis', { schemes: ['redis', 'rediss'] }),
      redisPrefix: c.redis_prefix ?? 'lhttp:',
      upstreamTimeout: s.duration('upstream_timeout', { default: 5000, min: 1, max: 600_000 }),
      upstreamMaxInflight: s.int('upstream_max_inflight', { default: 64, min: 1, max: 100_000 }),
      processorTimeout: s.duration('processor_timeout', { default: 10_000, min: 1, max: 600_000 }),
      origins: origins.length === 0 || (origins.length === 1 && origins[0] === '*') ? null : origins,
      pingInterval: s.duration('ping_interval', { default: 30_000, min: 0, max: 86_400_000 }),
      upstreamAllow,
    },
    unknown,
  };
}
