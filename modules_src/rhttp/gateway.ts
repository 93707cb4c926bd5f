// SPDX-License-Identifier: LGPL-3.0-or-later
/**
 * The gateway's state and its work: the two Redis connections (one to
 * publish, one subscribed to RESPONSE_PIPE, REJECT_PIPE and
 * ACKNOWLEDGE_PIPE), the heartbeat, the live services and the requests in
 * flight.
 *
 * The state is plain data kept with `ctx.keep`, so it outlives a RELOAD of
 * the module; the functions are each version's own. The connections and
 * their states (link.ts) are watched by one version at a time.
 */
import { STATUS_CODES, type IncomingMessage, type ServerResponse } from 'node:http';
import type { Redis } from 'ioredis';
import { answerTooLarge, BodyTooLargeError, readBodyCallback, type Logger } from '../../shared/index.ts';
import type { RhttpOptions } from './config.ts';
import { forwardTarget } from './config.ts';
import { isLost, recordAck, sweep, type Registry } from './registry.ts';
import { newInstancePrefix, ownsId, serializeRequest } from './request.ts';
import { parseResponse, rejectId, responseIds } from './response.ts';

export const CHANNELS = {
  request: 'REQUEST_PIPE',
  response: 'RESPONSE_PIPE',
  heartbeat: 'HEARTBEAT',
  acknowledge: 'ACKNOWLEDGE_PIPE',
  reject: 'REJECT_PIPE',
} as const;

export const BODIES = {
  noBroker: '{"err":"no broker: start hrmr with --redis redis://HOST:PORT"}',
  brokerDown: '{"err":"Broker unavailable"}',
  lost: '{"err":"Lost request"}',
  timeout: '{"err":"Request timeout"}',
  badResponse: '{"err":"Bad response from service"}',
  tooLarge: '{"err":"Request body too large"}',
} as const;

/** A request waiting for its answer. */
export interface Pending {
  readonly id: string;
  readonly res: ServerResponse;
  /** Services that could answer: the live ones when it was published (lowered to the number of receivers). */
  liveAtPublish: number;
  rejections: number;
  timer: NodeJS.Timeout | null;
}

export interface Stats {
  requests: number;
  answered: number;
  /** 418 because every live service rejected. */
  rejected: number;
  /** 418 because no live service was known (or the last ones were dropped). */
  lost: number;
  timedOut: number;
  badResponses: number;
  brokerUnavailable: number;
  tooLarge: number;
  /** Responses for ids of this gateway that were no longer waiting (late, or a second answer). */
  lateResponses: number;
  /** Rejections received for this gateway's requests. */
  rejections: number;
}

/**
 * The broker link: `starting` until both connections are first ready and
 * subscribed; `ready`; `blip` when a connection dropped and is coming back
 * (requests in flight stay pending, new ones are held); `down` when Redis is
 * unreachable (a reconnection failed, or the blip outlasted its grace):
 * requests get 503.
 */
export type Link = 'starting' | 'ready' | 'blip' | 'down';

/** A request that arrived during a blip, published once the link is back. */
export interface Held {
  readonly res: ServerResponse;
  readonly run: () => void;
}

/** Longest a blip may last before Redis counts as unreachable (a reconnect takes about 50 ms); also how long after one a request that reached no service is published again. */
export const BLIP_GRACE_MS = 2000;

/** Most requests held during a blip (more get 503). */
export const MAX_HELD = 10_000;

/** Everything that survives a reload (see the file comment). */
export interface State {
  url: string | null;
  pub: Redis | null;
  sub: Redis | null;
  /** The subscriber has its SUBSCRIBE confirmed since its last (re)connect. */
  subscribed: boolean;
  link: Link;
  /** Requests waiting for a blip to end. */
  held: Held[];
  /** Ends a blip that lasts too long (the link goes down). */
  grace: NodeJS.Timeout | null;
  /** When the last blip ended (ms since the epoch; 0: none yet). */
  blipEnded: number;
  /** X-Socket-ID prefix of this process (see request.ts). */
  readonly prefix: string;
  counter: number;
  readonly services: Registry;
  readonly pending: Map<string, Pending>;
  readonly stats: Stats;
  beat: NodeJS.Timeout | null;
  /** The version currently listening, and how to make it stop. */
  owner: symbol | null;
  detach: (() => void) | null;
  /** Set by the owner: closes everything with the newest version's code (the kept disposer calls it). */
  shutdown: (() => void) | null;
}

