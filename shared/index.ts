// SPDX-License-Identifier: MIT
/**
 * The hrmr module API: the contract a module's default export satisfies, and
 * small helpers for writing one. This folder is MIT-licensed so modules that
 * import it can stay private.
 *
 * @packageDocumentation
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
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
  /** See {@link Keep}: state shared by every version of this module in this thread. */
  readonly keep: Keep;
  /**
   * The connection's TLS, when hrmr terminated it (`--tls-cert`); `null` for
   * a plain connection. On an `sni` passthrough route only `servername` is
   * set (nothing is decrypted).
   */
  readonly tls: TlsInfo | null;
  /** See {@link ModuleMetrics}: this module's own Prometheus metrics. */
  readonly metrics: ModuleMetrics;
}

/** What a terminated TLS connection tells its handlers (`ctx.tls`). */
export interface TlsInfo {
  /** The SNI name the client asked for (lower case), or null. */
  readonly servername: string | null;
  /** The ALPN protocol selected (`http/1.1`, or the client's own), or null. */
  readonly alpnProtocol: string | null;
  /** True when the client sent a certificate that `--tls-ca` signed. */
  readonly authorized: boolean;
  /** The client certificate's subject (`{ CN: 'bot1', O: '...' }`), or null without one. */
  readonly subject: Readonly<Record<string, string | string[]>> | null;
  /** The client certificate's SHA-256 fingerprint (`AB:CD:...`), or null. */
  readonly fingerprint256: string | null;
}

/**
 * State that outlives a version (Erlang's code_change, made simple):
 * `keep(key, init)` returns the same value to every version of the same
 * module in this thread (the main thread, or one pool worker). `init` runs
 * once, the first time a key is asked for. `dispose`, given by the version
 * that created the value, runs when the module is unloaded for good (its
 * file deleted) or the server shuts down — not on a reload.
 *
 * Keep data (maps, queues, counters, sockets), not code: a function or class
 * instance created by one version keeps that version's code in memory for as
 * long as it is kept.
 *
 * @example
 * const stats = ctx.keep('stats', () => ({ requests: 0 }));
 * stats.requests++;
 */
export type Keep = <T>(key: string, init: () => T, dispose?: (value: T) => void | Promise<void>) => T;

/** Context given to `setup`. */
export interface SetupContext {
  /** The module's name. */
  readonly module: string;
  /** The version being set up. */
  readonly version: number;
  /**
   * Configuration for this module: `--set NAME.key=value` on the command line
   * and `HRMR_CFG_NAME_KEY` environment variables (NAME and KEY upper-cased,
   * `-` as `_`), keys lower-cased. `redis` holds `--redis URL` (env
   * `HRMR_REDIS`) unless `--set NAME.redis=URL` overrides it.
   */
  readonly config: Readonly<Record<string, string>>;
  /** A pino child logger carrying the module name and version. */
  readonly log: Logger;
  /** `'main'` on the main thread, `'worker'` inside a pool worker. */
  readonly thread: 'main' | 'worker';
  /**
   * Server processes sharing this port (`--workers N`; 1 without it). A
   * module that keeps shared state in memory must refuse to load (throw from
   * `setup`, naming the setting) when this is over 1 and it has no external
   * store such as `config.redis`.
   */
  readonly processes: number;
  /** The worker thread id (0 on the main thread). */
  readonly threadId: number;
  /** See {@link Keep}. */
  readonly keep: Keep;
  /** See {@link ModuleMetrics}. */
  readonly metrics: ModuleMetrics;
}

/** Label values of one series: every label the metric declared, each a string or number. */
export type MetricLabels = Readonly<Record<string, string | number>>;

/** A counter: only goes up. */
export interface MetricCounter {
  inc(value?: number): void;
  inc(labels: MetricLabels, value?: number): void;
}

/** A gauge: a value that goes up and down. */
export interface MetricGauge {
  set(value: number): void;
  set(labels: MetricLabels, value: number): void;
  inc(value?: number): void;
  inc(labels: MetricLabels, value?: number): void;
  dec(value?: number): void;
  dec(labels: MetricLabels, value?: number): void;
}

/** A histogram of observed values (seconds for durations, bytes for sizes). */
export interface MetricHistogram {
  observe(value: number): void;
  observe(labels: MetricLabels, value: number): void;
}

