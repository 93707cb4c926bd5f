// SPDX-License-Identifier: LGPL-3.0-or-later
/**
 * The lhttp state kept across RELOADs (one plain object, `ctx.keep`), its
 * types, and the migration of an older version's state. Data only: the code
 * that works on it is in the files named for each concern (see hub.ts).
 */
import type { Duplex } from 'node:stream';
import type { Redis as RedisClient } from 'ioredis';
import type { WebSocket, WebSocketServer } from 'ws';
import type { Logger } from '../../shared/index.ts';
import type { LhttpOptions } from './config.ts';
import type { Message } from './message.ts';

export interface Conn {
  readonly id: number;
  readonly ws: WebSocket;
  /** The upgraded socket under `ws` (corked while a burst of sends is written). */
  readonly socket: Duplex;
  /** Sent to in this tick (in `State.corked`, checked by the tick's flush). */
  corked: boolean;
  /** Its socket is corked: a second frame came in the same tick (optional: connections of older versions lack it). */
  burst?: boolean;
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
  /** Made with the kit's keptRedis (redis-bus.ts); a bus kept from an older version lacks it. */
  readonly kept?: true;
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
  /** Created with the first WebSocket (ws loads then). */
  wss: WebSocketServer | null;
  readonly conns: Set<Conn>;
  nextId: number;
  readonly exact: Map<string, Set<Conn>>;
  readonly wild: Map<string, Wild>;
  readonly stats: Stats;
  redis: RedisBus | null;
  upstreamInFlight: number;
  /** Connections sent to in this tick: flushed together (bursts uncorked, send buffers checked) once the current I/O callback is done. */
  corked: Conn[];
  flushScheduled: boolean;
  /** Rate-limited warnings: kind -> last time logged and how many were suppressed since. */
  readonly warned: Map<string, { at: number; suppressed: number }>;
  /** The one ping timer for every connection (see heartbeat.ts), and its interval. */
  pingTimer: ReturnType<typeof setInterval> | null;
  pingEvery: number;
}

/** The current version's entry points (what the socket and timer trampolines call; Redis handlers are attached per version instead). */
export interface Impl {
  onFrame(state: State, conn: Conn, data: Buffer, isBinary: boolean): void;
  onClose(state: State, conn: Conn): void;
  flush(state: State): void;
  heartbeat(state: State): void;
}

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
