// SPDX-License-Identifier: LGPL-3.0-or-later
/**
 * The cached hit's fast path: a whole 200 or 304 (status line, headers, body) put
 * on the socket by the module itself, then node's ServerResponse ended
 * without writing anything of its own.
 *
 * Why: `writeHead(200, headers)` + `end(body)` makes node validate every
 * header name and value with two regular expressions, build the head
 * string, cork the socket, queue the head+body and an empty chunk with the
 * finish callback, uncork and `writev` them (a write request and an array
 * per response). A profile of the 1 KB hit puts that at about a sixth of
 * the server's CPU. Here the head is built and checked once per file
 * (`wireHead`), and each response is one `socket.write` of a string (small
 * files) or the head string and the kept body Buffer under one cork (bigger
 * ones: one `writev`, the body never copied).
 *
 * The bytes are the ones node would send: its own header order (the
 * module's headers, then `Date`, `Connection: keep-alive`, `Keep-Alive:
 * timeout=N`). The fast path is only taken when node would write exactly
 * that: the response owns the socket (not queued behind a pipelined one),
 * keep-alive with node's default `Keep-Alive` header, no `Expect:
 * 100-continue` left unanswered, nothing written or set on `res` yet.
 * Everything else (HTTP/1.0 without keep-alive, `Connection: close`, the
 * last request of `maxRequestsPerSocket`, shutdown) takes node's own
 * `writeHead`/`end`, so the rules stay node's. The node fields read here
 * are checked by test/http-raw-response.test.ts against node's own output.
 */
import type { Socket } from 'node:net';
import type { ServerResponse } from 'node:http';

/** The node internals of a ServerResponse this path reads and sets (node 20 and 22). */
interface NodeResponse {
  _header: string | null;
  _headerSent: boolean;
  shouldKeepAlive: boolean;
  sendDate: boolean;
  chunkedEncoding: boolean;
  _removedConnection: boolean;
  _keepAliveTimeout: number;
  _defaultKeepAlive: boolean;
  _maxRequestsPerSocket: number;
  maxRequestsOnConnectionReached: boolean;
  _expect_continue: boolean;
  _sent100: boolean;
  outputData: unknown[];
  finished: boolean;
  socket: (Socket & { _httpMessage?: unknown }) | null;
}

/** The status line (200 or 304) and the variant's headers, one `Name: value\r\n` each; null if one would not pass node's checks. */
export function wireHead(headers: readonly string[], status: 200 | 304 = 200): string | null {
  let head = status === 200 ? 'HTTP/1.1 200 OK\r\n' : 'HTTP/1.1 304 Not Modified\r\n';
  for (let i = 0; i < headers.length; i += 2) {
    const name = headers[i]!;
    const value = headers[i + 1]!;
    // Node's own rules (checkIsHttpToken, checkInvalidHeaderChar): anything else goes through writeHead, which throws as before.
    if (!/^[\^_`a-zA-Z\-0-9!#$%&'*+.|~]+$/.test(name) || /[^\t\x20-\x7e\x80-\xff]/.test(value)) return null;
    // Node picks Connection/Keep-Alive/Date by these: a variant never has them, but if one did node must decide.
    const l = name.toLowerCase();
    if (l === 'connection' || l === 'keep-alive' || l === 'date' || l === 'transfer-encoding' || l === 'expect' || l === 'trailer') return null;
    head += name + ': ' + value + '\r\n';
  }
  return head;
}

let date = '';
function dropDate(): void {
  date = '';
}
/** The `Date` value, made once a second (as node's own cache does). */
function httpDate(): string {
  if (date === '') {
    const d = new Date();
    date = d.toUTCString();
    setTimeout(dropDate, 1000 - d.getMilliseconds()).unref();
  }
  return date;
}

let kaFor = -1;
let kaTail = '';
/** `Connection: keep-alive` and node's `Keep-Alive` header for this server's keep-alive timeout, ending the head. */
function keepAliveTail(timeoutMs: number): string {
  if (timeoutMs !== kaFor) {
    kaFor = timeoutMs;
    kaTail = 'Connection: keep-alive\r\n' + (timeoutMs ? `Keep-Alive: timeout=${Math.floor(timeoutMs / 1000)}\r\n` : '') + '\r\n';
  }
  return kaTail;
}

/**
 * Sends `head` (from wireHead) and the body (`text`, a latin1 string, or
 * `body`; neither for HEAD or a 304); false, with nothing done, when node
 * must write this response itself. `status` is what `head` says (for the
 * access log and metrics, which read `res.statusCode`).
 */
export function sendRaw(res: ServerResponse, head: string, text: string | null, body: Buffer | null, status: 200 | 304 = 200): boolean {
  const r = res as unknown as NodeResponse;
  const s = r.socket;
  if (
    s === null ||
    s._httpMessage !== res ||
    !s.writable ||
    r._header !== null ||
    r.finished ||
    !r.shouldKeepAlive ||
    r.maxRequestsOnConnectionReached ||
    r._removedConnection ||
    !r._defaultKeepAlive ||
    r._maxRequestsPerSocket > 0 ||
    r.chunkedEncoding ||
    !r.sendDate ||
    (r._expect_continue && !r._sent100) ||
    r.outputData.length !== 0 ||
    res.statusCode !== 200 ||
    res.getHeaderNames().length !== 0
  ) {
    return false;
  }
  const h = head + 'Date: ' + httpDate() + '\r\n' + keepAliveTail(r._keepAliveTimeout);
  if (text !== null) s.write(h + text, 'latin1');
  else if (body === null) s.write(h, 'latin1');
  else {
    s.cork();
    s.write(h, 'latin1');
    s.write(body);
    s.uncork();
  }
  // Node's end() now sees a head already sent and writes nothing: it finishes the response once the socket has
  // taken our bytes, and the server goes on with the connection (next request, keep-alive timer) as usual.
  res.statusCode = status;
  r._header = h;
  r._headerSent = true;
  res.end();
  return true;
}
