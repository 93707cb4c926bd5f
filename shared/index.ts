// SPDX-License-Identifier: MIT
/**
 * The hrmr module API: the contract a module's default export satisfies, and
 * small helpers for writing one. This folder is MIT-licensed so modules that
 * import it can stay private.
 *
 * @packageDocumentation
 */
import type { Socket } from 'node:net';
import type { Logger } from 'pino';

/** The pino logger type of `ctx.log` (re-exported so modules need not depend on pino). */
export type { Logger } from 'pino';

/**
 * What a message handler returns. A string is written as UTF-8, bytes as they
 * are; `null` or `undefined` write nothing. hrmr adds nothing (no newline).
 */
export type Reply = string | Uint8Array | null | undefined;

/**
 * How a message route cuts the byte stream into messages.
 * - `'line'`: a message is the bytes before `\n`, a trailing `\r` removed.
 *   A line over 64 KiB closes the connection with an error.
 * - `'whole'`: one message is everything until the client half-closes its
 *   side; the reply is written, then the connection ends.
 */
export type Framing = 'line' | 'whole';

/** A route prefix: the first bytes a connection must start with. `''` is the default route. */
export type Prefix = string | Uint8Array;

/** Per-connection context given to route handlers. */
export interface Context {
  /** The module's name. */
  readonly module: string;
  /** The module version this connection is bound to (1, 2, ... per reload). */
  readonly version: number;
  /** The peer's IP address. */
  readonly remoteAddress: string;
  /** The peer's TCP port. */
  readonly remotePort: number;
  /** Configuration for this module (see {@link SetupContext.config}). */
  readonly config: Readonly<Record<string, string>>;
  /** A pino child logger carrying the module name, version and peer. */
  readonly log: Logger;
  /** The worker thread id running this call (0 on the main thread). */
  readonly threadId: number;
}

/** Context given to `setup`. */
export interface SetupContext {
  /** The module's name. */
  readonly module: string;
  /** The version being set up. */
  readonly version: number;
  /**
   * Configuration for this module: `--set NAME.key=value` on the command line
   * and `HRMR_CFG_NAME_KEY` environment variables (NAME and KEY upper-cased,
   * `-` as `_`), keys lower-cased.
   */
  readonly config: Readonly<Record<string, string>>;
  /** A pino child logger carrying the module name and version. */
  readonly log: Logger;
  /** `'main'` on the main thread, `'worker'` inside a pool worker. */
  readonly thread: 'main' | 'worker';
  /** The worker thread id (0 on the main thread). */
  readonly threadId: number;
}

/** Fields common to both route kinds. */
export interface RouteBase {
  /** Connections starting with these bytes go to this route; the longest matching prefix wins. */
  readonly prefix: Prefix;
  /** Most connections this route holds at once; extra ones get `ERR busy` and are closed. */
  readonly maxConnections?: number;
  /** Close a connection after this many ms without traffic (overrides `--idle-timeout`; 0 = never). */
  readonly idleTimeout?: number;
}

/**
 * A stream route: the handler owns the socket. Every byte the client sent,
 * from byte 0, is still readable from it. If the client half-closes, hrmr
 * ends the server side too once the handler's writes are done.
 */
export interface StreamRoute extends RouteBase {
  /** Called once per connection, on the main thread. */
  connection(socket: Socket, ctx: Context): void;
  readonly message?: never;
}

/**
 * A message route: hrmr frames the stream (prefix included) into messages,
 * calls `message` for each, and writes the replies back in order.
 */
export interface MessageRoute extends RouteBase {
  /** How to cut messages; default `'line'`. */
  readonly framing?: Framing;
  /** Run `message` on the worker-thread pool instead of the main thread. */
  readonly pool?: boolean;
  /** Handles one message. A throw or rejection writes `ERR <message>\n` and closes the connection. */
  message(msg: Buffer, ctx: Context): Reply | Promise<Reply>;
  readonly connection?: never;
}

/** A route is either a stream route or a message route. */
export type Route = StreamRoute | MessageRoute;

/** The default export of a module file (`modules/NAME.mjs`). */
export interface Module {
  /** Display name; defaults to the file's base name. */
  readonly name?: string;
  /** The routes this module claims. */
  readonly routes: readonly Route[];
  /** Runs before this version goes live (and in each pool worker that loads it). A throw keeps the previous version serving. */
  setup?(ctx: SetupContext): void | Promise<void>;
  /**
   * Runs when this version is retired and its connections have drained (and
   * in each pool worker that loaded it). Release every timer, listener and
   * handle here: anything left alive pins this version in memory for good.
   */
  dispose?(): void | Promise<void>;
}

/**
 * Identity function that gives a module literal full type inference.
 *
 * @example
 * export default defineModule({ routes: [{ prefix: 'PING', message: () => 'PONG\n' }] });
 */
export function defineModule<const M extends Module>(module: M): M {
  return module;
}

/** A line handler: gets the line as text (no `\n`, no trailing `\r`) and returns the reply line. */
export type LineHandler = (line: string, ctx: Context) => string | null | undefined | Promise<string | null | undefined>;

/** Options of {@link lineRoute}. */
export interface LineRouteOptions {
  /** Run the handler on the worker-thread pool (see {@link MessageRoute.pool}). */
  readonly pool?: boolean;
  /** See {@link RouteBase.maxConnections}. */
  readonly maxConnections?: number;
  /** See {@link RouteBase.idleTimeout}. */
  readonly idleTimeout?: number;
}

/**
 * Builds a `'line'` message route from a text handler: the line arrives as a
 * UTF-8 string, and the returned string gets `\n` appended. `null` or
 * `undefined` writes nothing.
 *
 * @example
 * lineRoute('ECHO ', (line) => line.slice(5))
 */
export function lineRoute(prefix: Prefix, handler: LineHandler, options: LineRouteOptions = {}): MessageRoute {
  return {
    ...options,
    prefix,
    framing: 'line',
    message(msg: Buffer, ctx: Context): Reply | Promise<Reply> {
      const out = handler(msg.toString('utf8'), ctx);
      if (out instanceof Promise) return out.then(appendNewline);
      return appendNewline(out);
    },
  };
}

function appendNewline(s: string | null | undefined): Reply {
  return s == null ? s : s + '\n';
}

/** Splits a line into its first word and the rest: `splitWord('HASH sha256 abc')` gives `['HASH', 'sha256 abc']`. */
export function splitWord(line: string): [string, string] {
  const i = line.indexOf(' ');
  return i < 0 ? [line, ''] : [line.slice(0, i), line.slice(i + 1)];
}
