// SPDX-License-Identifier: LGPL-3.0-or-later
/**
 * The Redis store: tunnels as Redis Streams (lua.ts), so any number of hrmr
 * servers on one Redis act as one relay.
 *
 * Long polls never hold a Redis connection while they wait. Each process
 * has two connections in all: `cmd` runs the (atomic, one-round-trip) Lua
 * operations, `sub` is subscribed to `t:ID:n` for every tunnel that has a
 * poll waiting in this process. A produce anywhere PUBLISHes on that
 * channel inside its script; every process with waiters on the tunnel runs
 * one consume for its oldest waiter (the script is atomic, so one of them
 * gets the message, the others find nothing and keep waiting). No polling
 * loop: a wake-up costs one PUBLISH and one consume round trip.
 *
 * A subscription stays for a few seconds after its last waiter leaves
 * (consumers that poll in a loop do not SUBSCRIBE/UNSUBSCRIBE every time).
 * The window between a poll's first (empty) read and its subscription
 * taking effect is closed by reading again once the subscription is
 * confirmed.
 *
 * Faults: commands fail fast when Redis is not connected (no offline queue),
 * time out after 1.5 s when it hangs, and a lost connection fails every
 * waiting poll at once; a heartbeat PING (only while polls wait) catches a
 * Redis that is unreachable without closing the connection. All of these
 * answer 503. ioredis reconnects by itself.
 *
 * What is kept across reloads: the two clients (the kit's keptRedis, which
 * also swaps each version's event handlers for the previous one's and sets
 * the offline/retry policy), and in `RedisShared` the waiting polls and the
 * subscriptions.
 */
import { isAscii } from 'node:buffer';
import { createHash } from 'node:crypto';
import type { Redis } from 'ioredis';
import { keptRedis, type Keep, type Logger } from '../../shared/index.ts';
import { redactUrl } from './config.ts';
import { ACK, CLEAR, CONSUME, keys, PRODUCE, READ_REPLY, REPLY, STATE } from './lua.ts';
import { ScriptBatcher } from './redis-batch.ts';
import type { Backpressure } from './parse.ts';
import { StoreUnavailable, type ClientGone, type Message, type MessageState, type ProduceResult, type ReplyData, type ReplyResult, type Store } from './store.ts';

interface RWaiter<T> {
  readonly pending: boolean;
  readonly gone: ClientGone;
  done: boolean;
  /** A fetch for this waiter is in flight. */
  busy: boolean;
  /** Its timeout passed while busy: answer when the fetch returns. */
  expired: boolean;
  timer: NodeJS.Timeout | undefined;
  resolve(v: T | null): void;
  reject(err: Error): void;
}

interface WaitList<T> {
  readonly waiters: Array<RWaiter<T>>;
  running: boolean;
  again: boolean;
}

interface RTunnel {
  readonly id: string;
  readonly msg: WaitList<Message>;
  readonly replies: Map<string, WaitList<ReplyData>>;
  sub: 'none' | 'subscribing' | 'active';
  idleSince: number;
}

/** What outlives a version (held with ctx.keep); the clients are kept by keptRedis. */
export interface RedisShared {
  readonly shape: 'relay-redis-1';
  readonly url: string;
  readonly tunnels: Map<string, RTunnel>;
  waiting: number;
  pinging: boolean;
  lastErrorLog: number;
}

/** A command not answered within this time fails (503): a Redis that hangs without closing. */
const COMMAND_TIMEOUT_MS = 1500;

export function newShared(url: string): RedisShared {
  return { shape: 'relay-redis-1', url, tunnels: new Map(), waiting: 0, pinging: false, lastErrorLog: 0 };
}

/**
 * State kept by a version from before keptRedis held its own clients (and
 * its listeners in `attached`): those clients are let go, and the polls
 * waiting on them fail (503) since their subscriptions go with them.
 */
