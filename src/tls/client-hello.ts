// SPDX-License-Identifier: LGPL-3.0-or-later
/**
 * Reads a TLS ClientHello from the first bytes of a connection without
 * consuming them: the server name (SNI) and the ALPN protocols offered.
 * Pure: no I/O. The handshake message may span several records (large key
 * shares), so fragments of consecutive handshake records are joined.
 */

/** First byte of a TLS handshake record: the one-byte check the peek makes. */
export const TLS_HANDSHAKE = 0x16;

/** Largest ClientHello accepted (a real one is a few KiB; more is hostile). */
const MAX_HELLO = 64 * 1024;
/** Largest record payload the protocol allows (2^14) plus what TLS 1.2 compression/padding may add. */
const MAX_RECORD = 16384 + 2048;

export type HelloResult =
  | { readonly state: 'incomplete' }
  | { readonly state: 'invalid'; readonly reason: string }
  | { readonly state: 'ok'; readonly servername: string | null; readonly alpn: readonly string[] };

const INCOMPLETE: HelloResult = Object.freeze({ state: 'incomplete' });

function invalid(reason: string): HelloResult {
  return { state: 'invalid', reason };
}

/** Parses what has arrived so far; `incomplete` means more bytes could finish it. */
export function parseClientHello(data: Buffer): HelloResult {
  // Join the handshake fragments of the records that have arrived.
  let off = 0;
  let hs: Buffer | null = null;
  let need = -1;
  while (true) {
    if (data.length - off < 5) return INCOMPLETE;
    if (data[off] !== TLS_HANDSHAKE) return invalid('not a handshake record');
    if (data[off + 1] !== 3 || data[off + 2]! > 4) return invalid('bad record version');
    const len = data.readUInt16BE(off + 3);
    if (len === 0 || len > MAX_RECORD) return invalid('bad record length');
    const end = off + 5 + len;
    const frag = data.subarray(off + 5, Math.min(end, data.length));
    hs = hs === null ? frag : Buffer.concat([hs, frag]);
    if (need < 0 && hs.length >= 4) {
      if (hs[0] !== 1) return invalid('not a ClientHello');
      need = 4 + hs.readUIntBE(1, 3);
      if (need > MAX_HELLO) return invalid('ClientHello too large');
    }
    if (need >= 0 && hs.length >= need) return parseHello(hs.subarray(4, need));
    if (end > data.length) return INCOMPLETE;
    off = end;
  }
}

/** The ClientHello body (after the 4-byte handshake header), complete. */
function parseHello(b: Buffer): HelloResult {
  let p = 0;
  const n = b.length;
  // client_version (2) + random (32)
  if (n < 35 || b[0] !== 3) return invalid('bad ClientHello version');
  p = 34;
  const sid = b[p]!;
  if (sid > 32) return invalid('bad session id');
  p += 1 + sid;
  if (p + 2 > n) return invalid('truncated ClientHello');
  const suites = b.readUInt16BE(p);
  if (suites === 0 || suites % 2 !== 0) return invalid('bad cipher suites');
  p += 2 + suites;
  if (p + 1 > n) return invalid('truncated ClientHello');
  p += 1 + b[p]!;
  if (p > n) return invalid('truncated ClientHello');
  // No extensions at all (an old client): no SNI, no ALPN.
  if (p === n) return { state: 'ok', servername: null, alpn: [] };
  if (p + 2 > n) return invalid('truncated extensions');
  const extEnd = p + 2 + b.readUInt16BE(p);
  if (extEnd !== n) return invalid('bad extensions length');
  p += 2;
  let servername: string | null = null;
  let alpn: string[] = [];
  while (p < extEnd) {
    if (p + 4 > extEnd) return invalid('truncated extension');
    const type = b.readUInt16BE(p);
    const len = b.readUInt16BE(p + 2);
    const start = p + 4;
    const stop = start + len;
    if (stop > extEnd) return invalid('truncated extension');
    if (type === 0) {
      const r = readServerName(b, start, stop);
      if (typeof r !== 'string' && r !== null) return r;
      servername = r;
    } else if (type === 16) {
      const r = readAlpn(b, start, stop);
      if (!Array.isArray(r)) return r as HelloResult;
      alpn = r;
    }
    p = stop;
  }
  return { state: 'ok', servername, alpn };
}

const HOST_CHARS = /^[a-z0-9_*-]+(\.[a-z0-9_*-]+)*$/;

function readServerName(b: Buffer, p: number, stop: number): string | null | HelloResult {
  if (p === stop) return null;
  if (p + 2 > stop || p + 2 + b.readUInt16BE(p) !== stop) return invalid('bad server_name extension');
  p += 2;
  while (p < stop) {
    if (p + 3 > stop) return invalid('bad server_name extension');
    const kind = b[p]!;
    const len = b.readUInt16BE(p + 1);
    if (p + 3 + len > stop) return invalid('bad server_name extension');
    if (kind === 0) {
      let name = b.toString('latin1', p + 3, p + 3 + len).toLowerCase();
      if (name.endsWith('.')) name = name.slice(0, -1);
      if (name.length === 0 || name.length > 253 || !HOST_CHARS.test(name)) return invalid('bad server name');
      return name;
    }
    p += 3 + len;
  }
  return null;
}

function readAlpn(b: Buffer, p: number, stop: number): string[] | HelloResult {
  if (p + 2 > stop || p + 2 + b.readUInt16BE(p) !== stop) return invalid('bad ALPN extension');
  p += 2;
  const out: string[] = [];
  while (p < stop) {
    const len = b[p]!;
    if (len === 0 || p + 1 + len > stop) return invalid('bad ALPN extension');
    out.push(b.toString('latin1', p + 1, p + 1 + len));
    p += 1 + len;
  }
  return out;
}
