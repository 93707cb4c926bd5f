// SPDX-License-Identifier: LGPL-3.0-or-later
/**
 * Request targets of the relay, parsed (pure): which endpoint a path under
 * `${mount}t/` names, the query parameters the original reads, and the
 * per-request choices (poll timeout, backpressure limit) with the original's
 * rules. See docs/relay.md and the endpoint table of the spec.
 */
import { TUNNEL_ID } from './config.ts';

export type Endpoint =
  /** `/t/ID/?`: GET consume, POST produce. */
  | { readonly kind: 'tunnel'; readonly id: string }
  /** `/t/ID/poll`: GET long poll. */
  | { readonly kind: 'poll'; readonly id: string }
  /** `/t/ID/len`: GET queue length. */
  | { readonly kind: 'len'; readonly id: string }
  /** `/t/ID/all`: DELETE empties the tunnel. */
  | { readonly kind: 'all'; readonly id: string }
  /** `/t/ID/MID/?`: GET status, DELETE ack. */
  | { readonly kind: 'message'; readonly id: string; readonly mid: string }
  /** `/t/ID/MID/reply/?`: POST reply, GET read the reply. */
  | { readonly kind: 'reply'; readonly id: string; readonly mid: string }
  /** `/t/ID/MID/reply/poll`: GET long poll for the reply. */
  | { readonly kind: 'replyPoll'; readonly id: string; readonly mid: string };

export type EndpointKind = Endpoint['kind'];

/** Methods each endpoint answers (besides OPTIONS, which every `/t/` path answers). */
export const ALLOWED: Readonly<Record<EndpointKind, readonly string[]>> = {
  tunnel: ['GET', 'POST'],
  poll: ['GET'],
  len: ['GET', 'HEAD'],
  all: ['DELETE'],
  message: ['GET', 'HEAD', 'DELETE'],
  reply: ['GET', 'POST'],
  replyPoll: ['GET'],
};

/** The `Allow` header of a 405 for each endpoint. */
export const ALLOW_HEADER: Readonly<Record<EndpointKind, string>> = Object.fromEntries(
  Object.entries(ALLOWED).map(([k, v]) => [k, [...v, 'OPTIONS'].join(', ')]),
) as Record<EndpointKind, string>;

const MID = /^(\d{1,16})-(\d{1,16})$/;

/** `0007-01` -> `7-1`: Redis reads stream ids as numbers, so both spellings name one message. */
function normalizeMid(s: string): string | null {
  const m = MID.exec(s);
  if (!m) return null;
  return `${m[1]!.replace(/^0+(?=\d)/, '')}-${m[2]!.replace(/^0+(?=\d)/, '')}`;
}

/**
 * Parses the part of the path after `${mount}t/` (no query). `null` means
 * `400 Malformed url`. Percent-escapes are decoded first, as nginx matches
 * locations on the decoded path.
 */
export function parseEndpoint(rest: string): Endpoint | null {
  if (rest.includes('%')) {
    try {
      rest = decodeURIComponent(rest);
    } catch {
      return null;
    }
  }
  // `ID` or `ID/`, a produce's or a consume's path: no split.
  const slash = rest.indexOf('/');
  if (slash < 0 || slash === rest.length - 1) {
    const id = slash < 0 ? rest : rest.slice(0, slash);
    return TUNNEL_ID.test(id) ? { kind: 'tunnel', id } : null;
  }
  const parts = rest.split('/');
  const id = parts[0]!;
  if (!TUNNEL_ID.test(id)) return null;
  const n = parts.length;
  if (n === 1 || (n === 2 && parts[1] === '')) return { kind: 'tunnel', id };
  const second = parts[1]!;
  if (n === 2 && (second === 'poll' || second === 'len' || second === 'all')) return { kind: second, id };
  const mid = normalizeMid(second);
  if (mid === null) return null;
  if (n === 2 || (n === 3 && parts[2] === '')) return { kind: 'message', id, mid };
  if (parts[2] !== 'reply') return null;
  if (n === 3 || (n === 4 && parts[3] === '')) return { kind: 'reply', id, mid };
  if (n === 4 && parts[3] === 'poll') return { kind: 'replyPoll', id, mid };
  return null;
}

/** The query parameters the relay reads. A parameter given twice: the first wins. */
export interface Query {
  /** `pending` is present (with any value or none). */
  readonly pending: boolean;
  readonly timeout: string | undefined;
  readonly limit: string | undefined;
}

const NO_QUERY: Query = { pending: false, timeout: undefined, limit: undefined };
const LIMIT_0: Query = { pending: false, timeout: undefined, limit: '0' };

function decode(s: string): string {
  if (!s.includes('%') && !s.includes('+')) return s;
  try {
    return decodeURIComponent(s.replace(/\+/g, ' '));
  } catch {
    return s;
  }
}

export function parseQuery(q: string): Query {
  if (q === '') return NO_QUERY;
  // A producer's `limit=0` (the busy path) needs no scan.
  if (q === 'limit=0') return LIMIT_0;
  let pending = false;
  let timeout: string | undefined;
  let limit: string | undefined;
  for (const pair of q.split('&')) {
    const eq = pair.indexOf('=');
    const key = decode(eq < 0 ? pair : pair.slice(0, eq));
    const value = eq < 0 ? '' : decode(pair.slice(eq + 1));
    if (key === 'pending') pending = true;
    else if (key === 'timeout') timeout ??= value;
    else if (key === 'limit') limit ??= value;
  }
  return { pending, timeout, limit };
}

/**
 * Lua's `tonumber`, which the original applies to parameters: decimal
 * (optionally signed, fractional, exponent) or `0x` hex, surrounding spaces
 * allowed; anything else is `undefined` (the parameter counts as absent).
 */
export function luaNumber(s: string | undefined): number | undefined {
  if (s === undefined) return undefined;
  const t = s.trim();
  if (/^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/.test(t)) return Number(t);
  const hex = /^([-+]?)0[xX]([0-9a-fA-F]+)$/.exec(t);
  if (hex) return (hex[1] === '-' ? -1 : 1) * parseInt(hex[2]!, 16);
  return undefined;
}

/**
 * Milliseconds a poll waits: the `timeout` parameter (seconds) or the
 * default, capped at the maximum; 0 (do not wait) for S <= 0.
 */
export function pollTimeoutMs(raw: string | undefined, dflt: number, max: number): number {
  const s = luaNumber(raw) ?? dflt;
  if (!(s > 0)) return 0;
  return Math.round(Math.min(s, max) * 1000);
}

/** How a produce treats a full tunnel. */
export type Backpressure =
  /** Refuse (507) when the tunnel holds `limit` messages or more. */
  | { readonly on: true; readonly limit: number }
  /** Add, then trim the tunnel to `tunnel_maxlen` (oldest dropped). */
  | { readonly on: false };

/** The producer's `limit` parameter under the server's defaults; `null` = `400 Limit must be less than the tunnel max length`. */
const OFF: Backpressure = { on: false };

export function backpressure(raw: string | undefined, maxlen: number, defaultOn: boolean): Backpressure | null {
  // `limit=0` (what busy producers send) needs no number parsing.
  if (raw === '0') return OFF;
  const n = luaNumber(raw);
  if (n === undefined) return defaultOn ? { on: true, limit: maxlen } : OFF;
  if (!(n > 0)) return OFF;
  if (n > maxlen) return null;
  return { on: true, limit: n };
}
