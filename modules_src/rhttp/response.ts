// SPDX-License-Identifier: LGPL-3.0-or-later
/**
 * Strict parsing of the response text a service publishes on
 * `RESPONSE_PIPE`:
 *
 *   HTTP/1.1 CODE TEXT\r\n  headers  X-Socket-ID: ID\r\n  \r\n  body
 *
 * The Redis message frames the response, so the body is everything after
 * the blank line. A response that does not follow the format is malformed
 * (the client gets 502), with two tolerances for existing services:
 * `rhttp_node` counts `Content-Length` in UTF-16 units (JavaScript string
 * length), so that count is accepted as well as the byte count; and the
 * reason phrase is ignored (the gateway writes the standard one for the code).
 * Pure.
 */

/** Token characters of a header name (RFC 9110 5.6.2). */
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
/** Field value characters: visible ASCII, obs-text, space and tab (no CR, LF, NUL or other controls). */
const FIELD_VALUE = /^[\t\x20-\x7e\x80-\xff]*$/;
const STATUS_LINE = /^HTTP\/1\.[01] (\d{3})(?: [\t\x20-\x7e\x80-\xff]*)?$/;

/** Response headers the gateway never passes on: hop-by-hop, its own `Date`, the internal id, and `Content-Length` (recomputed). */
const DROPPED = new Set(['connection', 'keep-alive', 'proxy-connection', 'te', 'trailer', 'upgrade', 'date', 'x-socket-id', 'content-length']);

export interface ParsedResponse {
  readonly id: string;
  readonly status: number;
  /** Headers to pass on, in order, names as the service spelled them. */
  readonly headers: ReadonlyArray<readonly [string, string]>;
  readonly body: Buffer;
}

export type ParseResult = { readonly ok: true; readonly response: ParsedResponse } | { readonly ok: false; readonly id: string | null; readonly error: string };

const CRLFCRLF = Buffer.from('\r\n\r\n');

/**
 * Every X-Socket-ID value in a response's head, in order, found cheaply
 * (without parsing the rest), so responses meant for another gateway on the
 * same Redis cost little. Empty when the head has none. A well-formed
 * response has one (or the same one repeated).
 */
export function responseIds(msg: Buffer): string[] {
  let end = msg.indexOf(CRLFCRLF);
  if (end < 0) end = msg.length;
  const head = msg.toString('latin1', 0, end);
  const ids: string[] = [];
  let at = 0;
  for (;;) {
    const nl = head.indexOf('\r\n', at);
    if (nl < 0) return ids;
    at = nl + 2;
    // 'x-socket-id:' is 12 characters.
    if (head.length - at >= 12 && (head.charCodeAt(at) | 0x20) === 0x78 && head.slice(at, at + 12).toLowerCase() === 'x-socket-id:') {
      const stop = head.indexOf('\r\n', at);
      ids.push(head.slice(at + 12, stop < 0 ? head.length : stop).trim());
    }
  }
}

/** The first X-Socket-ID of a response, or null. */
export function responseId(msg: Buffer): string | null {
  return responseIds(msg)[0] ?? null;
}

export function parseResponse(msg: Buffer): ParseResult {
  const end = msg.indexOf(CRLFCRLF);
  if (end < 0) return { ok: false, id: responseId(msg), error: 'no blank line after the head' };
  const lines = msg.toString('latin1', 0, end).split('\r\n');
  const m = STATUS_LINE.exec(lines[0]!);
  let id: string | null = null;
  const fail = (error: string): ParseResult => ({ ok: false, id: id ?? responseId(msg), error });
  if (!m) return fail(`bad status line ${JSON.stringify(lines[0]!.slice(0, 100))}`);
  const status = Number(m[1]);
  if (status < 200 || status > 599) return fail(`status ${status} is not a final status (200..599)`);
  const headers: Array<readonly [string, string]> = [];
  let declared: string | null = null;
  for (let i = 1; i < lines.length; i++) {
    const line = lines[i]!;
    const c = line.indexOf(':');
    if (c <= 0) return fail(`bad header line ${JSON.stringify(line.slice(0, 100))}`);
    const name = line.slice(0, c);
    if (!TOKEN.test(name)) return fail(`bad header name ${JSON.stringify(name.slice(0, 100))}`);
    const value = line.slice(c + 1).replace(/^[ \t]+|[ \t]+$/g, '');
    if (!FIELD_VALUE.test(value)) return fail(`bad value for header ${name}`);
    const lower = name.toLowerCase();
    if (lower === 'x-socket-id') {
      if (id !== null && id !== value) return fail('two different X-Socket-ID headers');
      id = value;
    } else if (lower === 'content-length') {
      if (!/^\d{1,15}$/.test(value)) return fail(`bad Content-Length ${JSON.stringify(value.slice(0, 40))}`);
      if (declared !== null && declared !== value) return fail('two different Content-Length headers');
      declared = value;
    } else if (lower === 'transfer-encoding') {
      return fail('Transfer-Encoding is not allowed (the Redis message is the framing)');
    }
    if (!DROPPED.has(lower)) headers.push([name, value]);
  }
  if (id === null || id === '') return fail('no X-Socket-ID header');
  const body = msg.subarray(end + 4);
  if (declared !== null) {
    const n = Number(declared);
    if (n !== body.length && n !== body.toString('utf8').length) return fail(`Content-Length ${n} does not match the body (${body.length} bytes)`);
  }
  return { ok: true, response: { id, status, headers, body } };
}

/** The id in a `REJECT_PIPE` message: the text, trimmed. */
export function rejectId(msg: Buffer): string {
  return msg.toString('latin1').trim();
}
