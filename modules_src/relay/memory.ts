// SPDX-License-Identifier: LGPL-3.0-or-later
/**
 * The memory store: tunnels as in-process queues. Its data is a plain
 * object (`MemoryData`, Maps and arrays, no class instances) held with
 * `ctx.keep`, so queued messages, replies and waiting long polls survive a
 * RELOAD of the module: the new version's functions work on the same data,
 * and a poll that started on the old version is woken by a produce on the new
 * one (its `deliver` callback belongs to the old version, for at most one
 * poll timeout).
 *
 * Bounded: `tunnel_maxlen` messages per tunnel, and `max_bytes` over all
 * queued bodies, replies and their bookkeeping (each message, tunnel and
 * reply is charged a fixed overhead too, so a flood of distinct tunnel ids
 * of empty bodies hits the cap like big bodies do). An empty tunnel with
 * nobody waiting is deleted at once.
 */
import type { Backpressure } from './parse.ts';
import type { ClientGone, Message, MessageState, ProduceResult, ReplyData, ReplyResult, Store } from './store.ts';


interface Msg extends Message {
  readonly ms: number;
  readonly seq: number;
  readonly cost: number;
}

interface Waiter {
  readonly pending: boolean;
  deliver(m: Msg | null): void;
}

interface ReplyWaiter {
  deliver(r: ReplyData | null): void;
}

interface Tunnel {
  /** Queued (never handed out) messages from index `h` on, oldest first. */
  q: Array<Msg | undefined>;
  h: number;
  /** Handed out with `?pending` and not acked, oldest first (they leave the queue's head in order). */
  readonly pending: Map<string, Msg>;
  readonly waiters: Set<Waiter>;
  /** Whether the tunnel's own overhead is counted in `bytes`. */
  charged: boolean;
}

interface StoredReply extends ReplyData {
  readonly expires: number;
  readonly cost: number;
}

/** Everything the memory store holds; kept across reloads. */
export interface MemoryData {
  readonly shape: 'relay-memory-1';
  readonly tunnels: Map<string, Tunnel>;
  /** Key `ID/MID`, in insertion order (= expiry order: one TTL for all). */
  readonly replies: Map<string, StoredReply>;
  readonly replyWaiters: Map<string, Set<ReplyWaiter>>;
  bytes: number;
  /** Queued plus pending messages. */
  messages: number;
  pending: number;
  waiting: number;
  lastMs: number;
  lastSeq: number;
}

export function newMemoryData(): MemoryData {
  return { shape: 'relay-memory-1', tunnels: new Map(), replies: new Map(), replyWaiters: new Map(), bytes: 0, messages: 0, pending: 0, waiting: 0, lastMs: 0, lastSeq: 0 };
}

/** Bookkeeping charged per message, tunnel and reply on top of the bytes they carry (object, strings, Buffer header, map entries). */
export const MSG_OVERHEAD = 160;
export const TUNNEL_OVERHEAD = 320;
export const REPLY_OVERHEAD = 200;

export interface MemoryOptions {
  readonly maxlen: number;
  readonly maxBytes: number;
  readonly replyTtlMs: number;
  /** Clock (ms); tests may pass their own. */
  readonly now?: () => number;
}

const tunnelCost = (id: string): number => TUNNEL_OVERHEAD + 2 * id.length;

/** A body copied into its own memory: a slice of the socket's read buffer would pin all of it. */
function own(body: Buffer): Buffer {
  if (body.length === 0) return Buffer.alloc(0);
  const b = Buffer.allocUnsafeSlow(body.length);
  body.copy(b);
  return b;
}

export class MemoryStore implements Store {
  readonly kind = 'memory';
  private readonly now: () => number;

  constructor(
    readonly data: MemoryData,
    private readonly o: MemoryOptions,
  ) {
    if (data.shape !== 'relay-memory-1') throw new Error(`relay: kept memory store has shape ${String(data.shape)}, this version needs relay-memory-1`);
    this.now = o.now ?? Date.now;
  }

