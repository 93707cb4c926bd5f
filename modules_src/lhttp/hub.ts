// SPDX-License-Identifier: LGPL-3.0-or-later
/**
 * The lhttp engine: connections, the per-message order of the spec, the bus
 * (in memory, plus Redis pub/sub across servers). Upstream requests are in
 * upstream.ts, pings in heartbeat.ts.
 *
 * Hot reload: everything that must outlive a version is in one plain
 * {@link State} object kept with `ctx.keep`. Event listeners (WebSocket,
 * Redis) are thin trampolines that call `state.impl.*`, and each version's
 * setup points `state.impl` at its own functions, so sockets and
 * subscriptions opened under an old version run the current code.
 */
import { randomBytes } from 'node:crypto';
import { isUtf8 } from 'node:buffer';
import type { Duplex } from 'node:stream';
import type { Redis as RedisClient } from 'ioredis';
import type { WebSocket, WebSocketServer } from 'ws';
import type { Logger } from '../../shared/index.ts';
import type { LhttpOptions } from './config.ts';
import { fromText, parseMessage, parseMultipart, serialize, splitChannels, toText, type Message, type Part } from './message.ts';
import { registry, type LhttpContext, type LhttpPart, type Processor } from './processors.ts';
import { isWildcard, matchTokens, tokens, toGlob, validPattern, validSubject } from './subjects.ts';
import { heartbeat } from './heartbeat.ts';
import { upstream } from './upstream.ts';
import { warnLimited } from './warn.ts';

export { warnLimited };

export interface Conn {
  readonly id: number;
  readonly ws: WebSocket;
  /** The upgraded socket under `ws` (corked while a batch of sends is written). */
  readonly socket: Duplex;
  corked: boolean;
  readonly remoteAddress: string;
  /** Patterns this connection is subscribed to. */
  readonly subs: Set<string>;
  /** onOpen has run (on the first message). */
  opened: boolean;
  /** The last message, kept only when its processor has an onClose. */
  last: Message | null;
  /** An async processor is running: frames wait in `queue`. */
  busy: boolean;
  readonly queue: Array<{ data: Buffer; isBinary: boolean }>;
  paused: boolean;
  closed: boolean;
  readonly data: Record<string, unknown>;
  /** Answered (a pong, or any frame) since the last ping round. */
  alive: boolean;
  /** An `upstream` of this connection was refused (logged once per connection). */
  upstreamRefused: boolean;
}

interface Wild {
  readonly tokens: string[];
  readonly subs: Set<Conn>;
  readonly glob: string;
}

export interface Stats {
  connectionsTotal: number;
  framesIn: number;
  messagesIn: number;
  messagesOut: number;
  published: number;
  httpPublished: number;
  ignored: { short: number; notLhttp: number; noCrlf: number; oversized: number; invalidUtf8: number };
  badMultipart: number;
  badChannels: number;
  cappedSubscriptions: number;
  cappedChannels: number;
  droppedSlowConsumers: number;
  processorErrors: number;
  processorTimeouts: number;
  /** Frames dropped because an async processor held the connection and 1024 frames were waiting. */
  droppedWhileBusy: number;
  /** Connections cut for not answering a ping. */
  deadPeers: number;
  upstream: { sent: number; ok: number; failed: number; dropped: number; refused: number };
}

export interface RedisBus {
  readonly url: string;
  readonly prefix: string;
  readonly origin: Buffer;
  readonly pub: RedisClient;
  readonly sub: RedisClient;
  pubUp: boolean;
  subUp: boolean;
  /** The bus is in an outage (logged once). */
  down: boolean;
  outages: number;
  droppedWhileDown: number;
  dropped: number;
  published: number;
  received: number;
  /** Glob -> wildcard patterns using it (several patterns may share a glob). */
  readonly globs: Map<string, Set<string>>;
}