/**
 * Reads a metric's value(s) at scrape time, from numbers the module keeps
 * anyway (its `status()` counters, queue sizes): a number (no labels), or
 * `[labels, value]` pairs. A collected metric takes its values only from
 * here (calls to inc/set are overwritten). The newest version's `collect`
 * is the one used; main thread only (ignored in pool workers).
 */
export type MetricCollect = () => number | ReadonlyArray<readonly [MetricLabels, number]> | null | undefined;

/**
 * A module's own Prometheus metrics, served on `/metrics` with hrmr's.
 * Names start with `hrmr_` (counters end in `_total`); label names are
 * declared up front and their values must stay few (never raw paths, user
 * names or ids). A metric is registered once per module: every version of
 * the module that asks for the same name (same type and labels) gets the
 * same metric, so counts go on across RELOADs. A name another module (or
 * hrmr itself) uses throws. In a pool worker, counters and histograms add
 * up into the main thread's (within about 200 ms); a gauge set there is the
 * last value any thread set. With `--metrics-path off` every call is a no-op.
 *
 * @example
 * const served = ctx.metrics.counter('hrmr_echo_lines_total', 'Lines echoed', ['kind']);
 * served.inc({ kind: 'text' });
 */
export interface ModuleMetrics {
  /** `collect`: see {@link MetricCollect}. */
  counter(name: string, help: string, labels?: readonly string[], collect?: MetricCollect): MetricCounter;
  /** `collect`: see {@link MetricCollect}. */
  gauge(name: string, help: string, labels?: readonly string[], collect?: MetricCollect): MetricGauge;
  /** `buckets`: upper bounds (default: 0.1 ms .. 10 s, for durations in seconds). */
  histogram(name: string, help: string, labels?: readonly string[], buckets?: readonly number[]): MetricHistogram;
}

/** Fields common to the byte-prefix route kinds (stream and message). */
export interface RouteBase {
  /** Connections starting with these bytes go to this route; the longest matching prefix wins. */
  readonly prefix: Prefix;
  /** Most connections this route holds at once; extra ones get `ERR busy` and are closed. */
  readonly maxConnections?: number;
  /** Close a connection after this many ms without traffic (overrides `--idle-timeout`; 0 = never). */
  readonly idleTimeout?: number;
  readonly sni?: never;
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
  readonly http?: never;
  /** Stream routes run on the main thread. Declared so `pool` tells every route kind apart (handlers are typed whatever their parameter count). */
  readonly pool?: never;
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
  readonly http?: never;
}

/** Fields common to HTTP routes (main-thread and pool). */
export interface HttpRouteBase {
  /**
   * The path prefix this route serves. It matches a request path (the part
   * before `?`) that equals it or continues it at a `/` boundary: `/t/`
   * matches `/t/x` and `/t`; `/health` matches `/health`, `/health/` and
   * `/health?x`, never `/healthz`. The longest matching prefix wins over
   * every module; `/` is the catch-all.
   */
  readonly http: string;
  /** Methods served (default: all). Others get 405 with `Allow`. `GET` allows `HEAD` too. */
  readonly methods?: readonly string[];
  readonly prefix?: never;
  readonly sni?: never;
}

/**
 * An HTTP route on the main thread: hrmr's HTTP host parses the request
 * (node's own parser) and calls `request` with node's objects. Requests are
 * routed one by one, so one keep-alive connection may visit many modules.
 */
export interface HttpRoute extends HttpRouteBase {
  readonly pool?: false;
  request(req: IncomingMessage, res: ServerResponse, ctx: Context): void | Promise<void>;
  /**
   * Requests with an `Upgrade:` header (WebSocket). The socket belongs to the
   * module from here on; it stays on this version until it closes. Without
   * `upgrade`, such requests get their normal answer and the connection closes.
   */
  upgrade?(req: IncomingMessage, socket: Duplex, head: Buffer, ctx: Context): void;
  /**
   * Upgraded sockets are not tied to the version that accepted them: they
   * outlive RELOADs (no drain timeout closes them) and the old version is
   * disposed without waiting for them. For modules that keep their sockets
   * in `ctx.keep` state and reach them only through it, so no old code runs
   * for them. At shutdown they are left to the kept state's `dispose`
   * (close them there, e.g. with WebSocket code 1001), after HTTP requests
   * have drained.
   */
  readonly persistent?: boolean;
}

