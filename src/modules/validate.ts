// SPDX-License-Identifier: LGPL-3.0-or-later
/**
 * Checks a module's default export against the contract and compiles its
 * routes. Pure: no I/O. Every problem is reported, not just the first,
 * including keys the contract does not know (`route:` for `routes:`).
 */
import type { Module, Route, SetupContext, Context, Reply, PoolHttpRequest, PoolHttpResponse } from '../../shared/index.ts';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { prefixBytes } from '../router/prefix-table.ts';
import { shadowedWord } from '../admin/reserved.ts';
import { ModuleShapeError } from '../errors.ts';
import { prefixKey } from '../http/path-table.ts';
import { sniPattern } from '../router/matcher-sni.ts';

export type RouteKind = 'stream' | 'message' | 'http' | 'sni';

export interface CompiledRoute {
  readonly index: number;
  /** Byte prefix (stream and message routes); empty for HTTP routes. */
  readonly prefix: Buffer;
  /** Printable form for logs and STATUS: the prefix, or the HTTP path as written. */
  readonly label: string;
  readonly kind: RouteKind;
  readonly framing: 'line' | 'whole';
  readonly pool: boolean;
  readonly maxConnections: number;
  /** ms; undefined = use the server default. */
  readonly idleTimeout: number | undefined;
  readonly connection?: (socket: Socket, ctx: Context) => void;
  readonly message?: (msg: Buffer, ctx: Context) => Reply | Promise<Reply>;
  /** HTTP routes: the path key (see path-table.ts). */
  readonly httpKey?: string;
  /** HTTP routes: upper-cased methods served (HEAD added with GET); null = every method. */
  readonly methods?: ReadonlySet<string> | null;
  /** HTTP routes: the `Allow` header value for a 405. */
  readonly allow?: string;
  readonly maxBody?: number;
  readonly request?: (req: IncomingMessage, res: ServerResponse, ctx: Context) => void | Promise<void>;
  readonly poolRequest?: (req: PoolHttpRequest, ctx: Context) => PoolHttpResponse | Promise<PoolHttpResponse>;
  readonly upgrade?: (req: IncomingMessage, socket: Duplex, head: Buffer, ctx: Context) => void;
  /** HTTP routes: upgraded sockets outlive the version (see HttpRoute.persistent). */
  readonly persistent?: boolean;
  /** SNI (TLS passthrough) routes: the server-name pattern, normalised (`db.internal`, `*.bots.internal`). */
  readonly sni?: string;
}

export interface ModuleSpec {
  readonly name: string;
  readonly routes: readonly CompiledRoute[];
  readonly setup?: (ctx: SetupContext) => void | Promise<void>;
  readonly dispose?: () => void | Promise<void>;
  readonly status?: () => unknown;
}

export const DEFAULT_MAX_BODY = 1024 * 1024;

const MODULE_KEYS = new Set(['name', 'routes', 'setup', 'dispose', 'status']);
const STREAM_KEYS = new Set(['prefix', 'connection', 'maxConnections', 'idleTimeout']);
const MESSAGE_KEYS = new Set(['prefix', 'message', 'framing', 'pool', 'maxConnections', 'idleTimeout']);
const HTTP_KEYS = new Set(['http', 'methods', 'request', 'upgrade', 'pool', 'maxBody', 'persistent']);
const SNI_KEYS = new Set(['sni', 'connection', 'maxConnections', 'idleTimeout']);
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

/**
 * A byte prefix as text for humans: printable ASCII as it is, every other
 * byte as `\xNN` (so a reader and `jq` see `SAME`, not `"SAME"`).
 */
export function prefixLabel(prefix: Buffer): string {
  let out = '';
  for (const b of prefix) out += b >= 0x20 && b < 0x7f && b !== 0x5c ? String.fromCharCode(b) : b === 0x5c ? '\\\\' : `\\x${b.toString(16).padStart(2, '0')}`;
  return out;
}

function unknownKeys(obj: object, known: ReadonlySet<string>, where: string, problems: string[]): void {
  for (const k of Object.keys(obj)) {
    if (known.has(k)) continue;
    const hint = k === 'route' && known.has('routes') ? ' (did you mean routes?)' : '';
    problems.push(`${where}: unknown key ${JSON.stringify(k)}${hint}; known keys: ${[...known].join(', ')}`);
  }
}

/**
 * Validates the default export. `config` is the module's configuration,
 * given to `routes(config)` when routes is a function.
 */