export function newState(): State {
  return {
    url: null,
    pub: null,
    sub: null,
    subscribed: false,
    link: 'starting',
    held: [],
    grace: null,
    blipEnded: 0,
    prefix: newInstancePrefix(),
    counter: 0,
    services: new Map(),
    pending: new Map(),
    stats: { requests: 0, answered: 0, rejected: 0, lost: 0, timedOut: 0, badResponses: 0, brokerUnavailable: 0, tooLarge: 0, lateResponses: 0, rejections: 0 },
    beat: null,
    owner: null,
    detach: null,
    shutdown: null,
  };
}

/** The version-specific parts every function needs. */
export interface Env {
  readonly opts: RhttpOptions;
  readonly log: Logger;
}

export function brokerReady(st: State): boolean {
  return st.subscribed && st.pub !== null && st.pub.status === 'ready' && st.sub !== null && st.sub.status === 'ready';
}

/** A URL fit for logs and STATUS: the password replaced. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return 'redis://?';
  }
}

// ---------------------------------------------------------------------------
// Answers

export function answerJson(res: ServerResponse, env: Env, status: number, body: string): void {
  if (res.headersSent || res.destroyed) {
    if (!res.writableEnded) res.destroy();
    return;
  }
  const headers: string[] = ['Content-Type', 'application/json', 'Content-Length', String(Buffer.byteLength(body))];
  if (env.opts.serverName !== null) headers.push('Server', env.opts.serverName);
  res.writeHead(status, STATUS_CODES[status] ?? 'Unknown', headers);
  res.end(body);
}

/** Removes a request from the waiting set; false if it was no longer waiting. */
function take(st: State, p: Pending): boolean {
  if (st.pending.get(p.id) !== p) return false;
  st.pending.delete(p.id);
  if (p.timer !== null) clearTimeout(p.timer);
  p.timer = null;
  return true;
}

function finishJson(st: State, env: Env, p: Pending, status: number, body: string): void {
  if (take(st, p)) answerJson(p.res, env, status, body);
}

function onTimeout(st: State, env: Env, p: Pending): void {
  if (!take(st, p)) return;
  st.stats.timedOut++;
  answerJson(p.res, env, 408, BODIES.timeout);
}

/** Every request still waiting, or held, gets 503 (the broker is unreachable: no answer can arrive). */
export function failAll(st: State, env: Env): void {
  for (const p of [...st.pending.values()]) {
    st.stats.brokerUnavailable++;
    finishJson(st, env, p, 503, BODIES.brokerDown);
  }
  for (const h of st.held.splice(0)) {
    if (h.res.destroyed || h.res.headersSent) continue;
    st.stats.brokerUnavailable++;
    answerJson(h.res, env, 503, BODIES.brokerDown);
  }
}

/** The link is back: the held requests are published now, in order. */
export function releaseHeld(st: State): void {
  for (const h of st.held.splice(0)) if (!h.res.destroyed) h.run();
}

// ---------------------------------------------------------------------------
// Requests

/** Publishes one request (body already read) and waits for its answer. */
export function forward(st: State, env: Env, req: IncomingMessage, res: ServerResponse, body: Buffer): void {
  if (res.destroyed) return;
  if (!brokerReady(st)) {
    // A blip (a connection dropped, reconnecting): wait for it rather than fail.
    if (st.link === 'blip' && st.held.length < MAX_HELD) {
      st.held.push({ res, run: () => forward(st, env, req, res, body) });
      return;
    }
    st.stats.brokerUnavailable++;
    answerJson(res, env, 503, BODIES.brokerDown);
    return;
  }
  const live = st.services.size;
  if (live === 0) {
    st.stats.lost++;
    answerJson(res, env, 418, BODIES.lost);
    return;
  }
  const id = st.prefix + String(++st.counter);
  const payload = serializeRequest({ method: req.method ?? 'GET', target: forwardTarget(req.url ?? '/', env.opts.mount, env.opts.strip), rawHeaders: req.rawHeaders, body, id });
  const p: Pending = { id, res, liveAtPublish: live, rejections: 0, timer: null };
  p.timer = setTimeout(onTimeout, env.opts.timeoutMs, st, env, p);
  st.pending.set(id, p);
  res.once('close', () => {
    // The client went away before its answer: forget the request (a late answer is dropped).
    take(st, p);
  });
  publish(st, env, p, payload);
}

