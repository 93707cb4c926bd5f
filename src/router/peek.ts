// SPDX-License-Identifier: LGPL-3.0-or-later
/**
 * Reads the first bytes of a connection until the prefix table can decide.
 * The bytes read are handed to the caller, who either gives them back to the
 * socket (stream routes) or feeds them to a framer (message routes).
 */
import type { Socket } from 'node:net';
import { MatchState, type PrefixEntry } from './prefix-table.ts';
import type { Matcher } from './matcher.ts';
import { ExpirySet } from '../util/expiry-set.ts';
import { resetFlowing } from '../util/node-internals.ts';

export const PeekOutcome = {
  Routed: 0,
  /** Bytes arrived but no route matches (or can). */
  NoRoute: 1,
  /** Timed out or hit the byte limit without a decision. */
  Timeout: 2,
  /** The client closed or errored first. */
  Closed: 3,
} as const;
export type PeekOutcome = (typeof PeekOutcome)[keyof typeof PeekOutcome];

export interface PeekLimits {
  timeoutMs: number;
  maxBytes: number;
}

/** `ended`: the client already half-closed (its 'end' event has fired). */
export type PeekCallback<T> = (socket: Socket, outcome: PeekOutcome, entry: PrefixEntry<T> | null, data: Buffer | null, ended: boolean) => void;

/** The per-server part of a peek: shared by every connection. */
export interface Peeker<T> {
  /** The matcher new connections are matched against (read per chunk, so a RELOAD mid-peek is seen). */
  table(): Matcher<T>;
  readonly limits: PeekLimits;
  readonly done: PeekCallback<T>;
  /**
   * True while no route can be decided yet (the modules are loading): peeks
   * keep their bytes and wait, within their byte limit and timeout; call
   * redecide() on each once it is false.
   */
  holding?: boolean;
  /** Set by peek(): the one timer of all this peeker's connections. */
  clock?: PeekClock;
}

/** Per-connection peek state. The listeners below are shared functions that find it on the socket, so a peek allocates no closures. */
interface PeekState<T> {
  peeker: Peeker<T>;
  data: Buffer | null;
  ended: boolean;
  /** Date.now() by which the route must be decided. */
  at: number;
  /** Null once the peek is over (the clock skips it). */
  socket: PeekingSocket | null;
  expirySlot: number;
}

/** Sweep interval of the peek timeouts: a peek may time out up to this late. */
const SWEEP_MS = 25;

/** The peek timeouts of one server (see ExpirySet: no timer per connection). */
export type PeekClock = ExpirySet<PeekState<unknown>>;

/**
 * Peek state by socket. A WeakMap, not a property on the socket: adding
 * properties to node's sockets changes their hidden class, which makes
 * node's own socket and HTTP code polymorphic (measurably slower per connection).
 */
const peeks = new WeakMap<Socket, PeekState<unknown>>();
type PeekingSocket = Socket;

/**
 * Peeks at `socket`. When `peeker.done` is called the socket has no
 * listeners of ours left and is still reading (the callback pauses it, or
 * hands it at once to a reader such as node's HTTP parser: pausing would cost
 * two system calls for nothing).
 */
export function peek<T>(socket: Socket, peeker: Peeker<T>, initial: Buffer | null = null): void {
  const s = socket as PeekingSocket;
  const st: PeekState<unknown> = { peeker: peeker as Peeker<unknown>, data: null, ended: false, at: Date.now() + peeker.limits.timeoutMs, socket: s, expirySlot: -1 };
  peeks.set(s, st);
  (peeker.clock ??= new ExpirySet(SWEEP_MS, onExpired)).add(st);
  s.on('data', onData);
  s.on('end', onEnd);
  s.on('close', onClose);
  // Bytes already read by an earlier stage (the rest of a PROXY header's chunk).
  if (initial !== null && initial.length > 0) onData.call(s, initial);
}

function finish(s: PeekingSocket, outcome: PeekOutcome, entry: PrefixEntry<unknown> | null): void {
  const st = peeks.get(s);
  if (st === undefined) return;
  peeks.delete(s);
  st.peeker.clock!.delete(st);
  st.socket = null;
  const data = st.data;
  st.data = null;
  s.removeListener('data', onData);
  s.removeListener('end', onEnd);
  s.removeListener('close', onClose);
  st.peeker.done(s, outcome, entry, data, st.ended);
}

/** `giveUp`: no more bytes will come (end, timeout); report this outcome if nothing matched. */
function decide(s: PeekingSocket, st: PeekState<unknown>, giveUp: PeekOutcome | null): void {
  const data = st.data!;
  if (st.peeker.holding === true) {
    // No routes yet: only the timeout and the byte limit end the wait (a half-close waits for redecide()).
    if (giveUp === PeekOutcome.Timeout) finish(s, PeekOutcome.Timeout, null);
    else if (data.length >= st.peeker.limits.maxBytes) finish(s, PeekOutcome.NoRoute, null);
    return;
  }
  const r = st.peeker.table().match(data);
  if (r.state === MatchState.Matched) return finish(s, PeekOutcome.Routed, r.entry);
  if (r.state === MatchState.NoMatch) return finish(s, PeekOutcome.NoRoute, null);
  // Undecided: a longer prefix could still match. Stop waiting only when no
  // more bytes can come (end, limit, timeout): then the best match so far wins.
  if (giveUp !== null || data.length >= st.peeker.limits.maxBytes) {
    if (r.entry) return finish(s, PeekOutcome.Routed, r.entry);
    return finish(s, giveUp ?? PeekOutcome.NoRoute, null);
  }
}

/** Decides a peek that waited while its peeker was holding (see Peeker.holding). */
export function redecide(socket: Socket): void {
  const st = peeks.get(socket);
  if (st === undefined || st.data === null) return;
  decide(socket, st, st.ended ? PeekOutcome.NoRoute : null);
}

function onData(this: PeekingSocket, chunk: Buffer): void {
  const st = peeks.get(this)!;
  st.data = st.data === null ? chunk : Buffer.concat([st.data, chunk]);
  decide(this, st, null);
}

function onEnd(this: PeekingSocket): void {
  // Half-close during the peek: decide with what we have.
  const st = peeks.get(this)!;
  st.ended = true;
  if (st.data === null) finish(this, PeekOutcome.Closed, null);
  else decide(this, st, PeekOutcome.NoRoute);
}

function onClose(this: PeekingSocket): void {
  finish(this, PeekOutcome.Closed, null);
}

function onExpired(st: PeekState<unknown>): void {
  if (st.socket !== null) onTimeout(st.socket);
}

function onTimeout(s: PeekingSocket): void {
  const st = peeks.get(s);
  if (st === undefined) return;
  if (st.data === null) finish(s, PeekOutcome.Timeout, null);
  else decide(s, st, PeekOutcome.Timeout);
}

/**
 * Gives peeked bytes back to a paused socket so the next reader sees the
 * stream from byte 0, and puts the stream back in its initial "not yet
 * flowing" state so that a handler attaching a 'data' listener (as
 * http.Server does) starts the flow, exactly as on a fresh socket.
 */
export function giveBack(socket: Socket, data: Buffer | null): void {
  if (data !== null) socket.unshift(data);
  resetFlowing(socket);
}
