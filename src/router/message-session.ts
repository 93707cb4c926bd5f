// SPDX-License-Identifier: LGPL-3.0-or-later
/**
 * Drives a message route on one socket: frames the stream, calls the handler
 * per message, and writes replies back in message order even when handlers
 * finish out of order. Respects back-pressure both ways: the moment the
 * socket's write buffer is full, or too many replies (or reply bytes) are
 * pending, it stops framing (the rest of the chunk is held) and reading; it
 * frames the rest and reads again once the client has read.
 */
import type { Socket } from 'node:net';
import type { Reply } from '../../shared/index.ts';
import { LineFramer, MAX_LINE } from './line-framer.ts';
import { endWith } from './responses.ts';

export type Invoke = (msg: Buffer) => Reply | Promise<Reply>;

export interface MessageSessionOptions {
  framing: 'line' | 'whole';
  /** Largest message for 'whole' framing. */
  maxWhole: number;
  /** Most replies awaited at once before framing and reading pause. */
  maxPending: number;
  /** Most bytes of finished replies waiting behind an unfinished one before framing and reading pause. */
  maxPendingBytes: number;
  /** Told about handler failures (for logging); the session itself writes ERR and closes. */
  onError(err: unknown): void;
}

interface Slot {
  done: boolean;
  value: Reply;
  error: unknown;
}

const NO_ERROR = Symbol('none');
const EMPTY = Buffer.alloc(0);

export class MessageSession {
  private readonly framer: LineFramer | null;
  private readonly queue: Slot[] = [];
  private whole: Buffer[] | null = null;
  private wholeBytes = 0;
  private clientEnded = false;
  /** The client half-closed while framing was paused with bytes held: its end is handled after them. */
  private endHeld = false;
  /** Bytes of the finished replies in `queue`. */
  private queuedBytes = 0;
  private closing = false;
  /** Framing and reading are stopped (back-pressure); see maybeResume(). */
  private paused = false;
  private draining = false;
  private readonly onLine = (line: Buffer): boolean => this.handle(line);

  constructor(
    private readonly socket: Socket,
    private readonly invoke: Invoke,
    private readonly opts: MessageSessionOptions,
  ) {
    this.framer = opts.framing === 'line' ? new LineFramer(MAX_LINE) : null;
    if (opts.framing === 'whole') this.whole = [];
  }

  /** Starts with the peeked bytes; `ended` if the client already half-closed. */
  start(initial: Buffer | null, ended: boolean): void {
    const s = this.socket as SessionSocket;
    s[kSession] = this;
    s.on('close', onSessionClose);
    if (initial !== null) this.onData(initial);
    if (ended) this.onEnd();
    else if (!this.closing) {
      s.on('data', onSessionData);
      s.on('end', onSessionEnd);
      s.on('drain', onSessionDrain);
      if (!this.paused) s.resume();
    }
  }

  /** Stop taking messages; finish the pending ones, then end the connection. */
  drain(): void {
    if (this.draining || this.closing) return;
    this.draining = true;
    this.socket.pause();
    this.socket.removeAllListeners('data');
    if (this.queue.length === 0) this.finish();
  }

  /** @internal (shared socket listeners below) */
  onClose(): void {
    this.closing = true;
    this.queue.length = 0;
  }

  /** @internal */
  onData(chunk: Buffer): void {
    if (this.closing || this.draining) return;
    if (this.framer !== null) {
      const s = this.socket;
      // Cork only when the chunk holds more than one line, so their replies go out in one write;
      // for the common one-line chunk, cork/uncork would only add a buffered write request.
      const nl = chunk.indexOf(10);
      const batch = nl >= 0 && nl < chunk.length - 1;
      if (batch) s.cork();
      try {
        this.framer.push(chunk, this.onLine, nl);
      } catch (err) {
        // LineTooLongError from the framer; handler errors are caught in handle().
        this.failInOrder(err);
      }
      if (batch) s.uncork();
    } else {
      this.wholeBytes += chunk.length;
      if (this.wholeBytes > this.opts.maxWhole) return this.fail(new Error(`message too large (over ${this.opts.maxWhole} bytes)`));
      this.whole!.push(chunk);
    }
  }

  /** @internal */
  onEnd(): void {
    if (this.closing) return;
    if (this.framer !== null && this.framer.held > 0 && !this.draining) {
      this.endHeld = true;
      return;
    }
    this.clientEnded = true;
    if (this.framer !== null) {
      // An unterminated last line is still a message: nothing the client sent is dropped.
      const rest = this.framer.pending;
      if (rest > 0 && !this.draining) this.framer.push(Buffer.from('\n'), this.onLine);
    } else if (!this.draining) {
      const w = this.whole!;
      this.whole = null;
      this.handle(w.length === 1 ? w[0]! : Buffer.concat(w, this.wholeBytes));
    }
    if (this.queue.length === 0) this.finish();
  }

