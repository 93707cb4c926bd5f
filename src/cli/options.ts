// SPDX-License-Identifier: LGPL-3.0-or-later
/**
 * The server's command-line options: declared once as data, parsed by
 * commander, validated here. Bad values raise UsageError (exit status 2)
 * with a one-line message naming the flag.
 */
import { existsSync, statSync } from 'node:fs';
import { resolve } from 'node:path';
import { Option, type Command } from 'commander';
import { UsageError } from '../errors.ts';
import { LOG_LEVELS } from '../log.ts';

/** Every long option the server takes; the argv normalizer rewrites `-name` for these. */
export const SERVER_FLAGS = [
  'port', 'threads', 'host', 'modules', 'peek-timeout', 'max-peek', 'drain-timeout', 'log-level', 'admin-token', 'pretty',
  'watch', 'src', 'max-connections', 'idle-timeout', 'reload-mode', 'task-timeout', 'max-queue', 'max-message', 'set',
] as const;

/** Flags of the client and build subcommands, also accepted in single-dash form. */
export const OTHER_FLAGS = ['out', 'prefix', 'pool', 'timeout'] as const;

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
  reloadMode: string;
  taskTimeout: string;
  maxQueue: string;
  maxMessage: string;
  set: string[];
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
    .addOption(opt('--pretty', 'human-readable logs (the default on a terminal)', 'HRMR_PRETTY'))
    .addOption(opt('--watch', 'rebuild and reload modules when modules_src/ or shared/ change', 'HRMR_WATCH'))
    .addOption(opt('--src <dir>', 'module sources for --watch', 'HRMR_SRC', './modules_src'))
    .addOption(opt('--max-connections <n>', 'open connections at most; more are told `ERR busy` and closed', 'HRMR_MAX_CONNECTIONS', '10000'))
    .addOption(opt('--idle-timeout <ms>', 'close routed connections idle this long (0 = never)', 'HRMR_IDLE_TIMEOUT', '0'))
    .addOption(opt('--reload-mode <mode>', "'503': a module being swapped answers 503; 'graceful': its old version serves until the new one is ready", 'HRMR_RELOAD_MODE', '503'))
    .addOption(opt('--task-timeout <ms>', 'abort a pool task running longer (0 = never)', 'HRMR_TASK_TIMEOUT', '30000'))
    .addOption(opt('--max-queue <n>', 'pool tasks waiting at most; more get `ERR busy`', 'HRMR_MAX_QUEUE', '1024'))
    .addOption(opt('--max-message <bytes>', "largest message for 'whole' framing", 'HRMR_MAX_MESSAGE', String(16 * 1024 * 1024)))
    .addOption(new Option('--set <module.key=value>', 'module configuration (repeatable); also HRMR_CFG_MODULE_KEY=value').argParser(collect).default([]));
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
  if (!existsSync(modulesDir) || !statSync(modulesDir).isDirectory()) {
    throw new UsageError(`--modules: directory ${JSON.stringify(raw.modules)} does not exist`);
  }
  if (!(LOG_LEVELS as readonly string[]).includes(raw.logLevel)) {
    throw new UsageError(`--log-level must be one of ${LOG_LEVELS.join(', ')} (got ${JSON.stringify(raw.logLevel)})`);
  }
  if (raw.reloadMode !== '503' && raw.reloadMode !== 'graceful') {
    throw new UsageError(`--reload-mode must be 503 or graceful (got ${JSON.stringify(raw.reloadMode)})`);
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
    pretty: raw.pretty === true || (raw.pretty === undefined && process.stdout.isTTY === true),
    watch: raw.watch === true,
    srcDir: resolve(raw.src),
    maxConnections: int('max-connections', raw.maxConnections, 1, 10_000_000),
    idleTimeoutMs: int('idle-timeout', raw.idleTimeout, 0, 86_400_000),
    reloadMode: raw.reloadMode,
    taskTimeoutMs: int('task-timeout', raw.taskTimeout, 0, 86_400_000),
    maxQueue: int('max-queue', raw.maxQueue, 0, 10_000_000),
    maxMessage: int('max-message', raw.maxMessage, 1, 1 << 30),
    config: moduleConfig(raw.set, env),
  };
}
