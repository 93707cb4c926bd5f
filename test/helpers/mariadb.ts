// SPDX-License-Identifier: LGPL-3.0-or-later
/**
 * A real, throwaway MariaDB server for tests: `mariadb-install-db` makes a
 * datadir in a temp folder, `mariadbd` runs on it as the current user (root
 * needs `--user=root`) on a free loopback port, its socket inside the
 * folder; a `hrmr` user (password `pw`) and database `hrmr` are created.
 * `pause()`/`resume()` send SIGSTOP/SIGCONT (a server that stops answering);
 * `destroy()` stops it and removes the folder. Fails (never skips) when
 * MariaDB is missing (Debian's mariadb-server; scripts/test-deps.sh installs it).
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { freePort } from './redis.ts';

const run = promisify(execFile);

export const MARIADBD = process.env.HRMR_MARIADBD ?? '/usr/sbin/mariadbd';
export const INSTALL_DB = process.env.HRMR_MARIADB_INSTALL_DB ?? '/usr/bin/mariadb-install-db';
export const CLIENT = process.env.HRMR_MARIADB_CLIENT ?? '/usr/bin/mariadb';

export interface MariaDbServer {
  readonly port: number;
  /** mysql://hrmr:pw@127.0.0.1:PORT/hrmr */
  readonly url: string;
  readonly dir: string;
  readonly pid: number;
  /** Runs SQL as root on database hrmr with the mariadb client; resolves with its tab-separated output. */
  sql(sql: string): Promise<string>;
  /** SIGSTOP: the server keeps its sockets but answers nothing. */
  pause(): void;
  /** SIGCONT. */
  resume(): void;
  /** Stops the server and removes the folder. */
  destroy(): Promise<void>;
}

const asRoot = process.getuid?.() === 0;

export async function startMariaDb(): Promise<MariaDbServer> {
  for (const f of [MARIADBD, INSTALL_DB, CLIENT]) {
    if (!existsSync(f)) throw new Error(`MariaDB not found (${f}): install Debian's mariadb-server package (scripts/test-deps.sh does)`);
  }
  const dir = mkdtempSync(join(tmpdir(), 'hrmr-mariadb-'));
  const data = join(dir, 'data');
  const sock = join(dir, 'sock');
  const user = asRoot ? ['--user=root'] : [];
  try {
    await run(INSTALL_DB, ['--no-defaults', `--datadir=${data}`, '--auth-root-authentication-method=normal', '--skip-test-db', ...user], { timeout: 120_000, cwd: '/' });
  } catch (err) {
    rmSync(dir, { recursive: true, force: true });
    const e = err as { stderr?: string; message: string };
    throw new Error(`mariadb-install-db failed: ${e.message}\n${e.stderr ?? ''}`);
  }
  const port = await freePort();
  const args = [
    '--no-defaults',
    `--datadir=${data}`,
    `--port=${port}`,
    '--bind-address=127.0.0.1',
    `--socket=${sock}`,
    `--pid-file=${join(dir, 'pid')}`,
    ...user,
    '--skip-name-resolve',
    '--innodb-buffer-pool-size=32M',
    '--innodb-log-file-size=16M',
    '--innodb-flush-log-at-trx-commit=2',
    '--max-connections=300',
    '--performance-schema=OFF',
    '--character-set-server=utf8mb4',
    '--collation-server=utf8mb4_unicode_ci',
  ];
  const proc: ChildProcess = spawn(MARIADBD, args, { stdio: ['ignore', 'ignore', 'pipe'], cwd: '/' });
  let log = '';
  const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
  try {
    await new Promise<void>((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`mariadbd not ready within 60 s:\n${log}`)), 60_000);
      proc.stderr!.setEncoding('utf8').on('data', (d: string) => {
        log += d;
        if (/ready for connections/.test(log)) {
          clearTimeout(t);
          resolve();
        }
      });
      proc.once('exit', (code) => {
        clearTimeout(t);
        reject(new Error(`mariadbd exited (${code}):\n${log}`));
      });
    });
  } catch (err) {
    proc.kill('SIGKILL');
    await exited;
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
  const sql = async (text: string): Promise<string> => {
    try {
      const { stdout } = await run(CLIENT, ['--no-defaults', `--socket=${sock}`, '-uroot', '-N', '-B', '-e', text, 'hrmr'], { timeout: 30_000 });
      return stdout;
    } catch (err) {
      const e = err as { stderr?: string; message: string };
      throw new Error(`mariadb client failed: ${e.message}\n${e.stderr ?? ''}`);
    }
  };
  await run(CLIENT, ['--no-defaults', `--socket=${sock}`, '-uroot', '-e', "CREATE DATABASE hrmr CHARACTER SET utf8mb4; CREATE USER 'hrmr'@'%' IDENTIFIED BY 'pw'; GRANT ALL ON *.* TO 'hrmr'@'%';"], { timeout: 30_000 });
  return {
    port,
    url: `mysql://hrmr:pw@127.0.0.1:${port}/hrmr`,
    dir,
    pid: proc.pid!,
    sql,
    pause: () => proc.kill('SIGSTOP'),
    resume: () => proc.kill('SIGCONT'),
    async destroy() {
      if (proc.exitCode === null && proc.signalCode === null) {
        proc.kill('SIGCONT');
        proc.kill('SIGTERM');
        const t = setTimeout(() => proc.kill('SIGKILL'), 20_000);
        await exited;
        clearTimeout(t);
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
