// SPDX-License-Identifier: LGPL-3.0-or-later
/** Starts the server from validated CLI options and wires signals. */
import cluster from 'node:cluster';
import { createLogger } from '../log.ts';
import { HrmrServer } from '../server.ts';
import { createPool } from '../pool/pool.ts';
import type { CliServerOptions } from './options.ts';
import { bundledDir } from '../modules/bundled.ts';
import type { ModuleFolder } from '../modules/scan.ts';
import { lastWords, WorkerAgent } from '../supervisor/agent.ts';
import { ENV_PORT, ENV_PROCESSES, ENV_WORKER } from '../supervisor/protocol.ts';
import { runSupervisor } from '../supervisor/supervisor.ts';
import { startedByNpm, watchParent } from './parent-watch.ts';
import { buildBeforeServe, typecheckBeside } from '../build/serve-build.ts';

export async function runServer(o: CliServerOptions): Promise<void> {
  // --build (npm start): build before serving, type-check once serving. Watch mode builds by itself.
  const built = o.build && !o.watch && !cluster.isWorker ? await buildBeforeServe(o.srcDir, o.modulesDir, createLogger(o.logLevel, o.pretty)) : null;
  // Under npx/npm, the parent going away (npm stopped) stops the server as a SIGTERM would (supervisor too).
  if (!cluster.isWorker && startedByNpm(process.env)) watchParent(() => process.kill(process.pid, 'SIGTERM'));
  // --workers: this process becomes the supervisor; the worker processes it forks run the code below.
  if (o.workers !== null && cluster.isPrimary) {
    if (built) void typecheckBeside(o.srcDir, built, createLogger(o.logLevel, o.pretty));
    return runSupervisor(o);
  }
  const inWorker = o.workers !== null && cluster.isWorker;
  const baseLog = createLogger(o.logLevel, o.pretty);
  const log = inWorker ? baseLog.child({ worker: Number(process.env[ENV_WORKER] ?? cluster.worker?.id ?? 0) }) : baseLog;
  const processes = inWorker ? Number(process.env[ENV_PROCESSES]) || (o.workers ?? 1) : 1;
  const port = inWorker && process.env[ENV_PORT] ? Number(process.env[ENV_PORT]) : o.port;
  const agent = inWorker ? new WorkerAgent({ log, adminToken: o.adminToken, hangTimeoutMs: o.hangTimeoutMs }) : null;
  agent?.start();
  const exit = (code: number): void => {
    baseLog.flush();
    // Give the asynchronous log stream a moment to reach stdout.
    setTimeout(() => process.exit(code), 20);
  };
  process.on('uncaughtException', (err) => {
    // A module's stray callback must not take every other connection down.
    log.error({ err }, 'uncaught exception (server keeps running)');
  });
  process.on('unhandledRejection', (err) => {
    log.error({ err }, 'unhandled rejection (server keeps running)');
  });

  let closeWatch: (() => Promise<void>) | null = null;
  const pool = createPool({ threads: o.threads, taskTimeoutMs: o.taskTimeoutMs, maxQueue: o.maxQueue, log, processes, logLevel: o.logLevel, pretty: o.pretty, spare: o.watch, setupTimeoutMs: o.setupTimeoutMs });
  const server = new HrmrServer(
    {
      port,
      host: o.host,
      modulesDir: o.modulesDir,
      peekTimeoutMs: o.peekTimeoutMs,
      maxPeek: o.maxPeek,
      drainTimeoutMs: o.drainTimeoutMs,
      adminToken: o.adminToken,
      maxConnections: o.maxConnections,
      idleTimeoutMs: o.idleTimeoutMs,
      reloadMode: o.reloadMode,
      maxMessage: o.maxMessage,
      config: o.config,
      redis: o.redis,
      httpKeepAliveTimeoutMs: o.httpKeepAliveTimeoutMs,
      httpHeadersTimeoutMs: o.httpHeadersTimeoutMs,
      httpMaxHeaderSize: o.httpMaxHeaderSize,
      processes,
      setupTimeoutMs: o.setupTimeoutMs,
      tls: o.tls,
      proxyProtocolFrom: o.proxyProtocolFrom,
      metricsPath: o.metricsPath,
      accessLog: o.accessLog,
      extraFolders: bundledFolders(o),
      ...(agent ? { adminControl: agent } : {}),
      log,
      // Watch mode's chokidar watchers and esbuild contexts close before the exit.
      onStopped: () => void Promise.resolve(closeWatch?.()).finally(() => exit(0)),
    },
    pool,
  );
  agent?.attach(server);
  if (agent) {
    // One scrape answers for every worker (summed); per-worker values carry a worker label.
    server.metrics.worker = Number(process.env[ENV_WORKER] ?? cluster.worker?.id ?? 0);
    server.metrics.gather = () => agent.gatherMetrics() as never;
  }
  try {
    const listening = await server.start();
    agent?.ready(listening, moduleCount(server.status()));
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    const why =
      e.code === 'EADDRINUSE' ? `port ${o.port} on ${o.host} is already in use` : e.code === 'EACCES' ? `no permission to listen on port ${o.port}` : e.code === 'EADDRNOTAVAIL' ? `address ${o.host} is not available on this machine` : e.message;
    // One line, on stderr (no stack: the cause is known and named).
    process.stderr.write(`hrmr: ${why}\n`);
    lastWords({ t: 'fatal', message: why });
    await pool?.close(0);
    exit(1);
    return;
  }

  const stop = (reason: string): void => {
    void server.shutdown(reason);
  };
  if (built) {
    // Serving what built; exit non-zero only when nothing can serve at all.
    if (moduleCount(server.status()) === 0 && built.some((r) => !r.ok)) {
      log.fatal({ failed: built.filter((r) => !r.ok).map((r) => r.module) }, 'no module built and loaded: nothing to serve');
      exit(1);
      return;
    }
    void typecheckBeside(o.srcDir, built, log);
  }
  process.on('SIGTERM', () => stop('SIGTERM'));
  if (inWorker) {
    // The supervisor handles these for every worker (a terminal sends them to the whole process group).
    process.on('SIGINT', () => undefined);
    process.on('SIGHUP', () => undefined);
    return;
  }
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGHUP', () => {
    void server.reload();
  });

  if (o.watch) {
    const { startWatch } = await import('../build/watch.ts');
    const watcher = await startWatch({ srcDir: o.srcDir, outDir: o.modulesDir, server, log });
    closeWatch = () => watcher.close();
  }
}

/** The bundled modules asked for, as a folder the registry scans before --modules. */
function bundledFolders(o: CliServerOptions): ModuleFolder[] {
  const dir = bundledDir(o.modulesDir, o.bundled);
  return dir === null ? [] : [{ dir, only: o.bundled, origin: 'bundled', required: false }];
}

function moduleCount(status: unknown): number {
  const m = (status as { modules?: unknown } | null)?.modules;
  return Array.isArray(m) ? m.length : 0;
}