/**
 * Publishes a waiting request. Reaching no receiver just after a blip means
 * the services are still resubscribing (Redis dropped their subscribers
 * too): nobody got it, so it is published again shortly, within the grace.
 */
function publish(st: State, env: Env, p: Pending, payload: Buffer | string): void {
  const id = p.id;
  st.pub!.publish(CHANNELS.request, payload).then(
    (receivers) => {
      if (st.pending.get(id) !== p) return;
      if (receivers === 0 && st.services.size > 0 && Date.now() - (st.blipEnded ?? 0) < BLIP_GRACE_MS) {
        setTimeout(() => {
          if (st.pending.get(id) !== p) return;
          if (brokerReady(st)) publish(st, env, p, payload);
          else if (st.link === 'blip') st.held.push({ res: p.res, run: () => publish(st, env, p, payload) });
          else {
            st.stats.brokerUnavailable++;
            finishJson(st, env, p, 503, BODIES.brokerDown);
          }
        }, 50);
        return;
      }
      if (receivers < p.liveAtPublish) p.liveAtPublish = receivers;
      if (isLost(p.rejections, p.liveAtPublish, st.services.size)) {
        st.stats.lost++;
        finishJson(st, env, p, 418, BODIES.lost);
      }
    },
    (err: unknown) => {
      if (st.pending.get(id) !== p) return;
      env.log.debug({ err: String(err) }, 'rhttp: publish failed');
      st.stats.brokerUnavailable++;
      finishJson(st, env, p, 503, BODIES.brokerDown);
    },
  );
}

/**
 * Reads the whole body (at most `max` bytes) with the kit's reader, then
 * calls `done`; a body over `max` is answered 413 (rhttp's JSON) and the
 * connection closed, the rest unread.
 */
export function readBody(st: State, env: Env, req: IncomingMessage, res: ServerResponse, done: (body: Buffer) => void): void {
  readBodyCallback(req, { max: env.opts.maxBody }, (err, body) => {
    if (err === null) return done(body!);
    // Aborted: the client is gone, nothing to answer.
    if (!(err instanceof BodyTooLargeError)) return;
    st.stats.tooLarge++;
    answerTooLarge(res, { body: BODIES.tooLarge, type: 'application/json', headers: env.opts.serverName === null ? undefined : { Server: env.opts.serverName } });
  });
}


// ---------------------------------------------------------------------------
// Messages from the services

function onResponse(st: State, env: Env, msg: Buffer): void {
  const ids = responseIds(msg);
  if (ids.length === 0) {
    env.log.warn({ head: msg.toString('latin1', 0, Math.min(msg.length, 200)) }, 'rhttp: response without X-Socket-ID dropped');
    return;
  }
  const id = ids[0]!;
  if (ids.some((x) => x !== id)) {
    // Malformed, and the first id may be another gateway's: every waiting request of ours it names gets 502.
    for (const x of new Set(ids)) {
      const p = ownsId(st.prefix, x) ? st.pending.get(x) : undefined;
      if (p === undefined) continue;
      st.stats.badResponses++;
      env.log.warn({ id: x, error: 'two different X-Socket-ID headers', head: msg.toString('latin1', 0, Math.min(msg.length, 200)) }, 'rhttp: malformed response from a service: 502');
      finishJson(st, env, p, 502, BODIES.badResponse);
    }
    return;
  }
  // Another gateway's request (several hrmr servers, or the original, on one Redis).
  if (!ownsId(st.prefix, id)) return;
  const p = st.pending.get(id);
  if (p === undefined) {
    st.stats.lateResponses++;
    env.log.debug({ id }, 'rhttp: response for a request no longer waiting dropped');
    return;
  }
  const parsed = parseResponse(msg);
  if (!parsed.ok) {
    st.stats.badResponses++;
    env.log.warn({ id, error: parsed.error, head: msg.toString('latin1', 0, Math.min(msg.length, 200)) }, 'rhttp: malformed response from a service: 502');
    finishJson(st, env, p, 502, BODIES.badResponse);
    return;
  }
  take(st, p);
  const r = parsed.response;
  const res = p.res;
  if (res.destroyed || res.headersSent) return;
  const headers: string[] = [];
  for (const [n, v] of r.headers) headers.push(n, v);
  const noBody = r.status === 204 || r.status === 304;
  if (!noBody) headers.push('Content-Length', String(r.body.length));
  try {
    res.writeHead(r.status, STATUS_CODES[r.status] ?? 'Unknown', headers);
  } catch (err) {
    st.stats.badResponses++;
    env.log.warn({ id, error: String(err) }, 'rhttp: response headers refused: 502');
    answerJson(res, env, 502, BODIES.badResponse);
    return;
  }
  st.stats.answered++;
  if (noBody) res.end();
  else res.end(r.body);
}

