// SPDX-License-Identifier: LGPL-3.0-or-later
/**
 * The relay's HTTP side: maps a request onto the store and writes the
 * original's answers (status, headers, body text), byte for byte. CORS
 * headers go on every answer under the relay (the original sent them on 2xx
 * only, so browsers could not read a 507 or 403).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { BodyAbortedError, readBodyCallback, type Logger, type TooLargeReply } from '../../shared/index.ts';
import { authorized, type Auth } from './auth.ts';
import type { RelayConfig } from './config.ts';
import { countAnswer, countKind, NOT_COUNTED, type CountKind, type RelayCounts } from './metrics.ts';
import { ALLOW_HEADER, ALLOWED, backpressure, parseEndpoint, parseQuery, pollTimeoutMs, type Endpoint, type Query } from './parse.ts';
import { ClientGone, type Maybe, type Message, type ReplyData, type Store } from './store.ts';

export const MALFORMED = 'Malformed url';
export const LIMIT_TOO_BIG = 'Limit must be less than the tunnel max length';
export const QUEUE_FULL = 'Queue limit reached, consumers are not keeping up';
export const ACCESS_DENIED = 'Access denied';
export const TOO_LARGE = 'Request Entity Too Large';
export const UNAVAILABLE = 'Relay store unavailable, try again';

const ORIGIN = 'Access-Control-Allow-Origin';
const METHODS = 'Access-Control-Allow-Methods';
const EXPOSE = 'Access-Control-Expose-Headers';
const ORIGIN_V = '*';
const METHODS_V = 'GET, POST, DELETE, OPTIONS';
const EXPOSE_V = '*, X-Message-Id, X-Queue-Size';

/** A header list (flat name, value pairs) starting with the CORS headers. */
function head(extra: readonly string[] = []): string[] {
  const h = [ORIGIN, ORIGIN_V, METHODS, METHODS_V, EXPOSE, EXPOSE_V];
  for (let i = 0; i < extra.length; i++) h.push(extra[i]!);
  return h;
}

/** The 413 for a body over relay.max_body (readBody closes the connection after it). */
const TOO_LARGE_REPLY: TooLargeReply = { body: TOO_LARGE, type: 'text/plain', headers: { [ORIGIN]: ORIGIN_V, [METHODS]: METHODS_V, [EXPOSE]: EXPOSE_V } };

const TEXTS = new Map<string, Buffer>();
function textBytes(text: string): Buffer {
  let b = TEXTS.get(text);
  if (b === undefined) {
    b = Buffer.from(text, 'utf8');
    if (TEXTS.size < 64) TEXTS.set(text, b);
  }
  return b;
}

function sendText(res: ServerResponse, status: number, text: string, extra: readonly string[] = []): void {
  if (res.destroyed) return;
  const body = textBytes(text);
  const h = head(extra);
  h.push('Content-Type', 'text/plain', 'Content-Length', String(body.length));
  res.writeHead(status, h);
  res.end(body);
}

function sendEmpty(res: ServerResponse, status: number, extra: readonly string[] = []): void {
  if (res.destroyed) return;
  const h = head(extra);
  // 204 carries no length; other empty answers say 0 (node would chunk them otherwise).
  if (status !== 204) h.push('Content-Type', 'text/plain', 'Content-Length', '0');
  res.writeHead(status, h);
  res.end();
}

/** The 201's header lists, filled in per answer: writeHead reads them at once and keeps no reference. */
const CREATED = [ORIGIN, ORIGIN_V, METHODS, METHODS_V, EXPOSE, EXPOSE_V, 'Content-Type', 'text/plain', 'Content-Length', '0', 'X-Message-Id', ''];
const CREATED_SIZE = [...CREATED, 'X-Queue-Size', ''];

/** 201 to a produce: `size` < 0 leaves X-Queue-Size out (no backpressure). */
function sendCreated(res: ServerResponse, id: string, size: number): void {
  if (res.destroyed) return;
  let h = CREATED;
  if (size >= 0) {
    h = CREATED_SIZE;
    h[13] = String(size);
  }
  h[11] = id;
  res.writeHead(201, h);
  res.end();
}

function sendBody(res: ServerResponse, body: Buffer, ct: string, name: string | null, value: string | null): void {
  if (res.destroyed) return;
  const h = [ORIGIN, ORIGIN_V, METHODS, METHODS_V, EXPOSE, EXPOSE_V, 'Content-Type', ct, 'Content-Length', String(body.length)];
  if (name !== null) h.push(name, value!);
  res.writeHead(200, h);
  res.end(body);
}