interface LegacyShared {
  cmd?: Redis;
  sub?: Redis;
  attached?: Record<string, unknown> | null;
}
function dropLegacyClients(s: RedisShared): boolean {
  const legacy = s as RedisShared & LegacyShared;
  if (legacy.cmd === undefined || legacy.sub === undefined) return false;
  for (const c of [legacy.cmd, legacy.sub]) {
    c.removeAllListeners();
    c.on('error', noop);
    c.disconnect();
  }
  delete legacy.cmd;
  delete legacy.sub;
  legacy.attached = null;
  return true;
}

export function closeShared(s: RedisShared): void {
  const err = new StoreUnavailable('relay is shutting down');
  for (const rt of s.tunnels.values()) {
    for (const w of [...rt.msg.waiters]) settleRaw(s, rt.msg, w, null, err);
    for (const l of rt.replies.values()) for (const w of [...l.waiters]) settleRaw(s, l, w, null, err);
  }
  s.tunnels.clear();
}

function noop(): void {}

function settleRaw<T>(s: RedisShared, list: WaitList<T>, w: RWaiter<T>, v: T | null, err?: Error): void {
  if (w.done) return;
  w.done = true;
  clearTimeout(w.timer);
  w.gone.set(null);
  const i = list.waiters.indexOf(w);
  if (i >= 0) list.waiters.splice(i, 1);
  s.waiting--;
  if (err) w.reject(err);
  else w.resolve(v);
}

const SHA = new Map<string, string>();
function sha1(script: string): string {
  let h = SHA.get(script);
  if (h === undefined) SHA.set(script, (h = createHash('sha1').update(script).digest('hex')));
  return h;
}

const UNAVAILABLE_REPLY = /^(LOADING|BUSY|MASTERDOWN|READONLY|OOM|CLUSTERDOWN|TRYAGAIN|NOAUTH|WRONGPASS|NOPERM)/;

/** Connection trouble (and Redis refusing work) becomes StoreUnavailable (503); a script bug stays an error (500). */
export function asUnavailable(err: unknown): Error {
  const e = err as Error;
  if (e?.name === 'StoreUnavailable') return e;
  if (e?.name === 'ReplyError' && !UNAVAILABLE_REPLY.test(e.message)) return e;
  return new StoreUnavailable(`Redis: ${e?.message ?? String(err)}`);
}

const LINGER_MS = 10_000;
const TICK_MS = 500;
const PING_TIMEOUT_MS = 1000;

export interface RedisStoreOptions {
  readonly maxlen: number;
  readonly replyTtl: number;
  readonly idleTtl: number;
}

const str = (b: unknown): string => (Buffer.isBuffer(b) ? b.toString('latin1') : String(b));

/**
 * A body as a script argument: an ASCII body goes as a string, so a command
 * of strings only is one string for ioredis (no mixed-buffer assembly per
 * produce); anything else stays bytes.
 */
function wireArg(body: Buffer): string | Buffer {
  return body.length <= 4096 && isAscii(body) ? body.toString('latin1') : body;
}

/** Content types are few: each one's argument is made once (a latin1 one as bytes, so it round-trips). */
const CT_ARGS = new Map<string, string | Buffer>();
function ctArg(ct: string): string | Buffer {
  let a = CT_ARGS.get(ct);
  if (a === undefined) {
    // eslint-disable-next-line no-control-regex
    a = /^[\x00-\x7f]*$/.test(ct) ? ct : Buffer.from(ct, 'latin1');
    if (CT_ARGS.size < 64) CT_ARGS.set(ct, a);
  }
  return a;
}

export class RedisStore implements Store {
  readonly kind = 'redis';
  private readonly idleMs: string;
  private readonly maxlen: string;
  private tick: NodeJS.Timeout | undefined;
  private readonly cmd: Redis;
  private readonly sub: Redis;
  private readonly batch: ScriptBatcher;