export interface State {
  readonly schema: 1;
  options: LhttpOptions;
  log: Logger;
  impl: Impl;
  /** Created with the first upgrade (ws loads then), kept across reloads. */
  wss: WebSocketServer | null;
  readonly conns: Set<Conn>;
  nextId: number;
  readonly exact: Map<string, Set<Conn>>;
  readonly wild: Map<string, Wild>;
  readonly stats: Stats;
  redis: RedisBus | null;
  upstreamInFlight: number;
  /** Connections corked in this tick: uncorked together once the current I/O callback is done. */
  corked: Conn[];
  flushScheduled: boolean;
  /** Rate-limited warnings: kind -> last time logged and how many were suppressed since. */
  readonly warned: Map<string, { at: number; suppressed: number }>;
  /** The one ping timer for every connection (see heartbeat.ts), and its interval. */
  pingTimer: ReturnType<typeof setInterval> | null;
  pingEvery: number;
}

/** The current version's entry points (what the trampolines call). */
export interface Impl {
  onFrame(state: State, conn: Conn, data: Buffer, isBinary: boolean): void;
  onClose(state: State, conn: Conn): void;
  onRedisMessage(state: State, channel: Buffer, message: Buffer): void;
  onRedisPMessage(state: State, glob: string, channel: Buffer, message: Buffer): void;
  onRedisStatus(state: State, which: 'pub' | 'sub', up: boolean, err?: Error): void;
  flush(state: State): void;
  heartbeat(state: State): void;
}

export const impl: Impl = { onFrame, onClose, onRedisMessage, onRedisPMessage, onRedisStatus, flush, heartbeat };

export function newStats(): Stats {
  return {
    connectionsTotal: 0,
    framesIn: 0,
    messagesIn: 0,
    messagesOut: 0,
    published: 0,
    httpPublished: 0,
    ignored: { short: 0, notLhttp: 0, noCrlf: 0, oversized: 0, invalidUtf8: 0 },
    badMultipart: 0,
    badChannels: 0,
    cappedSubscriptions: 0,
    cappedChannels: 0,
    droppedSlowConsumers: 0,
    processorErrors: 0,
    processorTimeouts: 0,
    droppedWhileBusy: 0,
    deadPeers: 0,
    upstream: { sent: 0, ok: 0, failed: 0, dropped: 0, refused: 0 },
  };
}

/**
 * Brings a state kept by an older version up to this version's shape (a
 * RELOAD keeps the object; new fields get their defaults, nothing is lost).
 */
export function migrate(state: State): void {
  const fresh = newStats() as unknown as Record<string, unknown>;
  const stats = state.stats as unknown as Record<string, unknown>;
  for (const k of Object.keys(fresh)) if (!(k in stats)) stats[k] = fresh[k];
  state.stats.upstream.refused ??= 0;
  const s = state as unknown as Partial<State>;
  s.corked ??= [];
  s.flushScheduled ??= false;
  s.pingTimer ??= null;
  s.pingEvery ??= 0;
  for (const c of state.conns) {
    const p = c as Partial<Conn>;
    p.alive ??= true;
    p.upstreamRefused ??= false;
  }
}

const TEXT = { binary: false } as const;

// ---------------------------------------------------------------- connections

/** Wires a freshly upgraded WebSocket into the state. */
export function attach(state: State, ws: WebSocket, socket: Duplex, remoteAddress: string): Conn {
  const conn: Conn = {
    id: ++state.nextId,
    ws,
    socket,
    corked: false,
    remoteAddress,
    subs: new Set(),
    opened: false,
    last: null,
    busy: false,
    queue: [],
    paused: false,
    closed: false,
    data: {},
    alive: true,
    upstreamRefused: false,
  };
  state.conns.add(conn);
  state.stats.connectionsTotal++;
  // Trampolines: always the current version's code.
  ws.on('message', (data: Buffer, isBinary: boolean) => state.impl.onFrame(state, conn, data, isBinary));
  ws.on('close', () => state.impl.onClose(state, conn));
  ws.on('pong', () => (conn.alive = true));
  ws.on('error', () => undefined); // protocol errors: ws closes the connection itself ('close' follows)
  return conn;
}

function onClose(state: State, conn: Conn): void {
  if (conn.closed) return;
  conn.closed = true;
  conn.queue.length = 0;
  for (const p of conn.subs) removeSub(state, conn, p);
  conn.subs.clear();
  state.conns.delete(conn);
  const last = conn.last;
  conn.last = null;
  if (last !== null) {
    const proc = processorFor(last.command);
    if (proc?.onClose) void settle(state, callHook(state, proc, 'onClose', makeContext(state, conn, last, null)));
  }
}

