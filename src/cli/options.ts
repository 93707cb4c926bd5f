// SPDX-License-Identifier: LGPL-3.0-or-later
/**
 * The server's command-line options: declared once as data, parsed by
 * commander, validated here. Bad values raise UsageError (exit status 2)
 * with a one-line message naming the flag.
 */
import { existsSync, mkdirSync, statSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { resolve } from 'node:path';
import { Option, type Command } from 'commander';
import { TlsFileError, UsageError } from '../errors.ts';
import { LOG_LEVELS } from '../log.ts';
import { CertStore } from '../tls/certs.ts';
import type { ClientAuth } from '../tls/front.ts';
import { CidrList } from '../proxy/cidr.ts';
import { BUNDLED_MODULES, parseBundled } from '../modules/bundled.ts';

/** Every long option the server takes; the argv normalizer rewrites `-name` for these. */
export const SERVER_FLAGS = [
  'port', 'threads', 'host', 'modules', 'peek-timeout', 'max-peek', 'drain-timeout', 'log-level', 'admin-token', 'pretty',
  'watch', 'src', 'max-connections', 'idle-timeout', 'reload-mode', 'task-timeout', 'max-queue', 'max-message', 'set',
  'redis', 'http-keep-alive-timeout', 'http-headers-timeout', 'http-max-header-size', 'workers', 'hang-timeout', 'recycle-after',
  'setup-timeout',
  'tls-cert', 'tls-key', 'tls-ca', 'tls-client-auth', 'proxy-protocol-from',
  'metrics-path', 'access-log',
  'bundled', 'build',
] as const;

/** Flags of the client and build subcommands, also accepted in single-dash form. */
export const OTHER_FLAGS = ['out', 'prefix', 'pool', 'timeout', 'send', 'wait'] as const;

export interface RawServerOptions {
  port: string;
  threads: string;
  host: string;
  modules: string;
  peekTimeout: string;
  maxPeek: string;
  drainTimeout: string;
  logLevel: string;
  adminToken?: string;
  pretty?: boolean;
  watch?: boolean;
  src: string;
  maxConnections: string;
  idleTimeout: string;
  /** Undefined when neither the flag nor HRMR_RELOAD_MODE is given: graceful with --watch, else 503. */
  reloadMode?: string;
  taskTimeout: string;
  maxQueue: string;
  maxMessage: string;
  set: string[];
  redis?: string;
  httpKeepAliveTimeout: string;
  httpHeadersTimeout: string;
  httpMaxHeaderSize: string;
  workers?: string;
  hangTimeout: string;
  recycleAfter: string;
  setupTimeout: string;
  tlsCert: string[];
  tlsKey: string[];
  tlsCa?: string;
  tlsClientAuth: string;
  proxyProtocolFrom?: string;
  metricsPath: string;
  accessLog?: boolean;
  bundled: string;
  build?: boolean;
}

export interface CliServerOptions {
  port: number;
  threads: number;
  host: string;
  modulesDir: string;
  peekTimeoutMs: number;
  maxPeek: number;
  drainTimeoutMs: number;
  logLevel: (typeof LOG_LEVELS)[number];
  adminToken: string | null;
  pretty: boolean;
  watch: boolean;
  srcDir: string;
  maxConnections: number;
  idleTimeoutMs: number;
  reloadMode: '503' | 'graceful';
  taskTimeoutMs: number;
  maxQueue: number;
  maxMessage: number;
  config: Map<string, Record<string, string>>;
  /** `--redis URL`: the default `redis` setting of every module (null = none). */
  redis: string | null;
  httpKeepAliveTimeoutMs: number;
  httpHeadersTimeoutMs: number;
  httpMaxHeaderSize: number;
  /** null = one process, as without the flag. */
  workers: number | null;
  hangTimeoutMs: number;
  recycleAfter: number;
  /** A module version's import + setup + pool preparation, at most (0 = no bound). */
  setupTimeoutMs: number;
  /** `--tls-cert`/`--tls-key` pairs, loaded (null: no TLS termination). */
  tls: { store: CertStore; clientAuth: ClientAuth } | null;
  /** `--proxy-protocol-from` CIDRs, validated (null: no source is trusted). */
  proxyProtocolFrom: string | null;
  /** `--metrics-path`: null when `off`. */
  metricsPath: string | null;
  accessLog: boolean;
  /** `--bundled`: the bundled modules to load beside --modules (names; empty = none). */
  bundled: readonly string[];
  /** `--build`: build --src into --modules before serving, type-check beside (npm start). */
  build: boolean;
}

function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}

