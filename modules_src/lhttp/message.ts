// SPDX-License-Identifier: LGPL-3.0-or-later
/**
 * LHTTP/1.0 messages: parsing and serializing, as the original (fanux/lhttp)
 * behaves, without its panics. Pure.
 *
 * Text here is a *byte string*: one JS char per byte (the frame decoded as
 * latin1), so offsets are byte offsets (multipart) and re-serializing gives
 * back exactly the bytes the client sent. `toText`/`fromText` convert to and
 * from real (UTF-8) strings at the processor API boundary.
 *
 *   LHTTP/1.0 <command>\r\n
 *   <key>:<value>\r\n        (zero or more; value untrimmed; last duplicate wins)
 *   \r\n
 *   <body>
 */

export const PROTOCOL = 'LHTTP/1.0';
/** Frames this long or shorter are ignored (the original's `len(data) <= 9`). */
export const MIN_FRAME = PROTOCOL.length + 1;

/** A parsed message; every string is a byte string. */
export interface Message {
  readonly command: string;
  /** Header key -> value, in first-seen order; a repeated key keeps its place and takes the last value. */
  readonly headers: Map<string, string>;
  readonly body: string;
}

/** Why a frame was ignored. */
export type Garbage = 'short' | 'not-lhttp' | 'no-crlf';

/** Parses one frame (a byte string). Returns the reason instead of a message for a frame to ignore. */
export function parseMessage(s: string): Message | Garbage {
  if (s.length <= PROTOCOL.length) return 'short';
  if (!s.startsWith(PROTOCOL)) return 'not-lhttp';
  const eol = s.indexOf('\r\n');
  // The command is what follows `LHTTP/1.0` and one separator character, up to the first CRLF.
  if (eol < PROTOCOL.length + 1) return 'no-crlf';
  const command = s.slice(PROTOCOL.length + 1, eol);
  const headers = new Map<string, string>();
  let k = eol + 2;
  for (;;) {
    if (k >= s.length) return { command, headers, body: '' };
    const end = s.indexOf('\r\n', k);
    if (end === k) return { command, headers, body: s.slice(k + 2) }; // the blank line
    const lineEnd = end < 0 ? s.length : end;
    const colon = s.indexOf(':', k);
    // A line without a colon is not a header: skipped. An empty key is skipped too.
    if (colon > k && colon < lineEnd) headers.set(s.slice(k, colon), s.slice(colon + 1, lineEnd));
    if (end < 0) return { command, headers, body: '' }; // no blank line: headers only
    k = end + 2;
  }
}

/** The wire form: start line, headers, blank line, body (all byte strings). */
export function serialize(command: string, headers: Iterable<readonly [string, string]>, body: string): string {
  let out = `${PROTOCOL} ${command}\r\n`;
  for (const [k, v] of headers) out += `${k}:${v}\r\n`;
  return `${out}\r\n${body}`;
}

/**
 * Channel names of a subscribe/publish/unsubscribe header value: split on
 * single spaces as the original does; empty names (from leading, trailing or
 * double spaces) are dropped.
 */
export function splitChannels(value: string): string[] {
  const out: string[] = [];
  for (const c of value.split(' ')) if (c !== '') out.push(c);
  return out;
}

/** One part of a multipart body (byte strings). */
export interface Part {
  readonly headers: Map<string, string>;
  readonly body: string;
}

/**
 * Splits a body at the byte offsets of a `multipart` header (`0 56`): each
 * part runs from its offset to the next one (the last to the end) and is
 * `k:v\r\n...\r\n<part body>`. Returns an error text for offsets that are not
 * integers, out of range or decreasing (the original panics on those).
 */
export function parseMultipart(value: string, body: string): Part[] | string {
  const raw = splitChannels(value);
  if (raw.length === 0) return 'no offsets';
  if (raw.length > 1024) return 'too many parts';
  const offsets: number[] = [];
  for (const r of raw) {
    if (!/^\d{1,9}$/.test(r)) return `bad offset ${JSON.stringify(r)}`;
    const n = Number(r);
    if (n > body.length) return `offset ${n} past the end of the body (${body.length} bytes)`;
    if (offsets.length > 0 && n < offsets[offsets.length - 1]!) return `offset ${n} before the previous one`;
    offsets.push(n);
  }
  const parts: Part[] = [];
  for (let i = 0; i < offsets.length; i++) {
    const chunk = body.slice(offsets[i], i + 1 < offsets.length ? offsets[i + 1] : body.length);
    parts.push(parsePart(chunk));
  }
  return parts;
}

/** A part: header lines up to a blank line, then its body. Without a blank line, the headers run to the end. */
function parsePart(s: string): Part {
  const headers = new Map<string, string>();
  let k = 0;
  for (;;) {
    if (k >= s.length) return { headers, body: '' };
    const end = s.indexOf('\r\n', k);
    if (end === k) return { headers, body: s.slice(k + 2) };
    const lineEnd = end < 0 ? s.length : end;
    const colon = s.indexOf(':', k);
    if (colon > k && colon < lineEnd) headers.set(s.slice(k, colon), s.slice(colon + 1, lineEnd));
    if (end < 0) return { headers, body: '' };
    k = end + 2;
  }
}

/** Byte string -> text (UTF-8 decoded). ASCII is returned as is. */
export function toText(bytes: string): string {
  // eslint-disable-next-line no-control-regex
  return /^[\x00-\x7f]*$/.test(bytes) ? bytes : Buffer.from(bytes, 'latin1').toString('utf8');
}

/** Text -> byte string (UTF-8 encoded). ASCII is returned as is. */
export function fromText(text: string): string {
  // eslint-disable-next-line no-control-regex
  return /^[\x00-\x7f]*$/.test(text) ? text : Buffer.from(text, 'utf8').toString('latin1');
}