/** Closes a connection whose unsent output passed max_buffered. */
function slowConsumer(state: State, conn: Conn): void {
  if (conn.closed) return;
  state.stats.droppedSlowConsumers++;
  // No more deliveries: drop its subscriptions now, not when the close completes.
  for (const p of conn.subs) removeSub(state, conn, p);
  conn.subs.clear();
  warnLimited(state, 'slow', { conn: conn.id, peer: conn.remoteAddress, buffered: conn.ws.bufferedAmount, limit: state.options.maxBuffered }, 'lhttp slow consumer closed (1008): send buffer over lhttp.max_buffered');
  conn.ws.close(1008, 'slow consumer');
}

/** Queues a frame; the send buffer is checked against max_buffered when the tick's writes are flushed. */
function sendTo(state: State, conn: Conn, payload: Buffer): void {
  const ws = conn.ws;
  if (conn.closed || ws.readyState !== 1) return;
  // Frames sent to one connection in the same tick (a publisher's burst) leave in one write.
  if (!conn.corked) {
    conn.corked = true;
    conn.socket.cork();
    state.corked.push(conn);
    if (!state.flushScheduled) {
      state.flushScheduled = true;
      process.nextTick(state.impl.flush, state);
    }
  }
  ws.send(payload, TEXT);
  state.stats.messagesOut++;
}

function flush(state: State): void {
  state.flushScheduled = false;
  const list = state.corked;
  state.corked = [];
  const max = state.options.maxBuffered;
  for (const conn of list) {
    conn.corked = false;
    conn.socket.uncork();
    // What the kernel did not take stays in user space: past the cap, the peer is not reading.
    if (!conn.closed && conn.ws.bufferedAmount > max) slowConsumer(state, conn);
  }
}

// ---------------------------------------------------------------- frames

function onFrame(state: State, conn: Conn, data: Buffer, isBinary: boolean): void {
  state.stats.framesIn++;
  if (conn.closed) return;
  conn.alive = true;
  if (conn.busy) {
    // Bounded: reading is paused at 16, but one socket read may still hold many frames.
    if (conn.queue.length >= 1024) {
      state.stats.droppedWhileBusy++;
      return;
    }
    conn.queue.push({ data, isBinary });
    if (conn.queue.length >= 16 && !conn.paused) {
      conn.paused = true;
      conn.ws.pause();
    }
    return;
  }
  const r = guarded(state, conn, data, isBinary);
  if (r !== undefined) waitThenDrain(state, conn, r);
}

/** handleFrame, and should it ever throw (a bug), the connection is closed (1011) and the server carries on. */
function guarded(state: State, conn: Conn, data: Buffer, isBinary: boolean): Promise<void> | undefined {
  try {
    return handleFrame(state, conn, data, isBinary);
  } catch (err) {
    warnLimited(state, 'internal', { conn: conn.id, err: err instanceof Error ? err.stack : String(err) }, 'lhttp internal error: connection closed');
    if (conn.ws.readyState === 1) conn.ws.close(1011, 'internal error');
    return undefined;
  }
}

/** An async processor is running: hold the connection's next frames until it is done. */
function waitThenDrain(state: State, conn: Conn, p: Promise<void>): void {
  conn.busy = true;
  const failed = (err: unknown): void => warnLimited(state, 'internal', { conn: conn.id, err: err instanceof Error ? err.stack : String(err) }, 'lhttp internal error after a processor');
  void p.catch(failed).then(() => {
    conn.busy = false;
    while (!conn.closed && !conn.busy && conn.queue.length > 0) {
      const f = conn.queue.shift()!;
      const r = guarded(state, conn, f.data, f.isBinary);
      if (r !== undefined) {
        waitThenDrain(state, conn, r);
        return;
      }
    }
    if (conn.paused && !conn.closed) {
      conn.paused = false;
      conn.ws.resume();
    }
  });
}