/** Adds the server options to a commander command. */
export function addServerOptions(cmd: Command): Command {
  const opt = (flags: string, description: string, env: string, def?: string): Option => {
    const o = new Option(flags, description).env(env);
    return def === undefined ? o : o.default(def);
  };
  return cmd
    .addOption(opt('-p, --port <port>', 'TCP port to listen on (0 picks a free one)', 'HRMR_PORT', '8080'))
    .addOption(opt('-t, --threads <n>', 'worker threads in the pool for `pool: true` routes', 'HRMR_THREADS', '4'))
    .addOption(opt('--host <address>', 'address to bind; the default keeps hrmr off the network', 'HRMR_HOST', '127.0.0.1'))
    .addOption(opt('--modules <dir>', 'folder of built modules (*.mjs)', 'HRMR_MODULES', './modules'))
    .addOption(opt('--peek-timeout <ms>', 'time a new connection has to match a route', 'HRMR_PEEK_TIMEOUT', '3000'))
    .addOption(opt('--max-peek <bytes>', 'bytes read at most to match a route', 'HRMR_MAX_PEEK', '16384'))
    .addOption(opt('--drain-timeout <ms>', 'time old connections keep an old version (and SHUTDOWN waits)', 'HRMR_DRAIN_TIMEOUT', '30000'))
    .addOption(opt('--log-level <level>', `pino level: ${LOG_LEVELS.join(', ')}`, 'HRMR_LOG_LEVEL', 'info'))
    .addOption(opt('--admin-token <token>', 'require `AUTH <token>` before admin commands, from any peer', 'HRMR_ADMIN_TOKEN'))
    // Boolean flags: commander reads any value of a boolean's env var as true, so these read theirs in validate (envBool).
    .addOption(new Option('--pretty', 'human-readable logs (default: on a terminal; env HRMR_PRETTY=1|0)'))
    .addOption(new Option('--no-pretty', 'JSON logs, even on a terminal'))
    .addOption(new Option('--watch', 'rebuild and reload modules when modules_src/ or shared/ change (env HRMR_WATCH=1|0)'))
    .addOption(new Option('--no-watch', 'do not watch (overrides HRMR_WATCH)'))
    .addOption(opt('--src <dir>', 'module sources for --watch', 'HRMR_SRC', './modules_src'))
    .addOption(opt('--max-connections <n>', 'open connections at most; more are refused in their own protocol (HTTP 503, else `ERR busy`) and closed', 'HRMR_MAX_CONNECTIONS', '10000'))
    .addOption(opt('--idle-timeout <ms>', 'close routed connections idle this long (0 = never)', 'HRMR_IDLE_TIMEOUT', '0'))
    .addOption(opt('--reload-mode <mode>', "'503': a module being swapped answers 503; 'graceful': its old version serves until the new one is ready (default: 503; graceful with --watch)", 'HRMR_RELOAD_MODE'))
    .addOption(opt('--task-timeout <ms>', 'abort a pool task running longer (0 = never)', 'HRMR_TASK_TIMEOUT', '30000'))
    .addOption(opt('--max-queue <n>', 'pool tasks waiting at most; more get `ERR busy`', 'HRMR_MAX_QUEUE', '1024'))
    .addOption(opt('--max-message <bytes>', "largest message for 'whole' framing", 'HRMR_MAX_MESSAGE', String(16 * 1024 * 1024)))
    .addOption(opt('--redis <url>', 'default Redis for every module that can use one (ctx.config.redis; --set NAME.redis overrides)', 'HRMR_REDIS'))
    .addOption(opt('--http-keep-alive-timeout <ms>', 'close idle keep-alive HTTP connections after this long', 'HRMR_HTTP_KEEP_ALIVE_TIMEOUT', '5000'))
    .addOption(opt('--http-headers-timeout <ms>', 'a client must send a whole HTTP request head within this long (408 after)', 'HRMR_HTTP_HEADERS_TIMEOUT', '20000'))
    .addOption(opt('--http-max-header-size <bytes>', 'largest HTTP request head (431 above)', 'HRMR_HTTP_MAX_HEADER_SIZE', '16384'))
    .addOption(opt('--workers <n|auto>', 'worker processes under a supervisor (auto = one per core); without it, one process', 'HRMR_WORKERS'))
    .addOption(opt('--hang-timeout <ms>', 'with --workers: replace a worker whose event loop is blocked this long (0 = off)', 'HRMR_HANG_TIMEOUT', '10000'))
    .addOption(opt('--recycle-after <n>', 'with --workers: replace a worker after this many reloads of changed modules (0 = never)', 'HRMR_RECYCLE_AFTER', '100'))
    .addOption(opt('--setup-timeout <ms>', "a module version's import, setup and pool preparation must finish within this; past it the load fails and the version serving keeps serving (0 = no bound)", 'HRMR_SETUP_TIMEOUT', '10000'))
    .addOption(new Option('--tls-cert <file>', 'PEM certificate (chain) to terminate TLS with; repeatable, paired in order with --tls-key (env HRMR_TLS_CERT: one)').env('HRMR_TLS_CERT').argParser(collect).default([]))
    .addOption(new Option('--tls-key <file>', 'PEM private key of the --tls-cert at the same position (env HRMR_TLS_KEY)').env('HRMR_TLS_KEY').argParser(collect).default([]))
    .addOption(opt('--tls-ca <file>', 'PEM CA certificates that sign accepted client certificates', 'HRMR_TLS_CA'))
    .addOption(opt('--tls-client-auth <mode>', 'client certificates: none, request (ctx.tls.authorized tells) or require (no valid certificate, no handshake)', 'HRMR_TLS_CLIENT_AUTH', 'none'))
    .addOption(opt('--proxy-protocol-from <cidr,...>', 'connections from these sources must start with a PROXY protocol v1/v2 header carrying the client address', 'HRMR_PROXY_PROTOCOL_FROM'))
    .addOption(opt('--metrics-path <path>', "where Prometheus metrics are served on the main port ('off' turns metrics off)", 'HRMR_METRICS_PATH', '/metrics'))
    .addOption(new Option('--access-log', 'one log line per HTTP request and per closed message/stream connection (env HRMR_ACCESS_LOG=1|0)'))
    .addOption(new Option('--no-access-log', 'no access log (overrides HRMR_ACCESS_LOG)'))
    .addOption(opt('--bundled <all|none|NAMES>', `bundled modules served beside --modules (comma-separated names from ${BUNDLED_MODULES.join(', ')}); a module of the same name in --modules replaces one`, 'HRMR_BUNDLED', 'all'))
    .addOption(new Option('--build', 'build the --src modules into --modules first (no type-check: that runs beside, once serving); env HRMR_BUILD=1|0'))
    .addOption(new Option('--no-build', 'serve --modules as built (overrides HRMR_BUILD)'))
    .addOption(new Option('--set <module.key=value>', 'module configuration (repeatable); also HRMR_CFG_MODULE_KEY=value').argParser(collect).default([]));
}