export function validateModule(exported: unknown, fileBase: string, config: Readonly<Record<string, string>> = {}): ModuleSpec {
  const problems: string[] = [];
  const m = exported as Partial<Module> | null;
  if (m === null || typeof m !== 'object') {
    throw new ModuleShapeError(fileBase, ['default export must be an object { routes, setup?, dispose? }']);
  }
  let name = fileBase;
  if (m.name !== undefined) {
    if (typeof m.name !== 'string' || !/^[A-Za-z0-9_.-]{1,64}$/.test(m.name)) problems.push('name must be 1-64 characters of A-Z a-z 0-9 _ . -');
    else name = m.name;
  }
  unknownKeys(m, MODULE_KEYS, 'default export', problems);
  for (const hook of ['setup', 'dispose', 'status'] as const) {
    if (m[hook] !== undefined && typeof m[hook] !== 'function') problems.push(`${hook} must be a function`);
  }
  let list: unknown = m.routes;
  if (typeof list === 'function') {
    try {
      list = (list as (c: Readonly<Record<string, string>>) => unknown).call(m, config);
    } catch (err) {
      problems.push(`routes(config) threw: ${err instanceof Error ? err.message : String(err)}`);
      list = [];
    }
  }
  const routes: CompiledRoute[] = [];
  if (!Array.isArray(list)) problems.push(typeof m.routes === 'function' ? 'routes(config) must return an array' : 'routes must be an array (or a function of the config returning one)');
  else {
    const seen = new Set<string>();
    (list as Route[]).forEach((r: Route, i: number) => {
      const where = `routes[${i}]`;
      const compiled = compileRoute(r, i, where, problems);
      if (!compiled) return;
      const key = compiled.kind === 'http' ? `http:${compiled.httpKey}` : compiled.kind === 'sni' ? `sni:${compiled.sni}` : compiled.prefix.toString('latin1');
      if (seen.has(key)) problems.push(`${where}: ${compiled.kind === 'http' ? 'path' : compiled.kind === 'sni' ? 'server name' : 'prefix'} ${compiled.label} appears twice in this module`);
      seen.add(key);
      routes.push(compiled);
    });
  }
  if (problems.length > 0) throw new ModuleShapeError(name, problems);
  return {
    name,
    routes,
    ...(m.setup ? { setup: m.setup.bind(m) } : {}),
    ...(m.dispose ? { dispose: m.dispose.bind(m) } : {}),
    ...(m.status ? { status: m.status.bind(m) } : {}),
  };
}

function compileRoute(r: Route, index: number, where: string, problems: string[]): CompiledRoute | null {
  if (r === null || typeof r !== 'object') {
    problems.push(`${where} must be an object`);
    return null;
  }
  if ('http' in r && r.http !== undefined) return compileHttpRoute(r, index, where, problems);
  if ('sni' in r && (r as { sni?: unknown }).sni !== undefined) return compileSniRoute(r, index, where, problems);
  const b = r as Route & { prefix?: unknown; connection?: unknown; message?: unknown; framing?: unknown; pool?: unknown; maxConnections?: unknown; idleTimeout?: unknown };
  if (typeof b.prefix !== 'string' && !(b.prefix instanceof Uint8Array)) {
    problems.push(`${where}.prefix must be a string or Uint8Array (or give an http path for an HTTP route)`);
    return null;
  }
  const prefix = prefixBytes(b.prefix);
  const label = prefixLabel(prefix);
  const word = shadowedWord(prefix);
  if (word) problems.push(`${where}: prefix ${label} shadows the built-in command ${word}`);
  const hasConn = typeof b.connection === 'function';
  const hasMsg = typeof b.message === 'function';
  if (hasConn === hasMsg) {
    problems.push(`${where} needs exactly one of connection(socket, ctx) or message(msg, ctx)`);
    return null;
  }
  unknownKeys(r, hasConn ? STREAM_KEYS : MESSAGE_KEYS, where, problems);
  const framing = b.framing ?? 'line';
  if (framing !== 'line' && framing !== 'whole') problems.push(`${where}.framing must be 'line' or 'whole'`);
  const pool = b.pool ?? false;
  if (typeof pool !== 'boolean') problems.push(`${where}.pool must be a boolean`);
  return {
    index,
    prefix,
    label,
    kind: hasConn ? 'stream' : 'message',
    framing: framing as 'line' | 'whole',
    pool: pool === true,
    ...connectionLimits(b, where, problems),
    ...(hasConn ? { connection: (b.connection as NonNullable<CompiledRoute['connection']>).bind(r) } : { message: (b.message as NonNullable<CompiledRoute['message']>).bind(r) }),
  };
}