  /** Takes over the kept clients (keptRedis swaps the previous version's handlers for these): call it last in setup. */
  constructor(
    readonly shared: RedisShared,
    private readonly o: RedisStoreOptions,
    private readonly log: Logger,
    ctx: { readonly keep: Keep },
  ) {
    if (shared.shape !== 'relay-redis-1') throw new Error(`relay: kept Redis state has shape ${String(shared.shape)}, this version needs relay-redis-1`);
    this.idleMs = String(o.idleTtl * 1000);
    this.maxlen = String(o.maxlen);
    const legacy = dropLegacyClients(shared);
    const onError = (err: Error): void => this.onError(err);
    this.cmd = keptRedis(
      ctx,
      'cmd',
      shared.url,
      { close: () => this.onClose('command'), error: onError, ready: () => this.log.info({ redis: redactUrl(shared.url) }, 'relay: Redis connected') },
      { connectionName: 'hrmr-relay', autoPipelining: true, commandTimeout: COMMAND_TIMEOUT_MS },
    );
    this.sub = keptRedis(ctx, 'sub', shared.url, { message: (channel, payload) => this.onMessage(channel, payload), close: () => this.onClose('subscriber'), error: onError }, { connectionName: 'hrmr-relay-sub', commandTimeout: COMMAND_TIMEOUT_MS });
    this.batch = new ScriptBatcher(this.cmd);
    if (legacy) this.onClose('subscriber');
  }

  /** Starts this version's timer (unsubscribing idle tunnels, the heartbeat). */
  attach(): void {
    this.tick = setInterval(() => this.onTick(), TICK_MS);
    this.tick.unref();
  }

  /** This version retires: its timer stops (its handlers go when the next version takes the clients, or with them). */
  detach(): void {
    clearInterval(this.tick);
  }

  /** Waits (at most `ms`) for the first connection, so the first requests after start-up do not get 503. */
  async ready(ms: number): Promise<boolean> {
    const cmd = this.cmd;
    if (cmd.status === 'ready') return true;
    await new Promise<void>((resolve) => {
      const t = setTimeout(done, ms);
      function done(): void {
        clearTimeout(t);
        cmd.off('ready', done);
        resolve();
      }
      cmd.on('ready', done);
    });
    return (cmd.status as string) === 'ready';
  }

  // ---- events -----------------------------------------------------------

  private onError(err: Error): void {
    const now = Date.now();
    if (now - this.shared.lastErrorLog < 5000) return;
    this.shared.lastErrorLog = now;
    this.log.warn({ err: err.message, redis: redactUrl(this.shared.url) }, 'relay: Redis connection error (retrying)');
  }

  private onClose(which: string): void {
    const s = this.shared;
    if (which === 'subscriber') for (const rt of s.tunnels.values()) rt.sub = 'none';
    if (s.waiting > 0) this.failAll(new StoreUnavailable(`Redis ${which} connection lost`));
  }

  private onMessage(channel: string, payload: string): void {
    // t:ID:n
    const rt = this.shared.tunnels.get(channel.slice(2, -2));
    if (rt === undefined) return;
    if (payload === 'm') {
      if (rt.msg.waiters.length > 0) void this.drain(rt, rt.msg, (p) => this.consumeRaw(rt.id, p));
    } else if (payload.charCodeAt(0) === 0x72 /* r */) {
      const mid = payload.slice(1);
      const list = rt.replies.get(mid);
      if (list !== undefined && list.waiters.length > 0) void this.drain(rt, list, () => this.readReplyRaw(rt.id, mid));
    }
  }

  private onTick(): void {
    const s = this.shared;
    const now = Date.now();
    // Unsubscribe from tunnels nobody here has waited on for a while.
    const gone: string[] = [];
    for (const rt of s.tunnels.values()) {
      if (rt.msg.waiters.length > 0 || rt.msg.running || rt.sub === 'subscribing') continue;
      let busy = false;
      for (const [mid, l] of rt.replies) {
        if (l.waiters.length > 0 || l.running) busy = true;
        else rt.replies.delete(mid);
      }
      if (busy) continue;
      if (now - rt.idleSince < LINGER_MS) continue;
      s.tunnels.delete(rt.id);
      if (rt.sub === 'active') gone.push(keys.channel(rt.id));
    }
    if (gone.length > 0 && this.sub.status === 'ready') this.sub.unsubscribe(...gone).catch(noop);
    // Heartbeat while polls wait: a Redis that stopped answering fails them within ~1.5 s.
    if (s.waiting > 0 && !s.pinging) {
      s.pinging = true;
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<never>((_r, reject) => {
        timer = setTimeout(() => reject(new StoreUnavailable('Redis did not answer PING')), PING_TIMEOUT_MS);
      });
      Promise.race([this.cmd.ping(), timeout]).then(
        () => {
          clearTimeout(timer);
          s.pinging = false;
        },
        (err: unknown) => {
          clearTimeout(timer);
          s.pinging = false;
          this.failAll(asUnavailable(err));
        },
      );
    }
  }

