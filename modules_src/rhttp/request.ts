// SPDX-License-Identifier: LGPL-3.0-or-later
/**
 * The request text published on `REQUEST_PIPE`, as the original gateway
 * writes it and `rhttp_node` / `rhttp-python` read it:
 *
 *   METHOD TARGET HTTP/1.1\r\n
 *   Name: value\r\n            (the client's headers, hop-by-hop ones removed)
 *   Content-Length: N\r\n      (always, computed from the body)
 *   X-Socket-ID: ID\r\n        (exactly this spelling, last)
 *   \r\n
 *   body
 *
 * Pure. Header names and values are node's latin1 strings and go back out
 * as the same bytes.
 */
import { randomInt } from 'node:crypto';

/** Headers that describe one hop only (RFC 9110 7.6.1), never forwarded; plus the ones the gateway writes itself. */
export const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'proxy-authenticate', 'proxy-authorization', 'te', 'trailer', 'transfer-encoding', 'upgrade']);

/** Headers the gateway sets itself on the published request (a client's copy is dropped); `Expect` was answered by node already. */
const OWN = new Set(['content-length', 'x-socket-id', 'expect']);

export interface OutgoingRequest {
  readonly method: string;
  /** The target the service sees (mount already stripped if so configured). */
  readonly target: string;
  /** node's `req.rawHeaders`: name, value, name, value, ... */
  readonly rawHeaders: readonly string[];
  readonly body: Buffer;
  readonly id: string;
}

/** Names listed in the `Connection` header(s): hop-by-hop too (RFC 9110 7.6.1). */
function connectionOptions(rawHeaders: readonly string[]): Set<string> {
  const out = new Set<string>();
  for (let i = 0; i + 1 < rawHeaders.length; i += 2) {
    if (rawHeaders[i]!.toLowerCase() !== 'connection') continue;
    for (const t of rawHeaders[i + 1]!.split(',')) {
      const n = t.trim().toLowerCase();
      if (n) out.add(n);
    }
  }
  return out;
}

/** The request as published on `REQUEST_PIPE`. */
export function serializeRequest(r: OutgoingRequest): Buffer {
  const named = connectionOptions(r.rawHeaders);
  let head = `${r.method} ${r.target} HTTP/1.1\r\n`;
  const h = r.rawHeaders;
  for (let i = 0; i + 1 < h.length; i += 2) {
    const lower = h[i]!.toLowerCase();
    if (HOP_BY_HOP.has(lower) || OWN.has(lower) || named.has(lower)) continue;
    head += `${h[i]}: ${h[i + 1]}\r\n`;
  }
  head += `Content-Length: ${r.body.length}\r\nX-Socket-ID: ${r.id}\r\n\r\n`;
  const headBuf = Buffer.from(head, 'latin1');
  return r.body.length === 0 ? headBuf : Buffer.concat([headBuf, r.body], headBuf.length + r.body.length);
}

/**
 * X-Socket-IDs: decimal text (the original's ids are decimal, and a service
 * may parse them as a number), unique across processes and time: a random
 * 12-digit instance prefix (first digit not 0) followed by a counter. Two
 * ids from different prefixes never coincide because the prefix has a fixed width.
 */
export function newInstancePrefix(digit: (below: number) => number = (n) => randomInt(n)): string {
  let s = String(1 + digit(9));
  for (let i = 0; i < 11; i++) s += String(digit(10));
  return s;
}

/** Whether `id` was issued with `prefix` (ids of other gateways on the same Redis are not). */
export function ownsId(prefix: string, id: string): boolean {
  return id.length > prefix.length && id.startsWith(prefix) && /^\d+$/.test(id.slice(prefix.length));
}