  /** Runs the handler for one message. Returns false to stop framing (closing, or paused by back-pressure). */
  private handle(msg: Buffer): boolean {
    if (this.closing) return false;
    let out: Reply | Promise<Reply>;
    try {
      out = this.invoke(msg);
    } catch (err) {
      // The connection is done: later messages must not reach the handler.
      this.failInOrder(err);
      return false;
    }
    if (out instanceof Promise) {
      const slot: Slot = { done: false, value: undefined, error: NO_ERROR };
      this.queue.push(slot);
      out.then(
        (v) => this.settle(slot, v, NO_ERROR),
        (e) => this.settle(slot, undefined, e ?? new Error('rejected')),
      );
      if (this.queue.length >= this.opts.maxPending) this.pauseReading();
    } else if (this.queue.length === 0) {
      this.write(out);
    } else {
      this.queue.push({ done: true, value: out, error: NO_ERROR });
      this.queuedBytes += sizeOf(out);
      if (this.queue.length >= this.opts.maxPending || this.queuedBytes >= this.opts.maxPendingBytes) this.pauseReading();
    }
    return !this.closing && !this.paused;
  }

  private settle(slot: Slot, value: Reply, error: unknown): void {
    if (this.closing) return;
    slot.done = true;
    slot.value = value;
    slot.error = error;
    if (this.queue[0] !== slot) {
      this.queuedBytes += sizeOf(value);
      if (this.queuedBytes >= this.opts.maxPendingBytes) this.pauseReading();
      return;
    }
    const s = this.socket;
    s.cork();
    while (this.queue.length > 0 && this.queue[0]!.done) {
      const head = this.queue.shift()!;
      if (head.error !== NO_ERROR) {
        s.uncork();
        return this.fail(head.error);
      }
      if (head !== slot) this.queuedBytes -= sizeOf(head.value);
      this.write(head.value);
    }
    s.uncork();
    if (this.queue.length === 0 && (this.clientEnded || this.draining)) this.finish();
    else this.maybeResume();
  }

  private write(reply: Reply): void {
    if (reply == null) return;
    if (typeof reply !== 'string' && !(reply instanceof Uint8Array)) {
      return this.fail(new TypeError(`handler returned ${typeof reply}, expected string, Uint8Array, null or undefined`));
    }
    if (!this.socket.write(reply)) this.pauseReading();
    if (this.framer === null) this.finish();
  }

  private pauseReading(): void {
    if (this.paused) return;
    this.paused = true;
    this.socket.pause();
  }

  /** @internal Called on 'drain' and as replies go out: frames what was held, then reads again. */
  maybeResume(): void {
    if (!this.paused || this.closing || this.draining) return;
    if (this.socket.writableNeedDrain || this.queue.length >= this.opts.maxPending || this.queuedBytes >= this.opts.maxPendingBytes) return;
    this.paused = false;
    const framer = this.framer;
    if (framer !== null && framer.held > 0) {
      const s = this.socket;
      s.cork();
      try {
        framer.resume(this.onLine);
      } catch (err) {
        this.failInOrder(err);
      }
      s.uncork();
      // Paused again (or closing): the next drain or reply comes back here.
      if (this.paused || this.closing || this.draining) return;
    }
    if (this.endHeld) {
      // Every byte before the client's FIN is framed: now its end.
      this.endHeld = false;
      return this.onEnd();
    }
    this.socket.resume();
  }

  /** Stops reading, lets the replies to earlier messages go out in order, then fails. */
  private failInOrder(err: unknown): void {
    if (this.queue.length === 0) return this.fail(err);
    this.draining = true;
    this.socket.pause();
    this.queue.push({ done: true, value: undefined, error: err });
  }

  /** Writes `ERR <message>` and closes: only this connection is affected. */
  private fail(err: unknown): void {
    if (this.closing) return;
    this.closing = true;
    this.queue.length = 0;
    this.opts.onError(err);
    const text = err instanceof Error ? err.message : String(err);
    endWith(this.socket, Buffer.from(`ERR ${text.replace(/[\r\n]+/g, ' ')}\n`));
  }

  private finish(): void {
    if (this.closing) return;
    this.closing = true;
    // A client that has not half-closed gets a bounded time to close after our FIN.
    if (this.clientEnded) this.socket.end();
    else endWith(this.socket, EMPTY);
  }
}

/** A reply's size for the pending bound (string length: near enough, and no encoding pass). */
function sizeOf(reply: Reply): number {
  return reply == null ? 0 : typeof reply === 'string' ? reply.length : (reply as Uint8Array).byteLength ?? 0;
}

// Shared listeners: each finds its session on the socket, so a session adds no closures per connection.
const kSession = Symbol('hrmr.session');
type SessionSocket = Socket & { [kSession]?: MessageSession };

function onSessionData(this: SessionSocket, chunk: Buffer): void {
  this[kSession]!.onData(chunk);
}
function onSessionEnd(this: SessionSocket): void {
  this[kSession]!.onEnd();
}
function onSessionDrain(this: SessionSocket): void {
  this[kSession]!.maybeResume();
}
function onSessionClose(this: SessionSocket): void {
  this[kSession]!.onClose();
}
