// SPDX-License-Identifier: LGPL-3.0-or-later
/**
 * The relay's HTTP side: maps a request onto the store and writes the
 * original's answers (status, headers, body text), byte for byte. CORS
 * headers go on every answer under the relay (the original sent them on 2xx
 * only, so browsers could not read a 507 or 403).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from '../../shared/index.ts';
import { authorized, type Auth } from './auth.ts';
import type { RelayConfig } from './config.ts';
import { ALLOW_HEADER, ALLOWED, backpressure, parseEndpoint, parseQuery, pollTimeoutMs, type Endpoint, type Query } from './parse.ts';
import type { Message, ReplyData, Store } from './store.ts';

export const MALFORMED = 'Malformed url';
export const LIMIT_TOO_BIG = 'Limit must be less than the tunnel max length';
export const QUEUE_FULL = 'Queue limit reached, consumers are not keeping up';
export const ACCESS_DENIED = 'Access denied';
export const TOO_LARGE = 'Request Entity Too Large';
export const UNAVAILABLE = 'Relay store unavailable, try again';

const CORS: ReadonlyArray<readonly [string, string]> = [
  ['Access-Control-Allow-Origin', '*'],
  ['Access-Control-Allow-Methods', 'GET, POST, DELETE, OPTIONS'],
  ['Access-Control-Expose-Headers', '*, X-Message-Id, X-Queue-Size'],
];

type Headers = Array<string>;

function head(extra: readonly string[] = []): Headers {
  const h: string[] = [];
  for (const [k, v] of CORS) h.push(k, v);
  for (const x of extra) h.push(x);
  return h;
}

function sendText(res: ServerResponse, status: number, text: string, extra: readonly string[] = []): void {
  if (res.destroyed) return;
  const body = Buffer.from(text, 'utf8');
  res.writeHead(status, head(['Content-Type', 'text/plain', 'Content-Length', String(body.length), ...extra]));
  res.end(body);
}

function sendEmpty(res: ServerResponse, status: number, extra: readonly string[] = []): void {
  if (res.destroyed) return;
  // 204 carries no length; other empty answers say 0 (node would chunk them otherwise).
  res.writeHead(status, head(status === 204 ? extra : ['Content-Type', 'text/plain', 'Content-Length', '0', ...extra]));
  res.end();
}

function sendBody(res: ServerResponse, body: Buffer, ct: string, extra: readonly string[], headOnly: boolean): void {
  if (res.destroyed) return;
  res.writeHead(200, head(['Content-Type', ct, 'Content-Length', String(body.length), ...extra]));
  res.end(headOnly ? undefined : body);
}

const EMPTY = Buffer.alloc(0);

class TooLarge extends Error {}

/** The request body, at most `max` bytes (TooLarge beyond). No body: an empty Buffer, synchronously. */
function readBody(req: IncomingMessage, max: number): Buffer | Promise<Buffer> {
  const cl = req.headers['content-length'];
  if (cl === undefined && req.headers['transfer-encoding'] === undefined) return EMPTY;
  if (cl !== undefined && Number(cl) > max) throw new TooLarge();
  if (cl === '0') return EMPTY;
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const onData = (c: Buffer): void => {
      size += c.length;
      if (size > max) {
        req.off('data', onData);
        req.off('end', onEnd);
        reject(new TooLarge());
        return;
      }
      chunks.push(c);
    };
    const onEnd = (): void => resolve(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size));
    req.on('data', onData);
    req.on('end', onEnd);
    req.on('error', reject);
    req.on('aborted', () => reject(new Error('client aborted')));
  });
}

function isUnavailable(err: unknown): boolean {
  // By name: a waiter started by an older version may be failed with a newer version's class.
  return (err as Error | undefined)?.name === 'StoreUnavailable';
}

export interface Relay {
  readonly cfg: RelayConfig;
  readonly auth: Auth;
  readonly store: Store;
  readonly log: Logger;
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
  let body: Buffer | Promise<Buffer>;
  try {
    body = readBody(req, relay.cfg.maxBody);
  } catch {
    tooLarge(res);
    return;
  }
  const query = qi < 0 ? parseQuery('') : parseQuery(url.slice(qi + 1));
  if (Buffer.isBuffer(body)) return serve(relay, ep, method, query, req, res, body);
  return body.then(
    (b) => serve(relay, ep, method, query, req, res, b),
    (err: unknown) => {
      if (err instanceof TooLarge) tooLarge(res);
      else res.destroy();
    },
  );
}