/**
 * A boolean environment variable: 1/true/yes/on or 0/false/no/off (any case;
 * empty is false); undefined when unset; anything else is a UsageError.
 */
export function envBool(name: string, raw: string | undefined): boolean | undefined {
  if (raw === undefined) return undefined;
  const s = raw.trim().toLowerCase();
  if (s === '1' || s === 'true' || s === 'yes' || s === 'on') return true;
  if (s === '' || s === '0' || s === 'false' || s === 'no' || s === 'off') return false;
  throw new UsageError(`${name} must be 1/true/yes/on or 0/false/no/off (got ${JSON.stringify(raw)})`);
}

/** An integer flag value in [min, max], or a UsageError naming the flag. */
export function int(flag: string, raw: string, min: number, max: number): number {
  const s = String(raw).trim();
  if (!/^\d+$/.test(s) || Number(s) < min || Number(s) > max) {
    throw new UsageError(`--${flag} must be an integer from ${min} to ${max} (got ${JSON.stringify(raw)})`);
  }
  return Number(s);
}

/** Module config from `--set` values and HRMR_CFG_* environment variables (flags win). */
export function moduleConfig(sets: readonly string[], env: NodeJS.ProcessEnv): Map<string, Record<string, string>> {
  const out = new Map<string, Record<string, string>>();
  const put = (module: string, key: string, value: string): void => {
    let m = out.get(module);
    if (!m) out.set(module, (m = {}));
    m[key] = value;
  };
  // HRMR_CFG_<MODULE>_<KEY>: the module is the first segment; the key may hold more underscores.
  for (const [k, v] of Object.entries(env)) {
    if (!k.startsWith('HRMR_CFG_') || v === undefined) continue;
    const rest = k.slice('HRMR_CFG_'.length);
    const i = rest.indexOf('_');
    if (i > 0 && i < rest.length - 1) put(rest.slice(0, i).toLowerCase(), rest.slice(i + 1).toLowerCase(), v);
  }
  for (const s of sets) {
    const m = /^([A-Za-z0-9_.-]+?)\.([A-Za-z0-9_-]+)=(.*)$/s.exec(s);
    if (!m) throw new UsageError(`--set takes module.key=value (got ${JSON.stringify(s)})`);
    put(m[1]!, m[2]!.toLowerCase(), m[3]!);
  }
  return out;
}