  private failAll(err: Error): void {
    for (const rt of this.shared.tunnels.values()) this.failTunnel(rt, err);
  }

  private failTunnel(rt: RTunnel, err: Error): void {
    const s = this.shared;
    for (const w of [...rt.msg.waiters]) settleRaw(s, rt.msg, w, null, err);
    for (const l of rt.replies.values()) for (const w of [...l.waiters]) settleRaw(s, l, w, null, err);
    rt.idleSince = Date.now();
  }

  // ---- waiting ----------------------------------------------------------

  private rtunnel(id: string): RTunnel {
    let rt = this.shared.tunnels.get(id);
    if (rt === undefined) {
      rt = { id, msg: { waiters: [], running: false, again: false }, replies: new Map(), sub: 'none', idleSince: Date.now() };
      this.shared.tunnels.set(id, rt);
    }
    return rt;
  }

  private settle<T>(rt: RTunnel, list: WaitList<T>, w: RWaiter<T>, v: T | null, err?: Error): void {
    settleRaw(this.shared, list, w, v, err);
    rt.idleSince = Date.now();
  }

  /** Registers a waiter on `list` and makes sure this process hears of new data for the tunnel. */
  private wait<T>(rt: RTunnel, list: WaitList<T>, pending: boolean, timeoutMs: number, gone: ClientGone, fetch: (pending: boolean) => Promise<T | null>): Promise<T | null> {
    const p = new Promise<T | null>((resolve, reject) => {
      const w: RWaiter<T> = { pending, gone, done: false, busy: false, expired: false, timer: undefined, resolve, reject };
      w.timer = setTimeout(() => {
        if (w.busy) w.expired = true;
        else this.settle(rt, list, w, null);
      }, timeoutMs);
      gone.set(() => this.settle(rt, list, w, null));
      list.waiters.push(w);
      this.shared.waiting++;
    });
    if (rt.sub === 'active') {
      // Already subscribed: read once more, for a produce between the first read and now.
      void this.drain(rt, list, fetch);
    } else if (rt.sub === 'none') {
      rt.sub = 'subscribing';
      this.sub.subscribe(keys.channel(rt.id)).then(
        () => {
          if (rt.sub !== 'subscribing') return;
          rt.sub = 'active';
          if (rt.msg.waiters.length > 0) void this.drain(rt, rt.msg, (pp) => this.consumeRaw(rt.id, pp));
          for (const [mid, l] of rt.replies) if (l.waiters.length > 0) void this.drain(rt, l, () => this.readReplyRaw(rt.id, mid));
        },
        (err: unknown) => {
          if (rt.sub === 'subscribing') rt.sub = 'none';
          this.failTunnel(rt, asUnavailable(err));
        },
      );
    }
    return p;
  }

  /** Fetches for the oldest waiter until it finds nothing; one fetch at a time per list. */
  private async drain<T>(rt: RTunnel, list: WaitList<T>, fetch: (pending: boolean) => Promise<T | null>): Promise<void> {
    if (list.running) {
      list.again = true;
      return;
    }
    list.running = true;
    try {
      do {
        list.again = false;
        for (;;) {
          const w = list.waiters[0];
          if (w === undefined) break;
          w.busy = true;
          let v: T | null;
          try {
            v = await fetch(w.pending);
          } catch (err) {
            w.busy = false;
            const e = asUnavailable(err);
            for (const x of [...list.waiters]) settleRaw(this.shared, list, x, null, e);
            return;
          }
          w.busy = false;
          if (!this.hand(list, w, v)) break;
        }
      } while (list.again);
    } finally {
      list.running = false;
      rt.idleSince = Date.now();
    }
  }