function tooLarge(res: ServerResponse): void {
  // The rest of the body is not read: close the connection after the answer.
  res.shouldKeepAlive = false;
  sendText(res, 413, TOO_LARGE, ['Connection', 'close']);
}

async function serve(relay: Relay, ep: Endpoint, method: string, q: Query, req: IncomingMessage, res: ServerResponse, body: Buffer): Promise<void> {
  const h = req.headers;
  if (!authorized(relay.auth, ep.id, h.authorization, h['x-hub-signature-256'] as string | undefined, body)) {
    sendText(res, 403, ACCESS_DENIED);
    return;
  }
  try {
    await dispatch(relay, ep, method, q, req, res, body);
  } catch (err) {
    if (isUnavailable(err)) {
      sendText(res, 503, UNAVAILABLE, ['Retry-After', '1']);
      return;
    }
    relay.log.error({ err, endpoint: ep.kind }, 'relay request failed');
    if (!res.headersSent) sendText(res, 500, 'Internal Server Error');
    else res.destroy();
  }
}

/** An AbortSignal that fires when the client goes away before the answer. */
function clientGone(res: ServerResponse): AbortSignal {
  const ac = new AbortController();
  const onClose = (): void => {
    if (!res.writableFinished) ac.abort();
  };
  res.once('close', onClose);
  return ac.signal;
}

function sendMessage(relay: Relay, res: ServerResponse, m: Message | null, headOnly = false): void {
  if (m === null) sendEmpty(res, 204);
  else sendBody(res, m.body, m.ct || relay.cfg.defaultContentType, ['X-Message-Id', m.id], headOnly);
}

function sendReply(relay: Relay, res: ServerResponse, r: ReplyData | null): void {
  if (r === null) sendEmpty(res, 204);
  else sendBody(res, r.body, r.ct || relay.cfg.defaultContentType, [], false);
}

async function dispatch(relay: Relay, ep: Endpoint, method: string, q: Query, req: IncomingMessage, res: ServerResponse, body: Buffer): Promise<void> {
  const { store, cfg } = relay;
  switch (ep.kind) {
    case 'tunnel': {
      if (method === 'POST') {
        const bp = backpressure(q.limit, cfg.tunnelMaxlen, cfg.backpressure);
        if (bp === null) return sendText(res, 400, LIMIT_TOO_BIG);
        const r = await store.produce(ep.id, body, contentType(req), bp);
        if (!r.ok) return sendText(res, 507, QUEUE_FULL, ['X-Queue-Size', String(r.size)]);
        return sendEmpty(res, 201, bp.on ? ['X-Message-Id', r.id, 'X-Queue-Size', String(r.size)] : ['X-Message-Id', r.id]);
      }
      return sendMessage(relay, res, await store.consume(ep.id, q.pending));
    }
    case 'poll': {
      const ms = pollTimeoutMs(q.timeout, cfg.defaultPollTimeout, cfg.maxPollTimeout);
      const m = ms <= 0 ? await store.consume(ep.id, q.pending) : await store.poll(ep.id, q.pending, ms, clientGone(res));
      return sendMessage(relay, res, m);
    }
    case 'len':
      return sendEmpty(res, 204, ['X-Queue-Size', String(await store.length(ep.id))]);
    case 'all':
      await store.clear(ep.id);
      return sendEmpty(res, 204, ['X-Queue-Size', '0']);
    case 'message': {
      if (method === 'DELETE') {
        await store.ack(ep.id, ep.mid);
        return sendEmpty(res, 204);
      }
      const st = await store.state(ep.id, ep.mid);
      return st === 204 ? sendEmpty(res, 204) : sendEmpty(res, st);
    }
    case 'reply': {
      if (method === 'POST') {
        const r = await store.reply(ep.id, ep.mid, body, contentType(req));
        if (r === 'cap') return sendText(res, 507, QUEUE_FULL, ['X-Queue-Size', String(await store.length(ep.id))]);
        return sendEmpty(res, r === 'stored' ? 201 : 204);
      }
      return sendReply(relay, res, await store.readReply(ep.id, ep.mid));
    }
    case 'replyPoll': {
      const ms = pollTimeoutMs(q.timeout, cfg.defaultPollTimeout, cfg.maxPollTimeout);
      const r = ms <= 0 ? await store.readReply(ep.id, ep.mid) : await store.pollReply(ep.id, ep.mid, ms, clientGone(res));
      return sendReply(relay, res, r);
    }
  }
}

function contentType(req: IncomingMessage): string {
  const ct = req.headers['content-type'];
  return ct === undefined ? '' : ct;
}
