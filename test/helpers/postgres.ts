// SPDX-License-Identifier: LGPL-3.0-or-later
/**
 * A real, throwaway PostgreSQL 15 cluster for tests: `initdb` + `pg_ctl` run
 * as the `postgres` user in a temp folder it owns, listening on a free
 * loopback port (Unix socket inside the folder), trust auth, fsync off.
 * `stop()` / `restart()` keep the port (outage tests); `destroy()` stops it
 * and removes the folder. Fails (never skips) when PostgreSQL is missing.
 */
import { execFile } from 'node:child_process';
import { chownSync, existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { freePort } from './redis.ts';

const run = promisify(execFile);

export const PG_BIN = process.env.HRMR_PG_BIN ?? '/usr/lib/postgresql/15/bin';

export interface PostgresServer {
  readonly port: number;
  /** postgres://postgres@127.0.0.1:PORT/postgres */
  readonly url: string;
  readonly dir: string;
  /** Runs SQL with psql as the superuser; resolves with psql's unaligned output. */
  psql(sql: string): Promise<string>;
  /** `pg_ctl stop -m immediate` (a crash, as far as clients see it). */
  stop(): Promise<void>;
  /** Starts again on the same port and folder. */
  restart(): Promise<void>;
  /** Stops and removes the folder. */
  destroy(): Promise<void>;
}

function ids(): { uid: number; gid: number } {
  const line = readFileSync('/etc/passwd', 'utf8')
    .split('\n')
    .find((l) => l.startsWith('postgres:'));
  if (!line) throw new Error('PostgreSQL tests need the "postgres" system user (apt-get install postgresql)');
  const f = line.split(':');
  return { uid: Number(f[2]), gid: Number(f[3]) };
}

async function asPostgres(cmd: string, args: string[], timeout = 60_000): Promise<string> {
  const isRoot = process.getuid?.() === 0;
  const [file, argv] = isRoot ? ['runuser', ['-u', 'postgres', '--', join(PG_BIN, cmd), ...args]] : [join(PG_BIN, cmd), args];
  try {
    const { stdout } = await run(file, argv, { timeout, cwd: '/' });
    return stdout;
  } catch (err) {
    const e = err as { stderr?: string; stdout?: string; message: string };
    throw new Error(`${cmd} failed: ${e.message}\n${e.stderr ?? ''}${e.stdout ?? ''}`);
  }
}

export async function startPostgres(): Promise<PostgresServer> {
  if (!existsSync(join(PG_BIN, 'initdb')) || !existsSync(join(PG_BIN, 'pg_ctl'))) {
    throw new Error(`PostgreSQL 15 not found in ${PG_BIN} (initdb, pg_ctl): install Debian's postgresql package (.ci/run does) or set HRMR_PG_BIN`);
  }
  const { uid, gid } = ids();
  const dir = mkdtempSync(join(tmpdir(), 'hrmr-pg-'));
  if (process.getuid?.() === 0) chownSync(dir, uid, gid);
  const data = join(dir, 'data');
  const port = await freePort();
  try {
    await asPostgres('initdb', ['-D', data, '-A', 'trust', '-U', 'postgres', '-E', 'UTF8', '--no-sync', '--no-instructions']);
  } catch (err) {
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
  const opts = `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c fsync=off -c full_page_writes=off -c max_connections=100 -c shared_buffers=16MB`;
  let running = false;
  const start = async (): Promise<void> => {
    await asPostgres('pg_ctl', ['-D', data, '-o', opts, '-l', join(dir, 'log'), '-w', '-t', '30', 'start']);
    running = true;
  };
  const stop = async (): Promise<void> => {
    if (!running) return;
    running = false;
    try {
      await asPostgres('pg_ctl', ['-D', data, '-m', 'immediate', '-w', '-t', '30', 'stop']);
    } catch {
      // Fall back to the postmaster's pid.
      const pidFile = join(data, 'postmaster.pid');
      if (existsSync(pidFile)) {
        const pid = Number(readFileSync(pidFile, 'utf8').split('\n')[0]);
        if (pid > 0) {
          try {
            process.kill(pid, 'SIGKILL');
          } catch {
            /* already gone */
          }
        }
      }
    }
  };
  try {
    await start();
  } catch (err) {
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
  return {
    port,
    url: `postgres://postgres@127.0.0.1:${port}/postgres`,
    dir,
    psql: (sql) => asPostgres('psql', ['-h', '127.0.0.1', '-p', String(port), '-U', 'postgres', '-d', 'postgres', '-X', '-A', '-t', '-v', 'ON_ERROR_STOP=1', '-c', sql], 30_000),
    stop,
    restart: start,
    async destroy() {
      await stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