/** What a pool HTTP handler receives: plain data, the body already read. */
export interface PoolHttpRequest {
  readonly method: string;
  /** The request target as sent (path and query). */
  readonly url: string;
  /** The path, before `?`, not decoded. */
  readonly path: string;
  /** The raw query string after `?` (`''` if none). */
  readonly query: string;
  /** Header names lower-cased; repeated headers joined with `, `. */
  readonly headers: Readonly<Record<string, string>>;
  readonly body: Buffer;
  readonly remoteAddress: string;
}

/** What a pool HTTP handler returns. Status defaults to 200; a string body is sent as UTF-8. */
export interface PoolHttpResponse {
  readonly status?: number;
  readonly headers?: Readonly<Record<string, string | number | readonly string[]>>;
  readonly body?: string | Uint8Array | null;
}

/**
 * An HTTP route whose handler runs on the worker-thread pool, so blocking
 * work (synchronous file or database calls) never stalls the event loop.
 * The host reads the body first (at most `maxBody` bytes, else 413). A pool
 * timeout answers 504, a full queue 503, a throw 500.
 */
export interface PoolHttpRoute extends HttpRouteBase {
  readonly pool: true;
  /** Largest request body read, in bytes (default 1 MiB); larger gets 413. */
  readonly maxBody?: number;
  request(req: PoolHttpRequest, ctx: Context): PoolHttpResponse | Promise<PoolHttpResponse>;
  readonly upgrade?: never;
}

/**
 * A TLS passthrough route: connections whose ClientHello asks for this
 * server name get the raw TLS stream from byte 0 (the ClientHello
 * included), undecrypted, e.g. to forward to a backend holding its own
 * certificate. `'db.internal'` matches that name exactly; `'*.bots.internal'`
 * one more label (`a.bots.internal`). An exact name beats a wildcard, and an
 * `sni` route beats termination (`--tls-cert`) for its names.
 */
export interface SniRoute {
  readonly sni: string;
  /** Called once per connection, on the main thread; `ctx.tls.servername` holds the name asked for. */
  connection(socket: Socket, ctx: Context): void;
  /** See {@link RouteBase.maxConnections}. */
  readonly maxConnections?: number;
  /** See {@link RouteBase.idleTimeout}. */
  readonly idleTimeout?: number;
  readonly prefix?: never;
  readonly http?: never;
  readonly message?: never;
  /** Passthrough routes run on the main thread (declared so `pool` tells every route kind apart). */
  readonly pool?: never;
}

/** A route: a byte-prefix stream or message route, an HTTP path route, or a TLS server-name route. */
export type Route = StreamRoute | MessageRoute | HttpRoute | PoolHttpRoute | SniRoute;

/** The default export of a module file (`modules/NAME.mjs`). */
export interface Module {
  /** Display name; defaults to the file's base name. */
  readonly name?: string;
  /**
   * The routes this module claims, or a function of the module's config that
   * returns them (run when the version loads), so mount points can be set
   * with `--set NAME.mount=/x/`.
   */
  readonly routes: readonly Route[] | ((config: Readonly<Record<string, string>>) => readonly Route[]);
  /** Runs before this version goes live (and in each pool worker that loads it). A throw keeps the previous version serving. */
  setup?(ctx: SetupContext): void | Promise<void>;
  /**
   * Runs when this version is retired and its connections have drained (and
   * in each pool worker that loaded it). Release every timer, listener and
   * handle here: anything left alive pins this version in memory for good.
   */
  dispose?(): void | Promise<void>;
  /** Optional: what STATUS shows for this module (queues, clients, counters), as plain JSON data. */
  status?(): unknown;
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

// The service kit: settings, request bodies, Redis clients kept across reloads (docs/modules.md, "Service kit").
export { ConfigError, formatDuration, formatSize, parseBool, parseDuration, parseList, parseSize, redactUrl, Setting, setting, Settings, settings } from './config.js';
export type { DurationOptions, ListOptions, NumberOptions, UrlOptions } from './config.js';
export { answerTooLarge, BodyAbortedError, BodyTooLargeError, readBody, readBodyCallback } from './body.js';
export type { ReadBodyOptions, TooLargeReply } from './body.js';
export { dropRedis, keptRedis, REDIS_POLICY } from './redis.js';
export type { KeptRedisOptions, RedisHandlers } from './redis.js';
