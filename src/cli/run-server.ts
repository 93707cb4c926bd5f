// SPDX-License-Identifier: LGPL-3.0-or-later
/** Starts the server from validated CLI options and wires signals. */
import { createLogger } from '../log.ts';
import { HrmrServer } from '../server.ts';
import { createPool } from '../pool/pool.ts';
import type { CliServerOptions } from './options.ts';

export async function runServer(o: CliServerOptions): Promise<void> {
  const log = createLogger(o.logLevel, o.pretty);
  const exit = (code: number): void => {
    log.flush();
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
  const pool = createPool({ threads: o.threads, taskTimeoutMs: o.taskTimeoutMs, maxQueue: o.maxQueue, log });
  const server = new HrmrServer(
    {
      port: o.port,
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
      log,
      // Watch mode's chokidar watchers and esbuild contexts close before the exit.
      onStopped: () => void Promise.resolve(closeWatch?.()).finally(() => exit(0)),
    },
    pool,
  );
  try {
    await server.start();
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    const why =
      e.code === 'EADDRINUSE' ? `port ${o.port} on ${o.host} is already in use` : e.code === 'EACCES' ? `no permission to listen on port ${o.port}` : e.code === 'EADDRNOTAVAIL' ? `address ${o.host} is not available on this machine` : e.message;
    log.fatal({ err }, why);
    process.stderr.write(`hrmr: ${why}\n`);
    await pool?.close(0);
    exit(1);
    return;
  }

  const stop = (reason: string): void => {
    void server.shutdown(reason);
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
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