  // ---- queue primitives -------------------------------------------------

  private static len(t: Tunnel): number {
    return t.q.length - t.h + t.pending.size;
  }

  /** Advances the id clock: the new id is `${lastMs}-${lastSeq}` (no object per produce). */
  private nextId(): void {
    const d = this.data;
    const now = this.now();
    if (now > d.lastMs) {
      d.lastMs = now;
      d.lastSeq = 0;
    } else d.lastSeq++;
  }

  private release(m: Msg): void {
    this.data.bytes -= m.cost;
    this.data.messages--;
  }

  private shiftQueue(t: Tunnel): Msg | undefined {
    if (t.h >= t.q.length) return undefined;
    const m = t.q[t.h]!;
    t.q[t.h++] = undefined;
    if (t.h === t.q.length) {
      t.q = [];
      t.h = 0;
    } else if (t.h > 64 && t.h * 2 > t.q.length) {
      t.q = t.q.slice(t.h);
      t.h = 0;
    }
    return m;
  }

  /** One message for a consumer: with `pending`, the oldest unacked one first (it stays pending). */
  private take(t: Tunnel, pending: boolean): Msg | null {
    if (pending) {
      for (const m of t.pending.values()) return m;
    }
    const m = this.shiftQueue(t);
    if (m === undefined) return null;
    if (pending) {
      t.pending.set(m.id, m);
      this.data.pending++;
    } else this.release(m);
    return m;
  }

  /** Deletes the tunnel when it holds nothing and nobody waits on it. */
  private maybeFree(id: string, t: Tunnel): void {
    if (t.h < t.q.length || t.pending.size > 0 || t.waiters.size > 0) return;
    if (this.data.tunnels.get(id) !== t) return;
    this.data.tunnels.delete(id);
    if (t.charged) this.data.bytes -= tunnelCost(id);
  }

  private tunnel(id: string): Tunnel {
    let t = this.data.tunnels.get(id);
    if (t === undefined) {
      t = { q: [], h: 0, pending: new Map(), waiters: new Set(), charged: false };
      this.data.tunnels.set(id, t);
    }
    return t;
  }

  /** Index in `t.q` of message `mid`, or -1. */
  private static find(t: Tunnel, mid: string): number {
    const dash = mid.indexOf('-');
    const ms = Number(mid.slice(0, dash));
    const seq = Number(mid.slice(dash + 1));
    let lo = t.h;
    let hi = t.q.length - 1;
    while (lo <= hi) {
      const mid2 = (lo + hi) >> 1;
      const m = t.q[mid2]!;
      const c = m.ms - ms || m.seq - seq;
      if (c === 0) return m.id === mid ? mid2 : -1;
      if (c < 0) lo = mid2 + 1;
      else hi = mid2 - 1;
    }
    return -1;
  }

  /** Hands queued messages to waiting polls, oldest waiter first. */
  private wake(id: string, t: Tunnel): void {
    for (const w of t.waiters) {
      const m = this.take(t, w.pending);
      if (m === null) break;
      t.waiters.delete(w);
      this.data.waiting--;
      w.deliver(m);
    }
    this.maybeFree(id, t);
  }

  // ---- Store ------------------------------------------------------------