/** `maxConnections` and `idleTimeout` of a route that owns connections (byte-prefix and sni routes), checked. */
function connectionLimits(b: { maxConnections?: unknown; idleTimeout?: unknown }, where: string, problems: string[]): { maxConnections: number; idleTimeout: number | undefined } {
  const maxConnections = b.maxConnections ?? Infinity;
  if (typeof maxConnections !== 'number' || !(maxConnections >= 1)) problems.push(`${where}.maxConnections must be a number >= 1`);
  const idleTimeout = b.idleTimeout;
  if (idleTimeout !== undefined && (typeof idleTimeout !== 'number' || !(idleTimeout >= 0))) problems.push(`${where}.idleTimeout must be a number of ms >= 0`);
  return { maxConnections: maxConnections as number, idleTimeout: idleTimeout as number | undefined };
}

function compileHttpRoute(r: Route, index: number, where: string, problems: string[]): CompiledRoute | null {
  const h = r as { http: unknown; methods?: unknown; request?: unknown; upgrade?: unknown; pool?: unknown; maxBody?: unknown; persistent?: unknown };
  if (h.persistent !== undefined && typeof h.persistent !== 'boolean') problems.push(`${where}.persistent must be a boolean`);
  unknownKeys(r, HTTP_KEYS, where, problems);
  const key = typeof h.http === 'string' ? prefixKey(h.http) : null;
  if (key === null) {
    problems.push(`${where}.http must be a path starting with / (no spaces, ? or #), got ${JSON.stringify(h.http)}`);
    return null;
  }
  if (typeof h.request !== 'function') problems.push(`${where} needs request(req, res, ctx)`);
  const pool = h.pool ?? false;
  if (typeof pool !== 'boolean') problems.push(`${where}.pool must be a boolean`);
  if (h.upgrade !== undefined && typeof h.upgrade !== 'function') problems.push(`${where}.upgrade must be a function`);
  if (pool === true && h.upgrade !== undefined) problems.push(`${where}: upgrade runs on the main thread; it cannot be on a pool route`);
  const maxBody = h.maxBody ?? DEFAULT_MAX_BODY;
  if (typeof maxBody !== 'number' || !Number.isInteger(maxBody) || maxBody < 0) problems.push(`${where}.maxBody must be an integer number of bytes >= 0`);
  if (h.maxBody !== undefined && pool !== true) problems.push(`${where}.maxBody applies to pool routes only (a main-thread handler reads the body itself)`);
  let methods: Set<string> | null = null;
  if (h.methods !== undefined) {
    if (!Array.isArray(h.methods) || h.methods.length === 0 || !h.methods.every((x) => typeof x === 'string' && TOKEN.test(x))) {
      problems.push(`${where}.methods must be a non-empty array of method names`);
    } else {
      methods = new Set(h.methods.map((x: string) => x.toUpperCase()));
      if (methods.has('GET')) methods.add('HEAD');
    }
  }
  if (typeof h.request !== 'function') return null;
  const bound = (h.request as (...a: unknown[]) => unknown).bind(r);
  return {
    index,
    prefix: Buffer.alloc(0),
    label: h.http as string,
    kind: 'http',
    framing: 'line',
    pool: pool === true,
    maxConnections: Infinity,
    idleTimeout: undefined,
    httpKey: key,
    methods,
    allow: methods === null ? '' : [...methods].join(', '),
    maxBody: maxBody as number,
    ...(pool === true ? { poolRequest: bound as CompiledRoute['poolRequest'] } : { request: bound as CompiledRoute['request'] }),
    ...(typeof h.upgrade === 'function' ? { upgrade: (h.upgrade as NonNullable<CompiledRoute['upgrade']>).bind(r) } : {}),
    ...(h.persistent === true ? { persistent: true } : {}),
  };
}

/** A TLS passthrough route: `{ sni: 'db.internal' | '*.bots.internal', connection(socket, ctx) }`. */
function compileSniRoute(r: Route, index: number, where: string, problems: string[]): CompiledRoute | null {
  const b = r as unknown as { sni: unknown; connection?: unknown; maxConnections?: unknown; idleTimeout?: unknown };
  unknownKeys(r, SNI_KEYS, where, problems);
  const pattern = typeof b.sni === 'string' ? sniPattern(b.sni) : null;
  if (pattern === null) {
    problems.push(`${where}.sni must be a server name such as 'db.internal' or '*.bots.internal', got ${JSON.stringify(b.sni)}`);
    return null;
  }
  if (typeof b.connection !== 'function') {
    problems.push(`${where} needs connection(socket, ctx) (an sni route gets the raw TLS stream)`);
    return null;
  }
  return {
    index,
    prefix: Buffer.alloc(0),
    label: `sni:${pattern}`,
    kind: 'sni',
    framing: 'line',
    pool: false,
    ...connectionLimits(b, where, problems),
    sni: pattern,
    connection: (b.connection as NonNullable<CompiledRoute['connection']>).bind(r),
  };
}
