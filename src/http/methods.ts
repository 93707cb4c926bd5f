// SPDX-License-Identifier: LGPL-3.0-or-later
/**
 * The one list of HTTP methods the router knows. When any module serves
 * HTTP, the route table hands every connection starting with one of them to
 * the HTTP host (node's parser answers each request with a status: the
 * route's, a 405, a 501 for CONNECT); refusals (busy) sniff with the same
 * list. A request line with any other method gets a 501 from the router.
 * Pure: no I/O.
 */

export const HTTP_METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'OPTIONS', 'PATCH', 'CONNECT', 'TRACE'] as const;

/** `METHOD ` for each method: the byte prefixes the HTTP host claims. */
export const HTTP_METHOD_PREFIXES: readonly string[] = HTTP_METHODS.map((m) => `${m} `);

/** A whole request line: any method token, a target, a version. */
const REQUEST_LINE = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+ [^\s]+ HTTP\/\d/;
/** The start of one, as clients write it (upper-case method, then an origin, absolute or asterisk target). */
const REQUEST_START = /^[A-Z][A-Z0-9_-]* (?:\/|\*(?: |$)|https?:\/\/)/;

/**
 * Whether the first bytes of a connection that no route took look like an
 * HTTP/1 request (with a method outside HTTP_METHODS, or before the whole
 * method arrived): such a client gets an HTTP status, not `ERR no route`.
 */
export function looksLikeHttpRequest(data: Buffer): boolean {
  const head = data.toString('latin1', 0, Math.min(data.length, 256));
  return REQUEST_LINE.test(head) || REQUEST_START.test(head);
}

/**
 * True when the raw header list holds more than one Host field: RFC 9112
 * §3.2 says such a request is answered 400 (node keeps the first and drops
 * the rest, so two hosts could disagree about which site was asked for).
 */
export function duplicateHost(rawHeaders: readonly string[]): boolean {
  let seen = false;
  for (let i = 0; i < rawHeaders.length; i += 2) {
    const name = rawHeaders[i]!;
    if (name.length !== 4 || name.toLowerCase() !== 'host') continue;
    if (seen) return true;
    seen = true;
  }
  return false;
}