/** Handles one frame; returns a promise when an async processor must finish first. */
export function handleFrame(state: State, conn: Conn, data: Buffer, isBinary: boolean): Promise<void> | undefined {
  const st = state.stats;
  if (data.length > state.options.maxFrame) {
    st.ignored.oversized++;
    return;
  }
  if (isBinary && !isUtf8(data)) {
    // Forwarded as a text frame it would break every browser that receives it.
    st.ignored.invalidUtf8++;
    return;
  }
  const msg = parseMessage(data.toString('latin1'));
  if (typeof msg === 'string') {
    if (msg === 'short') st.ignored.short++;
    else if (msg === 'not-lhttp') st.ignored.notLhttp++;
    else st.ignored.noCrlf++;
    return;
  }
  st.messagesIn++;
  // 1. multipart
  let parts: Part[] | null = null;
  const mp = msg.headers.get('multipart');
  if (mp !== undefined) {
    const r = parseMultipart(mp, msg.body);
    if (typeof r === 'string') {
      st.badMultipart++;
      warnLimited(state, 'multipart', { conn: conn.id, error: r }, 'lhttp bad multipart header ignored');
      parts = [];
    } else parts = r;
  }
  // 2. the command's processor
  const proc = processorFor(msg.command);
  if (proc === null) {
    conn.opened = true;
    conn.last = null;
    afterProcessor(state, conn, msg, null);
    return;
  }
  const c = makeContext(state, conn, msg, parts);
  conn.last = proc.onClose ? msg : null;
  let pending: unknown;
  if (!conn.opened) {
    conn.opened = true;
    pending = callHook(state, proc, 'onOpen', c);
  }
  if (!isThenable(pending)) {
    pending = callHook(state, proc, 'onMessage', c);
    if (!isThenable(pending)) {
      afterProcessor(state, conn, msg, c);
      return;
    }
    return settle(state, pending).then(() => afterProcessor(state, conn, msg, c));
  }
  return settle(state, pending)
    .then(() => settle(state, callHook(state, proc, 'onMessage', c)))
    .then(() => afterProcessor(state, conn, msg, c));
}

/** Steps 3 to 6: subscribe, publish, unsubscribe, upstream. */
function afterProcessor(state: State, conn: Conn, msg: Message, c: Ctx | null): void {
  const h = msg.headers;
  const sub = h.get('subscribe');
  if (sub !== undefined && !conn.closed) for (const ch of capChannels(state, conn, sub)) subscribe(state, conn, ch);
  const pub = h.get('publish');
  if (pub !== undefined) {
    const channels = capChannels(state, conn, pub);
    if (channels.length > 0) {
      const command = c?.replyCommand ?? msg.command;
      const headers = c?.replyHeaders ?? h;
      const payload = Buffer.from(serialize(command, headers, msg.body), 'latin1');
      for (const ch of channels) publishPayload(state, ch, payload);
    }
  }
  const unsub = h.get('unsubscribe');
  if (unsub !== undefined) for (const ch of capChannels(state, conn, unsub)) unsubscribe(state, conn, ch);
  const up = h.get('upstream');
  if (up !== undefined) upstream(state, conn, msg, up);
}

function capChannels(state: State, conn: Conn, value: string): string[] {
  const list = splitChannels(value);
  if (list.length <= state.options.maxChannels) return list;
  state.stats.cappedChannels++;
  warnLimited(state, 'channels', { conn: conn.id, channels: list.length, limit: state.options.maxChannels }, 'lhttp header names too many channels: the extra ones are ignored');
  return list.slice(0, state.options.maxChannels);
}

// ---------------------------------------------------------------- processors

function processorFor(command: string): Processor | null {
  return registry().processors.get(command)?.processor ?? null;
}

function isThenable(x: unknown): x is PromiseLike<unknown> {
  return x !== null && typeof x === 'object' && typeof (x as { then?: unknown }).then === 'function';
}

function callHook(state: State, proc: Processor, hook: 'onOpen' | 'onMessage' | 'onClose', c: Ctx): unknown {
  const fn = proc[hook];
  if (typeof fn !== 'function') return undefined;
  try {
    const r: unknown = fn.call(proc, c);
    if (isThenable(r)) {
      return Promise.resolve(r).catch((err: unknown) => processorError(state, c, hook, err));
    }
    return r;
  } catch (err) {
    processorError(state, c, hook, err);
    return undefined;
  }
}

function processorError(state: State, c: Ctx, hook: string, err: unknown): void {
  state.stats.processorErrors++;
  warnLimited(state, `proc:${c.getCommand()}:${hook}`, { command: c.getCommand(), hook, conn: c.connId, err: err instanceof Error ? err.message : String(err) }, 'lhttp processor failed; the message carries on');
}