export function validateServerOptions(raw: RawServerOptions, env: NodeJS.ProcessEnv = process.env): CliServerOptions {
  const port = int('port', raw.port, 0, 65535);
  const threads = int('threads', raw.threads, 1, 256);
  const modulesDir = resolve(raw.modules);
  // The default folder, or one --build/--watch writes into, is made when missing (a new project has none yet).
  if (!existsSync(modulesDir) && (raw.modules === './modules' || raw.build === true || raw.watch === true || envBool('HRMR_BUILD', env.HRMR_BUILD) === true)) {
    mkdirSync(modulesDir, { recursive: true });
  }
  if (!existsSync(modulesDir) || !statSync(modulesDir).isDirectory()) {
    throw new UsageError(`--modules: directory ${JSON.stringify(raw.modules)} does not exist`);
  }
  if (!(LOG_LEVELS as readonly string[]).includes(raw.logLevel)) {
    throw new UsageError(`--log-level must be one of ${LOG_LEVELS.join(', ')} (got ${JSON.stringify(raw.logLevel)})`);
  }
  const watch = raw.watch ?? envBool('HRMR_WATCH', env.HRMR_WATCH) ?? false;
  // Watch mode swaps on every save: the old version serves until the new one is ready, unless asked otherwise.
  const reloadMode = raw.reloadMode ?? (watch ? 'graceful' : '503');
  if (reloadMode !== '503' && reloadMode !== 'graceful') {
    throw new UsageError(`--reload-mode must be 503 or graceful (got ${JSON.stringify(reloadMode)})`);
  }
  if (raw.host.trim() === '') throw new UsageError('--host must not be empty');
  if (raw.adminToken !== undefined && raw.adminToken === '') throw new UsageError('--admin-token must not be empty');
  return {
    port,
    threads,
    host: raw.host,
    modulesDir,
    peekTimeoutMs: int('peek-timeout', raw.peekTimeout, 1, 3_600_000),
    maxPeek: int('max-peek', raw.maxPeek, 1, 1 << 20),
    drainTimeoutMs: int('drain-timeout', raw.drainTimeout, 0, 86_400_000),
    logLevel: raw.logLevel as CliServerOptions['logLevel'],
    adminToken: raw.adminToken ?? null,
    pretty: raw.pretty ?? envBool('HRMR_PRETTY', env.HRMR_PRETTY) ?? process.stdout.isTTY === true,
    watch,
    srcDir: resolve(raw.src),
    maxConnections: int('max-connections', raw.maxConnections, 1, 10_000_000),
    idleTimeoutMs: int('idle-timeout', raw.idleTimeout, 0, 86_400_000),
    reloadMode,
    taskTimeoutMs: int('task-timeout', raw.taskTimeout, 0, 86_400_000),
    maxQueue: int('max-queue', raw.maxQueue, 0, 10_000_000),
    maxMessage: int('max-message', raw.maxMessage, 1, 1 << 30),
    config: moduleConfig(raw.set, env),
    redis: redisUrl(raw.redis),
    httpKeepAliveTimeoutMs: int('http-keep-alive-timeout', raw.httpKeepAliveTimeout, 0, 3_600_000),
    httpHeadersTimeoutMs: int('http-headers-timeout', raw.httpHeadersTimeout, 100, 3_600_000),
    httpMaxHeaderSize: int('http-max-header-size', raw.httpMaxHeaderSize, 1024, 1 << 20),
    workers: workerCount(raw.workers),
    hangTimeoutMs: int('hang-timeout', raw.hangTimeout, 0, 86_400_000),
    recycleAfter: int('recycle-after', raw.recycleAfter, 0, 1_000_000),
    setupTimeoutMs: int('setup-timeout', raw.setupTimeout, 0, 86_400_000),
    tls: tlsOptions(raw),
    proxyProtocolFrom: proxyFrom(raw.proxyProtocolFrom),
    metricsPath: metricsPath(raw.metricsPath ?? '/metrics'),
    accessLog: raw.accessLog ?? envBool('HRMR_ACCESS_LOG', env.HRMR_ACCESS_LOG) ?? false,
    bundled: parseBundled(raw.bundled),
    build: raw.build ?? envBool('HRMR_BUILD', env.HRMR_BUILD) ?? false,
  };
}

