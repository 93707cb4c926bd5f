// SPDX-License-Identifier: LGPL-3.0-or-later
/**
 * The one interface both stores (memory, Redis Streams) implement. The HTTP
 * layer (handler.ts) maps requests onto it; the stores hold no HTTP.
 */
import type { Backpressure } from './parse.ts';

/** A message as handed to a consumer. `ct` is `''` when the producer sent no Content-Type. */
export interface Message {
  readonly id: string;
  readonly body: Buffer;
  readonly ct: string;
}

/** A stored reply. */
export interface ReplyData {
  readonly body: Buffer;
  readonly ct: string;
}

export type ProduceResult =
  /** Stored: `size` is the tunnel's length after the add; `woke`: a poll waiting in this process got it (its answer is on its way). */
  | { readonly ok: true; readonly id: string; readonly size: number; readonly woke: boolean }
  /** Refused: the tunnel holds `size` >= limit messages (`full`), or the memory cap is reached (`cap`). */
  | { readonly ok: false; readonly reason: 'full' | 'cap'; readonly size: number };

export type ReplyResult = 'stored' | 'none' | 'cap';

/** `GET /t/ID/MID`: 202 handed out and not acked, 201 queued, 204 otherwise. */
export type MessageState = 201 | 202 | 204;

/** The store cannot answer now (Redis down or slow): the request gets 503. */
export class StoreUnavailable extends Error {
  override readonly name = 'StoreUnavailable';
}

/** A value now (memory store) or later (Redis store). */
export type Maybe<T> = T | Promise<T>;

/**
 * Tells a waiting poll that its client went away. Not an AbortSignal: an
 * AbortController with an 'abort' listener added and removed costs a poll
 * about 6 µs (an EventTarget, a listener record, their removal); this is a
 * flag and one callback. A poll waits once, so one callback is enough.
 */
export class ClientGone {
  gone = false;
  private onGone: (() => void) | null = null;

  /** The client left: calls the waiting poll back, once. */
  fire(): void {
    if (this.gone) return;
    this.gone = true;
    const f = this.onGone;
    this.onGone = null;
    if (f !== null) f();
  }

  /** `fn` runs if the client leaves while it is set; `null` clears it. */
  set(fn: (() => void) | null): void {
    this.onGone = fn;
  }
}

export interface Store {
  readonly kind: 'memory' | 'redis';
  produce(id: string, body: Buffer, ct: string, bp: Backpressure): Maybe<ProduceResult>;
  /** Takes one message now; `pending`: the oldest unacked one first, and the message stays pending until acked. */
  consume(id: string, pending: boolean): Maybe<Message | null>;
  /** Like consume, but waits up to `timeoutMs` for a message; `null` at timeout or when `gone` fires (the client left). */
  poll(id: string, pending: boolean, timeoutMs: number, gone: ClientGone): Maybe<Message | null>;
  /** Acknowledges and deletes message `mid` (pending or queued). */
  ack(id: string, mid: string): Maybe<void>;
  state(id: string, mid: string): Maybe<MessageState>;
  /** Stores a reply if `mid` is pending, acking it (`'stored'`); `'none'` if it was not pending (nothing stored); `'cap'`: the memory cap is reached. */
  reply(id: string, mid: string, body: Buffer, ct: string): Maybe<ReplyResult>;
  /** Reads (and removes) the reply to `mid`. */
  readReply(id: string, mid: string): Maybe<ReplyData | null>;
  pollReply(id: string, mid: string, timeoutMs: number, gone: ClientGone): Maybe<ReplyData | null>;
  length(id: string): Maybe<number>;
  /** Empties the tunnel (queued and pending messages). */
  clear(id: string): Maybe<void>;
  /** Plain JSON for STATUS. */
  stats(): Record<string, unknown>;
}