function onReject(st: State, env: Env, msg: Buffer): void {
  const id = rejectId(msg);
  if (!ownsId(st.prefix, id)) return;
  const p = st.pending.get(id);
  if (p === undefined) return;
  st.stats.rejections++;
  p.rejections++;
  if (isLost(p.rejections, p.liveAtPublish, st.services.size)) {
    st.stats.rejected++;
    finishJson(st, env, p, 418, BODIES.lost);
  }
}

function onAck(st: State, env: Env, msg: Buffer): void {
  const r = recordAck(st.services, msg.toString('utf8'), Date.now());
  if (r === null) env.log.warn({ payload: msg.toString('utf8', 0, Math.min(msg.length, 100)) }, 'rhttp: acknowledgement without a service name ignored');
  else if (r !== 'seen') env.log.info({ service: r.name, description: r.description }, 'rhttp service joined');
}

export function onMessage(st: State, env: Env, channel: Buffer, msg: Buffer): void {
  const ch = channel.toString('latin1');
  if (ch === CHANNELS.response) onResponse(st, env, msg);
  else if (ch === CHANNELS.reject) onReject(st, env, msg);
  else if (ch === CHANNELS.acknowledge) onAck(st, env, msg);
}

// ---------------------------------------------------------------------------
// Heartbeat

/** Drops services silent for too long (their waiting requests may become lost), then publishes BEAT. */
export function tick(st: State, env: Env, now = Date.now()): void {
  // Not subscribed, services cannot be heard: nobody is judged on that time.
  const dropped = st.link === 'ready' ? sweep(st.services, now, env.opts.heartbeatMs * env.opts.deadBeats) : [];
  for (const s of dropped) env.log.info({ service: s.name, lastAck: new Date(s.lastAck).toISOString() }, 'rhttp service left');
  if (dropped.length > 0) recheck(st, env);
  if (brokerReady(st)) st.pub!.publish(CHANNELS.heartbeat, 'BEAT').catch(() => undefined);
}

/** After services were dropped: requests that can no longer be answered get 418 now. */
function recheck(st: State, env: Env): void {
  const live = st.services.size;
  for (const p of [...st.pending.values()]) {
    if (isLost(p.rejections, p.liveAtPublish, live)) {
      st.stats.lost++;
      finishJson(st, env, p, 418, BODIES.lost);
    }
  }
}

/** What STATUS shows. */
export function statusOf(st: State | null, opts: RhttpOptions | null): unknown {
  if (st === null || opts === null) return { broker: 'not set up' };
  return {
    mount: opts.mount,
    strip: opts.strip,
    broker: opts.redis === null ? 'none (start hrmr with --redis)' : brokerReady(st) ? 'connected' : st.link === 'blip' ? 'reconnecting' : 'unavailable',
    held: st.held?.length ?? 0,
    redis: opts.redis === null ? null : redactUrl(opts.redis),
    instance: st.prefix,
    services: [...st.services.values()].map((s) => ({ name: s.name, description: s.description, lastAck: new Date(s.lastAck).toISOString(), since: new Date(s.since).toISOString() })),
    inFlight: st.pending.size,
    ...st.stats,
  };
}