/** Waits for an async hook, at most processor_timeout ms. */
function settle(state: State, p: unknown): Promise<void> {
  if (!isThenable(p)) return Promise.resolve();
  return new Promise<void>((resolve) => {
    const t = setTimeout(() => {
      state.stats.processorTimeouts++;
      warnLimited(state, 'proc-timeout', { ms: state.options.processorTimeout }, 'lhttp processor took longer than lhttp.processor_timeout; the connection moves on');
      resolve();
    }, state.options.processorTimeout);
    void Promise.resolve(p).then(
      () => (clearTimeout(t), resolve()),
      () => (clearTimeout(t), resolve()),
    );
  });
}

function names(channels: string | readonly string[]): string[] {
  return typeof channels === 'string' ? splitChannels(channels) : channels.filter((c) => typeof c === 'string' && c !== '');
}

function headerRecord(h: Map<string, string>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of h) out[toText(k)] = toText(v);
  return out;
}

/** The processor context (see LhttpContext). Byte strings inside, text outside. */
class Ctx implements LhttpContext {
  replyCommand: string | null = null;
  replyHeaders: Map<string, string> | null = null;
  constructor(
    private readonly state: State,
    private readonly conn: Conn,
    private readonly msg: Message,
    private readonly parts: Part[] | null,
  ) {}
  get connId(): number {
    return this.conn.id;
  }
  get remoteAddress(): string {
    return this.conn.remoteAddress;
  }
  get data(): Record<string, unknown> {
    return this.conn.data;
  }
  get log(): Logger {
    return this.state.log;
  }
  getCommand(): string {
    return toText(this.msg.command);
  }
  getHeader(key: string): string {
    const v = this.msg.headers.get(fromText(String(key)));
    return v === undefined ? '' : toText(v);
  }
  getHeaders(): Record<string, string> {
    return headerRecord(this.msg.headers);
  }
  getBody(): string {
    return toText(this.msg.body);
  }
  getMultipart(): LhttpPart[] {
    return (this.parts ?? []).map((p) => ({ headers: headerRecord(p.headers), body: toText(p.body) }));
  }
  setCommand(command: string): void {
    this.replyCommand = fromText(oneLine(command));
  }
  addHeader(key: string, value: string): void {
    const k = fromText(oneLine(key).replace(/:/g, ''));
    if (k === '') return;
    (this.replyHeaders ??= new Map()).set(k, fromText(oneLine(value)));
  }
  send(body: string): void {
    const command = this.replyCommand ?? this.msg.command;
    const headers = this.replyHeaders ?? this.msg.headers;
    this.replyCommand = null;
    this.replyHeaders = null;
    sendTo(this.state, this.conn, Buffer.from(serialize(command, headers, fromText(String(body))), 'latin1'));
  }
  publish(channels: string | readonly string[], command: string, headers: Readonly<Record<string, string>> | null, body: string): number {
    return publishMessage(this.state, channels, command, headers, body);
  }
  subscribe(channels: string | readonly string[]): void {
    for (const ch of names(channels)) subscribe(this.state, this.conn, fromText(ch));
  }
  unsubscribe(channels: string | readonly string[]): void {
    for (const ch of names(channels)) unsubscribe(this.state, this.conn, fromText(ch));
  }
  close(code = 1000, reason = ''): void {
    if (!this.conn.closed) this.conn.ws.close(code, reason);
  }
}

function oneLine(s: unknown): string {
  return String(s).replace(/[\r\n]/g, '');
}

function makeContext(state: State, conn: Conn, msg: Message, parts: Part[] | null): Ctx {
  return new Ctx(state, conn, msg, parts);
}

/** Publish from code (processors, other modules): `LHTTP/1.0 <command>`, `publish:<channels>`, headers, body. */
export function publishMessage(state: State, channels: string | readonly string[], command: string, headers: Readonly<Record<string, string>> | null, body: string): number {
  const list = names(channels).map(fromText);
  if (list.length === 0) return 0;
  const h = new Map<string, string>([['publish', list.join(' ')]]);
  for (const [k, v] of Object.entries(headers ?? {})) {
    const key = fromText(oneLine(k).replace(/:/g, ''));
    if (key !== '') h.set(key, fromText(oneLine(v)));
  }
  const payload = Buffer.from(serialize(fromText(oneLine(command)), h, fromText(String(body))), 'latin1');
  let n = 0;
  for (const ch of list) if (publishPayload(state, ch, payload)) n++;
  return n;
}