const NO_QUERY = parseQuery('');

function isUnavailable(err: unknown): boolean {
  // By name: a waiter started by an older version may be failed with a newer version's class.
  return (err as Error | undefined)?.name === 'StoreUnavailable';
}

export interface Relay {
  readonly cfg: RelayConfig;
  readonly auth: Auth;
  readonly store: Store;
  readonly log: Logger;
  /** Produce/consume outcomes for the metrics (counted where the answer is written). */
  readonly counts: RelayCounts;
}

/** Counts an answer about to be written (not when the client is gone: nothing is written then). */
function count(relay: Relay, k: CountKind, res: ServerResponse, status: number, bytes = 0): void {
  if (k !== 0 && !res.destroyed) countAnswer(relay.counts, k, status, bytes);
}

/** Answers `${mount}health`: 200 `OK` for any method. */
export function health(req: IncomingMessage, res: ServerResponse): void {
  if (req.method === 'HEAD') {
    res.writeHead(200, head(['Content-Type', 'text/plain', 'Content-Length', '2']));
    res.end();
    return;
  }
  sendText(res, 200, 'OK');
}

/** Answers a request under `${mount}t`. `tPrefix` is `${mount}t/`. */
export function handle(relay: Relay | null, tPrefix: string, req: IncomingMessage, res: ServerResponse): void | Promise<void> {
  const url = req.url ?? '';
  const qi = url.indexOf('?');
  const path = qi < 0 ? url : url.slice(0, qi);
  const method = req.method ?? 'GET';
  if (method === 'OPTIONS') {
    sendEmpty(res, 204, ['Content-Length', '0', 'Access-Control-Max-Age', '3600']);
    return;
  }
  const ep = path.startsWith(tPrefix) ? parseEndpoint(path.slice(tPrefix.length)) : null;
  if (ep === null) {
    sendText(res, 400, MALFORMED);
    return;
  }
  if (!ALLOWED[ep.kind].includes(method)) {
    sendText(res, 405, 'Method Not Allowed', ['Allow', ALLOW_HEADER[ep.kind]]);
    return;
  }
  if (relay === null) {
    sendText(res, 503, UNAVAILABLE, ['Retry-After', '1']);
    return;
  }
  const query = qi < 0 ? NO_QUERY : parseQuery(url.slice(qi + 1));
  const k = countKind(ep.kind, method);
  // The body, at most max bytes (callbacks, no promise: this is the produce hot path); past max, 413 then close.
  readBodyCallback(req, { max: relay.cfg.maxBody, res, tooLarge: TOO_LARGE_REPLY }, (err, body) => {
    if (err === null) void serve(relay, ep, k, method, query, req, res, body!);
    else if (err instanceof BodyAbortedError) res.destroy();
    else if (err.answered) countAnswer(relay.counts, k, 413, 0);
  });
}

function serve(relay: Relay, ep: Endpoint, k: CountKind, method: string, q: Query, req: IncomingMessage, res: ServerResponse, body: Buffer): void | Promise<void> {
  // req.headers is built on first use: without auth the hot path reads the one header it needs from rawHeaders.
  if (relay.auth.enabled && !authorized(relay.auth, ep.id, req.headers.authorization, req.headers['x-hub-signature-256'] as string | undefined, body)) {
    count(relay, k, res, 403);
    sendText(res, 403, ACCESS_DENIED);
    return;
  }
  let out: void | Promise<void>;
  try {
    out = dispatch(relay, ep, k, method, q, req, res, body);
  } catch (err) {
    failed(relay, ep, k, res, err);
    return;
  }
  if (out instanceof Promise) return out.catch((err: unknown) => failed(relay, ep, k, res, err));
}

function failed(relay: Relay, ep: Endpoint, k: CountKind, res: ServerResponse, err: unknown): void {
  if (isUnavailable(err)) {
    count(relay, k, res, 503);
    sendText(res, 503, UNAVAILABLE, ['Retry-After', '1']);
    return;
  }
  relay.log.error({ err, endpoint: ep.kind }, 'relay request failed');
  if (!res.headersSent) {
    count(relay, k, res, 500);
    sendText(res, 500, 'Internal Server Error');
  } else res.destroy();
}