  produceSync(id: string, body: Buffer, ct: string, bp: Backpressure): ProduceResult {
    const d = this.data;
    const t0 = d.tunnels.get(id);
    const len = t0 === undefined ? 0 : MemoryStore.len(t0);
    if (bp.on && len >= bp.limit) return { ok: false, reason: 'full', size: len };
    this.nextId();
    const ms = d.lastMs;
    const seq = d.lastSeq;
    const mid = `${ms}-${seq}`;
    // Flattened here: a 15-character concatenation is a V8 cons string, and
    // node's check of the X-Message-Id header value (a regexp) takes V8's slow
    // path on one (measured: 1.5-2.4% of a produce's CPU).
    mid.charCodeAt(0);
    const cost = body.length + ct.length + mid.length + MSG_OVERHEAD;
    const extra = t0 === undefined || !t0.charged ? tunnelCost(id) : 0;
    if (d.bytes + cost + extra > this.o.maxBytes) return { ok: false, reason: 'cap', size: len };
    const t = t0 ?? this.tunnel(id);
    if (!t.charged) {
      t.charged = true;
      d.bytes += extra;
    }
    t.q.push({ id: mid, ms, seq, body: own(body), ct, cost });
    d.bytes += cost;
    d.messages++;
    if (!bp.on) {
      // Trim to tunnel_maxlen: the oldest go first, and pending ones are older than every queued one.
      while (MemoryStore.len(t) > this.o.maxlen) {
        // Size first: a busy tunnel trims on every produce, and an iterator per trim is garbage.
        const first = t.pending.size > 0 ? t.pending.values().next().value : undefined;
        if (first !== undefined) {
          t.pending.delete(first.id);
          d.pending--;
          this.release(first);
        } else this.release(this.shiftQueue(t)!);
      }
    }
    const size = MemoryStore.len(t);
    const woke = t.waiters.size > 0;
    if (woke) this.wake(id, t);
    return { ok: true, id: mid, size, woke };
  }

  produce(id: string, body: Buffer, ct: string, bp: Backpressure): ProduceResult {
    return this.produceSync(id, body, ct, bp);
  }

  consumeSync(id: string, pending: boolean): Message | null {
    const t = this.data.tunnels.get(id);
    if (t === undefined) return null;
    const m = this.take(t, pending);
    if (m !== null) this.maybeFree(id, t);
    return m;
  }

  consume(id: string, pending: boolean): Message | null {
    return this.consumeSync(id, pending);
  }

  poll(id: string, pending: boolean, timeoutMs: number, gone: ClientGone): Message | null | Promise<Message | null> {
    const now = this.consumeSync(id, pending);
    if (now !== null || timeoutMs <= 0 || gone.gone) return now;
    return new Promise((resolve) => {
      const t = this.tunnel(id);
      const d = this.data;
      const stop = (): void => {
        clearTimeout(timer);
        gone.set(null);
      };
      const cancel = (): void => {
        stop();
        if (t.waiters.delete(w)) {
          d.waiting--;
          // The tunnel may have been deleted and re-created meanwhile only if it had no waiters: not while we waited.
          if (d.tunnels.get(id) === t) this.maybeFree(id, t);
        }
        resolve(null);
      };
      const w: Waiter = {
        pending,
        deliver: (m) => {
          stop();
          resolve(m);
        },
      };
      const timer = setTimeout(cancel, timeoutMs);
      gone.set(cancel);
      t.waiters.add(w);
      d.waiting++;
    });
  }

  ack(id: string, mid: string): void {
    const t = this.data.tunnels.get(id);
    if (t !== undefined) {
      const p = t.pending.get(mid);
      if (p !== undefined) {
        t.pending.delete(mid);
        this.data.pending--;
        this.release(p);
      } else {
        const i = MemoryStore.find(t, mid);
        if (i >= 0) {
          this.release(t.q[i]!);
          t.q.splice(i, 1);
        }
      }
      this.maybeFree(id, t);
    }
  }

  stateSync(id: string, mid: string): MessageState {
    const t = this.data.tunnels.get(id);
    if (t === undefined) return 204;
    if (t.pending.has(mid)) return 202;
    return MemoryStore.find(t, mid) >= 0 ? 201 : 204;
  }

  state(id: string, mid: string): MessageState {
    return this.stateSync(id, mid);
  }

