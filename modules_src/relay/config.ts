// SPDX-License-Identifier: LGPL-3.0-or-later
/**
 * The relay module's settings, from `ctx.config` (`--set relay.KEY=VALUE` or
 * `HRMR_CFG_RELAY_KEY=VALUE`; keys lower-case). Pure: an unknown key or a bad
 * value throws, so a typo fails the module load instead of being ignored.
 * The names follow http-event-relay's environment variables (see docs/relay.md).
 */
import { setting } from '../../shared/config.ts';

export interface RelayConfig {
  /** Path prefix the relay is mounted at, starting and ending with `/` (default `/`). */
  readonly mount: string;
  /** `'redis'` when a Redis URL is configured (and `store` does not say `memory`), else `'memory'`. */
  readonly store: 'memory' | 'redis';
  /** Redis URL (`redis://[user:pass@]host:port[/db]`), `''` for the memory store. */
  readonly redis: string;
  /** Max queue length per tunnel (TUNNEL_MAXLEN). */
  readonly tunnelMaxlen: number;
  /** Backpressure when the producer gives no `limit` (TUNNEL_BACKPRESSURE). */
  readonly backpressure: boolean;
  /** Cap for poll timeouts, seconds (TUNNEL_MAX_POLL_TIMEOUT). */
  readonly maxPollTimeout: number;
  /** Poll timeout when none is given, seconds (TUNNEL_DEFAULT_POLL_TIMEOUT). */
  readonly defaultPollTimeout: number;
  /** Content-Type of a message whose producer sent none (TUNNEL_DEFAULT_CONTENT_TYPE). */
  readonly defaultContentType: string;
  /** Bearer token (TUNNEL_ACCESS_TOKEN), `''` for none. */
  readonly accessToken: string;
  /** HMAC-SHA256 secret for `X-Hub-Signature-256` (TUNNEL_SIGNATURE_SECRET), `''` for none. */
  readonly signatureSecret: string;
  /** Tunnel ids open without credentials (TUNNEL_PUBLIC_IDS). */
  readonly publicIds: ReadonlySet<string>;
  /** Reply lifetime, seconds (TUNNEL_REPLY_TTL). */
  readonly replyTtl: number;
  /** Memory store: most bytes of queued messages and replies (bodies plus bookkeeping) held at once; producers get 507 beyond. */
  readonly maxBytes: number;
  /** Largest request body; larger gets 413 (the original's nginx: 128 KiB). */
  readonly maxBody: number;
  /** Redis store: an emptied tunnel's stream expires after this many seconds without traffic. */
  readonly idleTtl: number;
}

const KEYS = [
  'mount',
  'store',
  'redis',
  'tunnel_maxlen',
  'tunnel_backpressure',
  'tunnel_max_poll_timeout',
  'tunnel_default_poll_timeout',
  'tunnel_default_content_type',
  'access_token',
  'signature_secret',
  'public_ids',
  'reply_ttl',
  'max_bytes',
  'max_body',
  'idle_ttl',
] as const;
const KNOWN = new Set<string>(KEYS);

// The shared settings grammar and error format (shared/config.ts), under the names this file always used.
function int(key: string, raw: string | undefined, dflt: number, min: number, max: number): number {
  return setting('relay', key, raw).int({ default: dflt, min, max });
}

/** A byte size: `1048576`, `64k`, `256m`, `1g`, `256MiB`. */
function size(key: string, raw: string | undefined, dflt: number, min: number, max: number): number {
  return setting('relay', key, raw).size({ default: dflt, min, max });
}

/** Whole seconds (a plain number is seconds; `90s`, `2m`, `1h`, `1500ms` rounded up), as the original's variables count them. */
function seconds(key: string, raw: string | undefined, dflt: number, min: number, max: number): number {
  return Math.ceil(setting('relay', key, raw).duration({ default: dflt * 1000, min: min * 1000, max: max * 1000, unit: 's' }) / 1000);
}

function bool(key: string, raw: string | undefined, dflt: boolean): boolean {
  return setting('relay', key, raw).bool({ default: dflt });
}

/** `/`, `/relay/`: a leading and a trailing slash are added when missing. */
export function normalizeMount(raw: string | undefined): string {
  let m = (raw ?? '').trim();
  if (m === '') return '/';
  if (/[\s?#%]/.test(m)) setting('relay', 'mount', raw).fail('a plain path (no spaces, ?, # or %)');
  if (!m.startsWith('/')) m = '/' + m;
  if (!m.endsWith('/')) m += '/';
  if (m.includes('//')) setting('relay', 'mount', raw).fail('a path without empty segments');
  return m;
}

export const TUNNEL_ID = /^[-A-Za-z0-9_]{1,1024}$/;

export function parseConfig(config: Readonly<Record<string, string>>): RelayConfig {
  for (const k of Object.keys(config)) {
    if (!KNOWN.has(k)) throw new Error(`relay: unknown setting ${JSON.stringify(k)} (known: ${KEYS.join(', ')})`);
  }
  const redis = setting('relay', 'redis', config.redis).url({ schemes: ['redis', 'rediss'] }) ?? '';
  const storeRaw = (config.store ?? '').trim().toLowerCase();
  if (storeRaw !== '' && storeRaw !== 'memory' && storeRaw !== 'redis') setting('relay', 'store', config.store).fail('one of memory, redis');
  if (storeRaw === 'redis' && redis === '') throw new Error('relay.store=redis needs a Redis URL: --redis URL or --set relay.redis=URL');
  const store = storeRaw === 'memory' || redis === '' ? 'memory' : 'redis';
  const tunnelMaxlen = int('tunnel_maxlen', config.tunnel_maxlen, 1000, 1, 10_000_000);
  const maxPollTimeout = seconds('tunnel_max_poll_timeout', config.tunnel_max_poll_timeout, 60, 0, 86_400);
  const defaultPollTimeout = seconds('tunnel_default_poll_timeout', config.tunnel_default_poll_timeout, 30, 0, 86_400);
  const publicIds = new Set(
    (config.public_ids ?? '')
      .split(',')
      .map((s) => s.trim())
      .filter((s) => s !== ''),
  );
  for (const id of publicIds) if (!TUNNEL_ID.test(id)) setting('relay', 'public_ids', config.public_ids).fail(`tunnel ids (letters, digits, - and _) separated by commas; ${id} is not one`);
  const ct = (config.tunnel_default_content_type ?? 'text/plain').trim();
  if (ct === '' || /[\r\n]/.test(ct)) setting('relay', 'tunnel_default_content_type', config.tunnel_default_content_type).fail('a non-empty header value');
  return {
    mount: normalizeMount(config.mount),
    store,
    redis: store === 'redis' ? redis : '',
    tunnelMaxlen,
    backpressure: bool('tunnel_backpressure', config.tunnel_backpressure, true),
    maxPollTimeout,
    defaultPollTimeout,
    defaultContentType: ct,
    accessToken: config.access_token ?? '',
    signatureSecret: config.signature_secret ?? '',
    publicIds,
    replyTtl: seconds('reply_ttl', config.reply_ttl, 3600, 1, 365 * 86_400),
    maxBytes: size('max_bytes', config.max_bytes, 256 * 1024 * 1024, 64 * 1024, 1024 ** 4),
    maxBody: size('max_body', config.max_body, 128 * 1024, 0, 512 * 1024 * 1024),
    idleTtl: seconds('idle_ttl', config.idle_ttl, 3600, 1, 365 * 86_400),
  };
}

/** A Redis URL with its password replaced by `***` (for logs and STATUS). */
export { redactUrl } from '../../shared/config.ts';