/** Runs `fn` on a value now, or once it arrives (the memory store answers synchronously: no promise on its path). */
function then<T>(v: Maybe<T>, fn: (x: T) => void): void | Promise<void> {
  if (v instanceof Promise) return v.then(fn);
  fn(v);
}

/** Fires when the client goes away before the answer. */
function clientGone(res: ServerResponse): ClientGone {
  const g = new ClientGone();
  res.once('close', () => {
    if (!res.writableFinished) g.fire();
  });
  return g;
}

function sendMessage(relay: Relay, k: CountKind, res: ServerResponse, m: Message | null): void {
  count(relay, k, res, m === null ? 204 : 200);
  if (m === null) sendEmpty(res, 204);
  else sendBody(res, m.body, m.ct || relay.cfg.defaultContentType, 'X-Message-Id', m.id);
}

function sendReply(relay: Relay, res: ServerResponse, r: ReplyData | null): void {
  if (r === null) sendEmpty(res, 204);
  else sendBody(res, r.body, r.ct || relay.cfg.defaultContentType, null, null);
}

function dispatch(relay: Relay, ep: Endpoint, k: CountKind, method: string, q: Query, req: IncomingMessage, res: ServerResponse, body: Buffer): void | Promise<void> {
  const { store, cfg } = relay;
  switch (ep.kind) {
    case 'tunnel': {
      if (method === 'POST') {
        const bp = backpressure(q.limit, cfg.tunnelMaxlen, cfg.backpressure);
        if (bp === null) {
          count(relay, k, res, 400);
          return sendText(res, 400, LIMIT_TOO_BIG);
        }
        return then(store.produce(ep.id, body, contentType(req), bp), (r) => {
          if (!r.ok) {
            count(relay, k, res, 507);
            sendText(res, 507, QUEUE_FULL, ['X-Queue-Size', String(r.size)]);
            return;
          }
          count(relay, k, res, 201, body.length);
          // A poll this produce woke is answered first (its answer is queued as a microtask): that is the latency that counts.
          if (!r.woke) return sendCreated(res, r.id, bp.on ? r.size : -1);
          queueMicrotask(() => {
            try {
              sendCreated(res, r.id, bp.on ? r.size : -1);
            } catch (err) {
              failed(relay, ep, NOT_COUNTED, res, err);
            }
          });
        });
      }
      return then(store.consume(ep.id, q.pending), (m) => sendMessage(relay, k, res, m));
    }
    case 'poll': {
      const ms = pollTimeoutMs(q.timeout, cfg.defaultPollTimeout, cfg.maxPollTimeout);
      return then(ms <= 0 ? store.consume(ep.id, q.pending) : store.poll(ep.id, q.pending, ms, clientGone(res)), (m) => sendMessage(relay, k, res, m));
    }
    case 'len':
      return then(store.length(ep.id), (n) => sendEmpty(res, 204, ['X-Queue-Size', String(n)]));
    case 'all':
      return then(store.clear(ep.id), () => sendEmpty(res, 204, ['X-Queue-Size', '0']));
    case 'message': {
      if (method === 'DELETE') return then(store.ack(ep.id, ep.mid), () => sendEmpty(res, 204));
      return then(store.state(ep.id, ep.mid), (st) => sendEmpty(res, st));
    }
    case 'reply': {
      if (method === 'POST') {
        return then(store.reply(ep.id, ep.mid, body, contentType(req)), (r) => {
          if (r === 'cap') return then(store.length(ep.id), (n) => sendText(res, 507, QUEUE_FULL, ['X-Queue-Size', String(n)]));
          sendEmpty(res, r === 'stored' ? 201 : 204);
        });
      }
      return then(store.readReply(ep.id, ep.mid), (r) => sendReply(relay, res, r));
    }
    case 'replyPoll': {
      const ms = pollTimeoutMs(q.timeout, cfg.defaultPollTimeout, cfg.maxPollTimeout);
      return then(ms <= 0 ? store.readReply(ep.id, ep.mid) : store.pollReply(ep.id, ep.mid, ms, clientGone(res)), (r) => sendReply(relay, res, r));
    }
  }
}

/** The first Content-Type (node's req.headers keeps the first too), from rawHeaders: no headers object built. */
function contentType(req: IncomingMessage): string {
  const raw = req.rawHeaders;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!;
    if (name.length === 12 && name.toLowerCase() === 'content-type') return raw[i + 1]!;
  }
  return '';
}