  replySync(id: string, mid: string, body: Buffer, ct: string): ReplyResult {
    const d = this.data;
    const t = d.tunnels.get(id);
    const m = t?.pending.get(mid);
    if (t === undefined || m === undefined) return 'none';
    const key = `${id}/${mid}`;
    const cost = body.length + ct.length + key.length + REPLY_OVERHEAD;
    if (d.bytes - m.cost + cost > this.o.maxBytes) return 'cap';
    t.pending.delete(mid);
    d.pending--;
    this.release(m);
    this.maybeFree(id, t);
    const now = this.now();
    this.sweep(now);
    const reply: StoredReply = { body: own(body), ct, expires: now + this.o.replyTtlMs, cost };
    const waiters = d.replyWaiters.get(key);
    if (waiters !== undefined) {
      // Read once: the first waiting reader takes it, nothing is stored.
      for (const w of waiters) {
        waiters.delete(w);
        d.waiting--;
        if (waiters.size === 0) d.replyWaiters.delete(key);
        w.deliver(reply);
        return 'stored';
      }
    }
    const old = d.replies.get(key);
    if (old !== undefined) {
      d.replies.delete(key);
      d.bytes -= old.cost;
    }
    d.replies.set(key, reply);
    d.bytes += cost;
    return 'stored';
  }

  reply(id: string, mid: string, body: Buffer, ct: string): ReplyResult {
    return this.replySync(id, mid, body, ct);
  }

  readReplySync(id: string, mid: string): ReplyData | null {
    const d = this.data;
    const key = `${id}/${mid}`;
    const r = d.replies.get(key);
    if (r === undefined) return null;
    d.replies.delete(key);
    d.bytes -= r.cost;
    return r.expires > this.now() ? { body: r.body, ct: r.ct } : null;
  }

  readReply(id: string, mid: string): ReplyData | null {
    return this.readReplySync(id, mid);
  }

  pollReply(id: string, mid: string, timeoutMs: number, gone: ClientGone): ReplyData | null | Promise<ReplyData | null> {
    const now = this.readReplySync(id, mid);
    if (now !== null || timeoutMs <= 0 || gone.gone) return now;
    const d = this.data;
    const key = `${id}/${mid}`;
    return new Promise((resolve) => {
      let set = d.replyWaiters.get(key);
      if (set === undefined) d.replyWaiters.set(key, (set = new Set()));
      const waiters = set;
      const stop = (): void => {
        clearTimeout(timer);
        gone.set(null);
      };
      const cancel = (): void => {
        stop();
        if (waiters.delete(w)) {
          d.waiting--;
          if (waiters.size === 0 && d.replyWaiters.get(key) === waiters) d.replyWaiters.delete(key);
        }
        resolve(null);
      };
      const w: ReplyWaiter = {
        deliver: (r) => {
          stop();
          resolve(r === null ? null : { body: r.body, ct: r.ct });
        },
      };
      const timer = setTimeout(cancel, timeoutMs);
      gone.set(cancel);
      waiters.add(w);
      d.waiting++;
    });
  }

  length(id: string): number {
    const t = this.data.tunnels.get(id);
    return t === undefined ? 0 : MemoryStore.len(t);
  }

  clear(id: string): void {
    const t = this.data.tunnels.get(id);
    if (t !== undefined) {
      for (let i = t.h; i < t.q.length; i++) this.release(t.q[i]!);
      for (const m of t.pending.values()) this.release(m);
      this.data.pending -= t.pending.size;
      t.pending.clear();
      t.q = [];
      t.h = 0;
      this.maybeFree(id, t);
    }
  }

  /** Drops expired replies (oldest first; stops at the first live one). */
  sweep(now = this.now()): void {
    const d = this.data;
    for (const [key, r] of d.replies) {
      if (r.expires > now) break;
      d.replies.delete(key);
      d.bytes -= r.cost;
    }
  }

  stats(): Record<string, unknown> {
    const d = this.data;
    return { store: 'memory', tunnels: d.tunnels.size, messages: d.messages, pending: d.pending, replies: d.replies.size, bytes: d.bytes, maxBytes: this.o.maxBytes, waiting: d.waiting };
  }
}