/** Validates the TLS flags and loads every file now: a missing or bad one is a usage error naming it. */
function tlsOptions(raw: RawServerOptions): CliServerOptions['tls'] {
  const certs = raw.tlsCert ?? [];
  const keys = raw.tlsKey ?? [];
  const mode = String(raw.tlsClientAuth ?? 'none').trim();
  if (mode !== 'none' && mode !== 'request' && mode !== 'require') throw new UsageError(`--tls-client-auth must be none, request or require (got ${JSON.stringify(raw.tlsClientAuth)})`);
  if (certs.length !== keys.length) throw new UsageError(`--tls-cert and --tls-key come in pairs (got ${certs.length} certificate${certs.length === 1 ? '' : 's'} and ${keys.length} key${keys.length === 1 ? '' : 's'})`);
  if (certs.length === 0) {
    if (raw.tlsCa !== undefined) throw new UsageError('--tls-ca needs --tls-cert and --tls-key');
    if (mode !== 'none') throw new UsageError(`--tls-client-auth ${mode} needs --tls-cert, --tls-key and --tls-ca`);
    return null;
  }
  if (mode !== 'none' && raw.tlsCa === undefined) throw new UsageError(`--tls-client-auth ${mode} needs --tls-ca (the CA that signs client certificates)`);
  const store = new CertStore({ pairs: certs.map((c, i) => ({ cert: resolve(c), key: resolve(keys[i]!) })), ca: raw.tlsCa === undefined ? null : resolve(raw.tlsCa) });
  try {
    store.load();
  } catch (err) {
    if (err instanceof TlsFileError) throw new UsageError(`cannot load TLS file ${err.message}`);
    throw err;
  }
  return { store, clientAuth: mode };
}

function proxyFrom(raw: string | undefined): string | null {
  if (raw === undefined) return null;
  try {
    CidrList.parse(raw);
  } catch (err) {
    throw new UsageError(`--proxy-protocol-from takes CIDRs such as 10.0.0.0/8,::1 (${(err as Error).message})`);
  }
  return raw;
}


/** `--metrics-path`: an absolute path (not under /_hrmr/, the status page's), or `off`. */
export function metricsPath(raw: string): string | null {
  const s = String(raw).trim();
  if (s === 'off') return null;
  if (!/^\/[^\s?#]*$/.test(s) || s === '/' || s.startsWith('/_hrmr/')) {
    throw new UsageError(`--metrics-path must be a path such as /metrics (not /, not under /_hrmr/), or off (got ${JSON.stringify(raw)})`);
  }
  return s;
}

function redisUrl(raw: string | undefined): string | null {
  if (raw === undefined) return null;
  const s = raw.trim();
  if (!/^rediss?:\/\/[^\s]+$/.test(s)) throw new UsageError(`--redis must be a redis:// or rediss:// URL (got ${JSON.stringify(raw)})`);
  return s;
}

function workerCount(raw: string | undefined): number | null {
  if (raw === undefined) return null;
  if (String(raw).trim() === 'auto') return Math.max(1, availableParallelism());
  return int('workers', raw, 1, 256);
}
