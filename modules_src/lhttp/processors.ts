// SPDX-License-Identifier: MIT
/**
 * The lhttp processor API: what a command processor (written in its own
 * module file) gets, and how it registers.
 *
 * A processor module is an ordinary hrmr module (no routes needed) that
 * registers in `setup` and unregisters in `dispose`:
 *
 * ```ts
 * import { defineModule } from '../shared/index.ts';
 * import { registerProcessor } from './lhttp/processors.ts';
 *
 * let unregister: (() => void) | undefined;
 * export default defineModule({
 *   routes: [],
 *   setup(ctx) {
 *     if (ctx.thread !== 'main') return;
 *     unregister = registerProcessor('echo', { onMessage(c) { c.send(c.getBody()); } }, ctx.module);
 *   },
 *   dispose() { unregister?.(); },
 * });
 * ```
 *
 * Every module bundles its own copy of this file, so the registry lives on
 * `globalThis` under `Symbol.for('hrmr.lhttp.processors')`: the lhttp module
 * and every processor module, of any version, share it. A RELOAD of a
 * processor module registers the new version (setup) before the old one is
 * disposed; `unregister` only removes its own registration, so the command is
 * never left without its processor. This file is MIT so processors can stay
 * private.
 */
import type { Logger } from '../../shared/index.ts';

/** One part of a multipart message. */
export interface LhttpPart {
  /** Header key -> value (untrimmed; last duplicate wins). */
  readonly headers: Readonly<Record<string, string>>;
  readonly body: string;
}

/**
 * What a processor's hooks get: the message being handled and the connection
 * it came on. Names follow the original (`GetCommand` ...) and its JS SDK.
 */
export interface LhttpContext {
  /** This connection's id (unique in this process). */
  readonly connId: number;
  /** The peer's IP address. */
  readonly remoteAddress: string;
  /** Per-connection storage for processors (starts empty, lives as long as the connection). */
  readonly data: Record<string, unknown>;
  /** The lhttp module's logger. */
  readonly log: Logger;
  /** The request's command. */
  getCommand(): string;
  /** A request header's value (untrimmed), or `''` when absent. */
  getHeader(key: string): string;
  /** Every request header. */
  getHeaders(): Record<string, string>;
  /** The request body. */
  getBody(): string;
  /** The multipart parts (`[]` without a valid `multipart` header). */
  getMultipart(): LhttpPart[];
  /** Sets the reply command: used by `send` and by the publish of this message. */
  setCommand(command: string): void;
  /**
   * Adds a reply header. Once any is added, `send` and the publish of this
   * message carry the reply headers instead of the request's.
   */
  addHeader(key: string, value: string): void;
  /**
   * Writes `LHTTP/1.0 <reply command or the request's>` + the reply headers
   * (or the request's) + a blank line + `body` to this connection, then
   * clears the reply command and headers (as the original does).
   */
  send(body: string): void;
  /**
   * Publishes a new message `LHTTP/1.0 <command>` with `publish:<channels>`
   * and `headers` to each channel (space-separated names or a list). Returns
   * the number of channels published to.
   */
  publish(channels: string | readonly string[], command: string, headers: Readonly<Record<string, string>> | null, body: string): number;
  /** Subscribes this connection to the channels (wildcards allowed). */
  subscribe(channels: string | readonly string[]): void;
  /** Ends this connection's subscriptions to the channels. */
  unsubscribe(channels: string | readonly string[]): void;
  /** Closes this connection (WebSocket close code, default 1000). */
  close(code?: number, reason?: string): void;
}

/**
 * A command processor. Every hook is optional and may be async: the
 * connection's next message waits for it (up to `lhttp.processor_timeout`).
 * A hook that throws is logged and counted; the message carries on.
 * - `onOpen`: before the first message of a connection (with that message).
 * - `onMessage`: every message with this command, before its
 *   subscribe/publish/unsubscribe/upstream headers are acted on.
 * - `onClose`: when the connection closes, if its last message had this command.
 */
export interface Processor {
  onOpen?(c: LhttpContext): void | Promise<void>;
  onMessage?(c: LhttpContext): void | Promise<void>;
  onClose?(c: LhttpContext): void | Promise<void>;
}

/** What the lhttp module offers other modules while it is loaded. */
export interface LhttpApi {
  /** Same as {@link LhttpContext.publish}, from anywhere. */
  publish(channels: string | readonly string[], command: string, headers: Readonly<Record<string, string>> | null, body: string): number;
}

export interface ProcessorEntry {
  readonly command: string;
  readonly processor: Processor;
  /** The registering module's name (for STATUS). */
  readonly owner: string;
}

export interface Registry {
  readonly schema: 1;
  readonly processors: Map<string, ProcessorEntry>;
  /** Set by the lhttp module in its setup; null while it is not loaded. */
  api: LhttpApi | null;
}

const KEY = Symbol.for('hrmr.lhttp.processors');

/** The process-wide registry (created on first use by whichever module comes first). */
export function registry(): Registry {
  const g = globalThis as unknown as Record<symbol, Registry | undefined>;
  let r = g[KEY];
  if (r === undefined) {
    r = { schema: 1, processors: new Map(), api: null };
    g[KEY] = r;
  }
  return r;
}

/**
 * Registers `processor` for `command` (replacing any earlier one) and returns
 * the function that removes it again, only if it is still the registered one.
 */
export function registerProcessor(command: string, processor: Processor, owner = 'unknown'): () => void {
  if (typeof command !== 'string' || command === '' || /[\r\n]/.test(command)) throw new Error(`lhttp: bad command name ${JSON.stringify(command)}`);
  const entry: ProcessorEntry = { command, processor, owner };
  const r = registry();
  r.processors.set(command, entry);
  return () => {
    if (r.processors.get(command) === entry) r.processors.delete(command);
  };
}

/**
 * Publishes from any module through the loaded lhttp module. Returns the
 * number of channels published to, or -1 when lhttp is not loaded.
 */
export function publish(channels: string | readonly string[], command: string, headers: Readonly<Record<string, string>> | null, body: string): number {
  const api = registry().api;
  return api === null ? -1 : api.publish(channels, command, headers, body);
}
