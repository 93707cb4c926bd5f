// SPDX-License-Identifier: LGPL-3.0-or-later
/**
 * What a command processor sees (LhttpContext): the message as text, the
 * reply it builds, and calls into the bus; and calling a processor's hooks
 * (errors counted and logged, async ones bounded by processor_timeout).
 * Byte strings inside, text outside.
 */
import type { Logger } from '../../shared/index.ts';
import { publishPayload, subscribe, unsubscribe } from './bus.ts';
import { fromText, serialize, splitChannels, toText, type Message, type Part } from './message.ts';
import { sendTo } from './output.ts';
import { registry, type LhttpContext, type LhttpPart, type Processor } from './processors.ts';
import type { Conn, State } from './state.ts';
import { warnLimited } from './warn.ts';

export function processorFor(command: string): Processor | null {
  return registry().processors.get(command)?.processor ?? null;
}

export function isThenable(x: unknown): x is PromiseLike<unknown> {
  return x !== null && typeof x === 'object' && typeof (x as { then?: unknown }).then === 'function';
}

export function callHook(state: State, proc: Processor, hook: 'onOpen' | 'onMessage' | 'onClose', c: Ctx): unknown {
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
export function settle(state: State, p: unknown): Promise<void> {
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
export class Ctx implements LhttpContext {
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

export function makeContext(state: State, conn: Conn, msg: Message, parts: Part[] | null): Ctx {
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
