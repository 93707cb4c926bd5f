// SPDX-License-Identifier: LGPL-3.0-or-later
/**
 * The PROXY protocol header (HAProxy's, v1 text and v2 binary) that a load
 * balancer sends before the client's bytes. Pure: no I/O.
 * https://www.haproxy.org/download/2.6/doc/proxy-protocol.txt
 */
import { isIP } from 'node:net';

export const PROXY_V1_PREFIX = Buffer.from('PROXY ', 'latin1');
export const PROXY_V2_SIGNATURE = Buffer.from([0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a]);
/** A v1 header is at most 107 bytes, CRLF included. */
const V1_MAX = 107;
/** v2 address block at most (unix sockets + TLVs); more is hostile. */
const V2_MAX_BODY = 4096;

export type ProxyFailure = 'missing' | 'malformed' | 'unknown-command';

export type ProxyResult =
  | { readonly state: 'incomplete' }
  | { readonly state: 'invalid'; readonly reason: ProxyFailure; readonly detail: string }
  /** `client` null: a LOCAL (v2) or UNKNOWN (v1) header, or an address family without IP (the connection's own address stands). */
  | { readonly state: 'ok'; readonly version: 1 | 2; readonly length: number; readonly client: { readonly address: string; readonly port: number } | null };

const INCOMPLETE: ProxyResult = Object.freeze({ state: 'incomplete' });

function bad(reason: ProxyFailure, detail: string): ProxyResult {
  return { state: 'invalid', reason, detail };
}

/** True when `data` agrees with `sig` over their common length. */
function startsLike(data: Buffer, sig: Buffer): boolean {
  const n = Math.min(data.length, sig.length);
  return data.compare(sig, 0, n, 0, n) === 0;
}

/** Reads a header from the start of `data`; `incomplete` while more bytes could finish it. */
export function parseProxyHeader(data: Buffer): ProxyResult {
  if (data.length === 0) return INCOMPLETE;
  if (startsLike(data, PROXY_V2_SIGNATURE)) return data.length < 16 ? INCOMPLETE : parseV2(data);
  if (startsLike(data, PROXY_V1_PREFIX)) return data.length < PROXY_V1_PREFIX.length ? INCOMPLETE : parseV1(data);
  return bad('missing', 'no PROXY protocol header');
}

function parseV1(data: Buffer): ProxyResult {
  const lf = data.indexOf(0x0a);
  if (lf < 0) return data.length >= V1_MAX ? bad('malformed', 'v1 header longer than 107 bytes') : INCOMPLETE;
  if (lf + 1 > V1_MAX || data[lf - 1] !== 0x0d) return bad('malformed', 'v1 header not ended by CRLF');
  const parts = data.toString('latin1', 0, lf - 1).split(' ');
  const length = lf + 1;
  if (parts[1] === 'UNKNOWN') return { state: 'ok', version: 1, length, client: null };
  if (parts.length !== 6 || (parts[1] !== 'TCP4' && parts[1] !== 'TCP6')) return bad('malformed', 'v1 header must be PROXY TCP4|TCP6|UNKNOWN src dst sport dport');
  const [, proto, src, dst, sport, dport] = parts as [string, string, string, string, string, string];
  const fam = proto === 'TCP4' ? 4 : 6;
  if (isIP(src) !== fam || isIP(dst) !== fam) return bad('malformed', `v1 header addresses are not ${proto}`);
  if (!port(sport) || !port(dport)) return bad('malformed', 'v1 header ports must be 0-65535');
  return { state: 'ok', version: 1, length, client: { address: src, port: Number(sport) } };
}

function port(s: string): boolean {
  return /^(0|[1-9]\d{0,4})$/.test(s) && Number(s) <= 65535;
}

function parseV2(data: Buffer): ProxyResult {
  const verCmd = data[12]!;
  if (verCmd >> 4 !== 2) return bad('malformed', `v2 header version ${verCmd >> 4}`);
  const cmd = verCmd & 0x0f;
  if (cmd > 1) return bad('unknown-command', `v2 header command ${cmd}`);
  const fam = data[13]!;
  const len = data.readUInt16BE(14);
  if (len > V2_MAX_BODY) return bad('malformed', 'v2 header too long');
  const length = 16 + len;
  if (data.length < length) return INCOMPLETE;
  // LOCAL: the balancer's own connection (health checks); its address stands.
  if (cmd === 0) return { state: 'ok', version: 2, length, client: null };
  const af = fam >> 4;
  if (af === 1) {
    if (len < 12) return bad('malformed', 'v2 IPv4 address block too short');
    const a = data.subarray(16, 20);
    return { state: 'ok', version: 2, length, client: { address: `${a[0]}.${a[1]}.${a[2]}.${a[3]}`, port: data.readUInt16BE(16 + 8) } };
  }
  if (af === 2) {
    if (len < 36) return bad('malformed', 'v2 IPv6 address block too short');
    return { state: 'ok', version: 2, length, client: { address: ipv6(data.subarray(16, 32)), port: data.readUInt16BE(16 + 32) } };
  }
  if (af === 0 || af === 3) return { state: 'ok', version: 2, length, client: null };
  return bad('malformed', `v2 address family ${af}`);
}

/** IPv6 text as node writes it (compressed, lower case; IPv4-mapped as ::ffff:a.b.c.d). */
function ipv6(b: Buffer): string {
  const w: number[] = [];
  for (let i = 0; i < 16; i += 2) w.push(b.readUInt16BE(i));
  if (w.slice(0, 5).every((x) => x === 0) && w[5] === 0xffff) return `::ffff:${b[12]}.${b[13]}.${b[14]}.${b[15]}`;
  // Longest run of zero words (length >= 2) becomes '::'.
  let best = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; ) {
    if (w[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && w[j] === 0) j++;
    if (j - i > bestLen) {
      best = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = w.map((x) => x.toString(16));
  if (best < 0) return hex.join(':');
  return `${hex.slice(0, best).join(':')}::${hex.slice(best + bestLen).join(':')}`;
}