  /** Gives what was fetched for `w` to it (or, if it left meanwhile, to the next waiter of its kind); false when nothing was found. */
  private hand<T>(list: WaitList<T>, w: RWaiter<T>, v: T | null): boolean {
    if (v === null) {
      if (w.expired) settleRaw(this.shared, list, w, null);
      return false;
    }
    if (!w.done) settleRaw(this.shared, list, w, v);
    else {
      // Its client left during the fetch: the next waiter of the same kind takes it.
      const other = list.waiters.find((x) => x.pending === w.pending);
      if (other !== undefined) settleRaw(this.shared, list, other, v);
      else this.log.debug('relay: a poll left while its message was being fetched');
    }
    return true;
  }

  // ---- Redis calls --------------------------------------------------------

  private async run(script: string, keyList: readonly string[], args: ReadonlyArray<string | Buffer>): Promise<unknown> {
    const a: Array<string | Buffer> = [sha1(script), String(keyList.length)];
    for (let i = 0; i < keyList.length; i++) a.push(keyList[i]!);
    for (let i = 0; i < args.length; i++) a.push(args[i]!);
    try {
      return await this.batch.send('evalsha', a);
    } catch (err) {
      if ((err as Error)?.message?.startsWith('NOSCRIPT')) {
        a[0] = script;
        try {
          return await this.batch.send('eval', a);
        } catch (err2) {
          throw asUnavailable(err2);
        }
      }
      throw asUnavailable(err);
    }
  }

  private async consumeRaw(id: string, pending: boolean): Promise<Message | null> {
    const r = (await this.run(CONSUME, [keys.stream(id)], [keys.group(id), keys.consumer(id), pending ? '1' : '0', this.idleMs])) as Buffer[] | null;
    if (r === null) return null;
    return { id: str(r[0]), body: r[1]!, ct: r[2]!.toString('latin1') };
  }

  private async readReplyRaw(id: string, mid: string): Promise<ReplyData | null> {
    const r = (await this.run(READ_REPLY, [keys.reply(id, mid), keys.replyType(id, mid)], [])) as Buffer[] | null;
    if (r === null) return null;
    return { body: r[0]!, ct: r[1]!.toString('latin1') };
  }

  // ---- Store ------------------------------------------------------------

  async produce(id: string, body: Buffer, ct: string, bp: Backpressure): Promise<ProduceResult> {
    const args: Array<string | Buffer> = [keys.group(id), wireArg(body), ctArg(ct), bp.on ? String(bp.limit) : '0', this.maxlen, keys.channel(id)];
    // A poll waits here on this tunnel: the script consumes for it right after the add
    // (what its own consume would do after the notification, without that round trip).
    const rt = this.shared.tunnels.get(id);
    const list = rt?.msg;
    const w = list !== undefined && !list.running ? list.waiters[0] : undefined;
    if (w === undefined) {
      const r = (await this.run(PRODUCE, [keys.stream(id)], args)) as unknown[];
      if (r[0] === 0) return { ok: false, reason: 'full', size: Number(r[1]) };
      return { ok: true, id: str(r[1]), size: Number(r[2]), woke: false };
    }
    args.push(keys.consumer(id), w.pending ? '1' : '0', this.idleMs);
    list!.running = true;
    w.busy = true;
    let r: unknown[];
    try {
      r = (await this.run(PRODUCE, [keys.stream(id)], args)) as unknown[];
    } catch (err) {
      w.busy = false;
      this.release(rt!, list!, w);
      throw err;
    }
    w.busy = false;
    if (r[0] === 0) {
      this.release(rt!, list!, w);
      return { ok: false, reason: 'full', size: Number(r[1]) };
    }
    const m = r[3] as Buffer[] | null | undefined;
    // Handed over before this returns: the poll's answer is queued ahead of the 201.
    const woke = this.hand(list!, w, m ? { id: str(m[0]), body: m[1]!, ct: m[2]!.toString('latin1') } : null);
    this.release(rt!, list!, w);
    return { ok: true, id: str(r[1]), size: Number(r[2]), woke };
  }