// ---------------------------------------------------------------- the bus

export function subscribe(state: State, conn: Conn, pattern: string): void {
  if (conn.closed || conn.ws.readyState !== 1 || conn.subs.has(pattern)) return;
  if (!validPattern(pattern)) {
    state.stats.badChannels++;
    return;
  }
  if (conn.subs.size >= state.options.maxSubscriptions) {
    state.stats.cappedSubscriptions++;
    warnLimited(state, 'subs', { conn: conn.id, limit: state.options.maxSubscriptions }, 'lhttp connection at lhttp.max_subscriptions: subscribe ignored');
    return;
  }
  conn.subs.add(pattern);
  if (isWildcard(pattern)) {
    let w = state.wild.get(pattern);
    if (w === undefined) {
      w = { tokens: tokens(pattern), subs: new Set(), glob: toGlob(pattern) };
      state.wild.set(pattern, w);
      redisPsubscribe(state, pattern, w.glob);
    }
    w.subs.add(conn);
  } else {
    let set = state.exact.get(pattern);
    if (set === undefined) {
      set = new Set();
      state.exact.set(pattern, set);
      redisSubscribe(state, pattern);
    }
    set.add(conn);
  }
}

export function unsubscribe(state: State, conn: Conn, pattern: string): void {
  // Unknown channels (never subscribed) are ignored: the original panics here.
  if (!conn.subs.delete(pattern)) return;
  removeSub(state, conn, pattern);
}

/** Removes conn from the pattern's subscribers (conn.subs is the caller's business). */
function removeSub(state: State, conn: Conn, pattern: string): void {
  const w = state.wild.get(pattern);
  if (w !== undefined) {
    w.subs.delete(conn);
    if (w.subs.size === 0) {
      state.wild.delete(pattern);
      redisPunsubscribe(state, pattern, w.glob);
    }
    return;
  }
  const set = state.exact.get(pattern);
  if (set !== undefined) {
    set.delete(conn);
    if (set.size === 0) {
      state.exact.delete(pattern);
      redisUnsubscribe(state, pattern);
    }
  }
}

/** Delivers a payload to local subscribers of `subject` and publishes it on Redis. False for an invalid subject. */
export function publishPayload(state: State, subject: string, payload: Buffer): boolean {
  if (!validSubject(subject)) {
    state.stats.badChannels++;
    return false;
  }
  state.stats.published++;
  deliverExact(state, subject, payload);
  if (state.wild.size > 0) for (const w of state.wild.values()) if (matchTokens(w.tokens, subject)) deliverSet(state, w.subs, payload);
  if (state.redis !== null) redisPublish(state, state.redis, subject, payload);
  return true;
}

function deliverExact(state: State, subject: string, payload: Buffer): void {
  const set = state.exact.get(subject);
  if (set !== undefined) deliverSet(state, set, payload);
}

function deliverSet(state: State, set: Set<Conn>, payload: Buffer): void {
  // A slow consumer closed during the loop removes itself from the set: Set iteration copes.
  for (const conn of set) sendTo(state, conn, payload);
}

// ---------------------------------------------------------------- Redis

/** Creates the Redis bus (two connections: publish, subscribe). Listeners trampoline through state.impl. */
export function startRedis(state: State, Redis: typeof RedisClient, url: string, prefix: string): RedisBus {
  const common = {
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    retryStrategy: (n: number) => Math.min(100 * n, 1000),
    reconnectOnError: () => false,
    lazyConnect: false,
  } as const;
  const pub = new Redis(url, { ...common, enableAutoPipelining: true, connectionName: 'hrmr-lhttp-pub' });
  const sub = new Redis(url, { ...common, autoResubscribe: false, connectionName: 'hrmr-lhttp-sub' });
  const bus: RedisBus = {
    url,
    prefix: Buffer.from(prefix, 'utf8').toString('latin1'), // a byte string, like channel names
    origin: randomBytes(8),
    pub,
    sub,
    pubUp: false,
    subUp: false,
    down: false,
    outages: 0,
    droppedWhileDown: 0,
    dropped: 0,
    published: 0,
    received: 0,
    globs: new Map(),
  };
  state.redis = bus;
  pub.on('ready', () => state.impl.onRedisStatus(state, 'pub', true));
  pub.on('close', () => state.impl.onRedisStatus(state, 'pub', false));
  pub.on('error', (err: Error) => state.impl.onRedisStatus(state, 'pub', false, err));
  sub.on('ready', () => state.impl.onRedisStatus(state, 'sub', true));
  sub.on('close', () => state.impl.onRedisStatus(state, 'sub', false));
  sub.on('error', (err: Error) => state.impl.onRedisStatus(state, 'sub', false, err));
  sub.on('messageBuffer', (ch: Buffer, msg: Buffer) => state.impl.onRedisMessage(state, ch, msg));
  sub.on('pmessageBuffer', (glob: string, ch: Buffer, msg: Buffer) => state.impl.onRedisPMessage(state, glob, ch, msg));
  // Whichever comes first, the outage of a bus that never came up is logged after a while.
  const t = setTimeout(() => {
    if (state.redis === bus && (!bus.pubUp || !bus.subUp) && !bus.down) markDown(state, bus, undefined);
  }, 2000);
  t.unref();
  return bus;
}

function markDown(state: State, bus: RedisBus, err: Error | undefined): void {
  bus.down = true;
  bus.outages++;
  bus.droppedWhileDown = 0;
  state.log.warn({ url: redact(bus.url), err: err?.message }, 'lhttp redis bus down: local delivery goes on, cross-server messages are dropped until it is back');
}

function onRedisStatus(state: State, which: 'pub' | 'sub', up: boolean, err?: Error): void {
  const bus = state.redis;
  if (bus === null) return;
  const wasUp = bus.pubUp && bus.subUp;
  if (which === 'pub') bus.pubUp = up;
  else bus.subUp = up;
  if (which === 'sub' && up) resubscribeAll(state, bus);
  const isUp = bus.pubUp && bus.subUp;
  if (isUp && bus.down) {
    bus.down = false;
    state.log.info({ url: redact(bus.url), channels: state.exact.size, patterns: state.wild.size, droppedDuringOutage: bus.droppedWhileDown }, 'lhttp redis bus back: every live channel re-subscribed');
  } else if (!isUp && (wasUp || err) && !bus.down) {
    markDown(state, bus, err);
  }
}

/** On (re)connect of the subscriber: SUBSCRIBE every live channel, PSUBSCRIBE every live pattern. */
function resubscribeAll(state: State, bus: RedisBus): void {
  bus.globs.clear();
  const chans: string[] = [];
  for (const ch of state.exact.keys()) chans.push(redisName(bus, ch));
  const globs: string[] = [];
  for (const [pattern, w] of state.wild) {
    const key = globKey(bus, w.glob);
    let set = bus.globs.get(key);
    if (set === undefined) {
      set = new Set();
      bus.globs.set(key, set);
      globs.push(redisName(bus, w.glob));
    }
    set.add(pattern);
  }
  for (let i = 0; i < chans.length; i += 1000) void bus.sub.subscribe(...chans.slice(i, i + 1000)).catch(() => undefined);
  for (let i = 0; i < globs.length; i += 1000) void bus.sub.psubscribe(...globs.slice(i, i + 1000)).catch(() => undefined);
}

/** The Redis channel (or glob) for a name: UTF-8 text (names come from UTF-8-checked frames). */
function redisName(bus: RedisBus, name: string): string {
  return Buffer.from(bus.prefix + name, 'latin1').toString();
}

/** The glob as ioredis reports it back in pmessage (UTF-8 decoded). */
function globKey(bus: RedisBus, glob: string): string {
  return Buffer.from(bus.prefix + glob, 'latin1').toString();
}

function redisSubscribe(state: State, channel: string): void {
  const bus = state.redis;
  if (bus === null || !bus.subUp) return; // resubscribeAll catches up on ready
  void bus.sub.subscribe(redisName(bus, channel)).catch(() => undefined);
}

function redisUnsubscribe(state: State, channel: string): void {
  const bus = state.redis;
  if (bus === null || !bus.subUp) return;
  void bus.sub.unsubscribe(redisName(bus, channel)).catch(() => undefined);
}