  /** Ends a produce's turn at the tunnel's waiters: a timeout that passed meanwhile is answered, a wake-up that came meanwhile is served. */
  private release(rt: RTunnel, list: WaitList<Message>, w: RWaiter<Message>): void {
    if (w.expired && !w.done) settleRaw(this.shared, list, w, null);
    list.running = false;
    rt.idleSince = Date.now();
    if (list.again && list.waiters.length > 0) void this.drain(rt, list, (p) => this.consumeRaw(rt.id, p));
  }

  consume(id: string, pending: boolean): Promise<Message | null> {
    return this.consumeRaw(id, pending);
  }

  poll(id: string, pending: boolean, timeoutMs: number, gone: ClientGone): Promise<Message | null> {
    const rt = this.shared.tunnels.get(id);
    // Subscribed already: the waiter's own first fetch is the read (one round trip). Its promise is
    // returned as is (not through an async function): a produce's wake-up then answers it ahead of the 201.
    if (rt !== undefined && rt.sub === 'active' && timeoutMs > 0) {
      if (gone.gone) return Promise.resolve(null);
      return this.wait(rt, rt.msg, pending, timeoutMs, gone, (p) => this.consumeRaw(id, p));
    }
    return this.pollFirst(id, pending, timeoutMs, gone);
  }

  /** A poll on a tunnel not subscribed here yet: read once, then wait. */
  private async pollFirst(id: string, pending: boolean, timeoutMs: number, gone: ClientGone): Promise<Message | null> {
    const m = await this.consumeRaw(id, pending);
    if (m !== null || timeoutMs <= 0 || gone.gone) return m;
    const rt = this.rtunnel(id);
    return this.wait(rt, rt.msg, pending, timeoutMs, gone, (p) => this.consumeRaw(id, p));
  }

  async ack(id: string, mid: string): Promise<void> {
    await this.run(ACK, [keys.stream(id)], [keys.group(id), mid, this.idleMs]);
  }

  async state(id: string, mid: string): Promise<MessageState> {
    return Number(await this.run(STATE, [keys.stream(id)], [keys.group(id), mid])) as MessageState;
  }

  async reply(id: string, mid: string, body: Buffer, ct: string): Promise<ReplyResult> {
    const r = await this.run(REPLY, [keys.stream(id), keys.reply(id, mid), keys.replyType(id, mid)], [keys.group(id), mid, body, Buffer.from(ct, 'latin1'), String(this.o.replyTtl), keys.channel(id), this.idleMs]);
    return Number(r) === 1 ? 'stored' : 'none';
  }

  readReply(id: string, mid: string): Promise<ReplyData | null> {
    return this.readReplyRaw(id, mid);
  }

  async pollReply(id: string, mid: string, timeoutMs: number, gone: ClientGone): Promise<ReplyData | null> {
    const r = await this.readReplyRaw(id, mid);
    if (r !== null || timeoutMs <= 0 || gone.gone) return r;
    const rt = this.rtunnel(id);
    let list = rt.replies.get(mid);
    if (list === undefined) rt.replies.set(mid, (list = { waiters: [], running: false, again: false }));
    return this.wait(rt, list, false, timeoutMs, gone, () => this.readReplyRaw(id, mid));
  }

  async length(id: string): Promise<number> {
    try {
      return await this.cmd.xlen(keys.stream(id));
    } catch (err) {
      throw asUnavailable(err);
    }
  }

  async clear(id: string): Promise<void> {
    await this.run(CLEAR, [keys.stream(id)], [keys.group(id), this.idleMs]);
  }

  stats(): Record<string, unknown> {
    const s = this.shared;
    let subscribed = 0;
    for (const rt of s.tunnels.values()) if (rt.sub === 'active') subscribed++;
    return { store: 'redis', redis: redactUrl(s.url), connected: this.cmd.status === 'ready', subscriber: this.sub.status, waiting: s.waiting, subscriptions: subscribed, tunnelsWatched: s.tunnels.size };
  }

  /** Queue lengths over Redis are not counted here (that would need a SCAN); `length(id)` answers per tunnel. */
}