function redisPsubscribe(state: State, pattern: string, glob: string): void {
  const bus = state.redis;
  if (bus === null) return;
  const key = globKey(bus, glob);
  let set = bus.globs.get(key);
  if (set === undefined) {
    set = new Set();
    bus.globs.set(key, set);
    if (bus.subUp) void bus.sub.psubscribe(redisName(bus, glob)).catch(() => undefined);
  }
  set.add(pattern);
}

function redisPunsubscribe(state: State, pattern: string, glob: string): void {
  const bus = state.redis;
  if (bus === null) return;
  const key = globKey(bus, glob);
  const set = bus.globs.get(key);
  if (set === undefined) return;
  set.delete(pattern);
  if (set.size === 0) {
    bus.globs.delete(key);
    if (bus.subUp) void bus.sub.punsubscribe(redisName(bus, glob)).catch(() => undefined);
  }
}

function redisPublish(state: State, bus: RedisBus, subject: string, payload: Buffer): void {
  if (!bus.pubUp) {
    bus.dropped++;
    bus.droppedWhileDown++;
    return;
  }
  bus.published++;
  void bus.pub.publish(redisName(bus, subject), Buffer.concat([bus.origin, payload])).catch(() => {
    bus.dropped++;
    bus.droppedWhileDown++;
  });
}

/** A message from Redis: from another server (ours are delivered locally already). */
function fromOtherServer(bus: RedisBus, ch: Buffer, msg: Buffer): string | null {
  if (msg.length < 8 || bus.origin.equals(msg.subarray(0, 8))) return null;
  const name = ch.toString('latin1');
  return name.startsWith(bus.prefix) ? name.slice(bus.prefix.length) : null;
}

function onRedisMessage(state: State, ch: Buffer, msg: Buffer): void {
  const bus = state.redis;
  if (bus === null) return;
  const subject = fromOtherServer(bus, ch, msg);
  if (subject === null) return;
  bus.received++;
  deliverExact(state, subject, msg.subarray(8));
}

function onRedisPMessage(state: State, glob: string, ch: Buffer, msg: Buffer): void {
  const bus = state.redis;
  if (bus === null) return;
  const subject = fromOtherServer(bus, ch, msg);
  if (subject === null) return;
  const patterns = bus.globs.get(glob);
  if (patterns === undefined) return;
  bus.received++;
  const payload = msg.subarray(8);
  for (const p of patterns) {
    const w = state.wild.get(p);
    if (w !== undefined && matchTokens(w.tokens, subject)) deliverSet(state, w.subs, payload);
  }
}

export function redact(url: string): string {
  return url.replace(/\/\/[^@/]*@/, '//***@');
}

// ---------------------------------------------------------------- status

export function status(state: State): Record<string, unknown> {
  let subscriptions = 0;
  for (const c of state.conns) subscriptions += c.subs.size;
  const st = state.stats;
  const r = state.redis;
  return {
    paths: state.options.paths,
    publishPath: state.options.publishPath,
    connections: state.conns.size,
    channels: state.exact.size + state.wild.size,
    subscriptions,
    messagesIn: st.messagesIn,
    messagesOut: st.messagesOut,
    droppedSlowConsumers: st.droppedSlowConsumers,
    connectionsTotal: st.connectionsTotal,
    framesIn: st.framesIn,
    published: st.published,
    httpPublished: st.httpPublished,
    ignoredFrames: { ...st.ignored },
    badMultipart: st.badMultipart,
    badChannels: st.badChannels,
    cappedSubscriptions: st.cappedSubscriptions,
    cappedChannels: st.cappedChannels,
    processors: [...registry().processors.values()].map((e) => ({ command: e.command, module: e.owner })),
    processorErrors: st.processorErrors,
    processorTimeouts: st.processorTimeouts,
    droppedWhileBusy: st.droppedWhileBusy,
    pingInterval: state.options.pingInterval,
    deadPeers: st.deadPeers,
    upstream: { ...st.upstream, inFlight: state.upstreamInFlight },
    bus:
      r === null
        ? { kind: 'memory' }
        : { kind: 'redis', url: redact(r.url), up: r.pubUp && r.subUp, outages: r.outages, dropped: r.dropped, published: r.published, received: r.received },
  };
}
