// SPDX-License-Identifier: LGPL-3.0-or-later
/**
 * A throwaway MariaDB server for the db suite (the bench twin of
 * test/helpers/mariadb.ts): mariadb-install-db into a temp folder, mariadbd
 * on a free loopback port as the current user (root: --user=root), a `hrmr`
 * user and database; destroy() stops it and removes the folder.
 */
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from './ports.mjs';

const MARIADBD = process.env.HRMR_MARIADBD ?? '/usr/sbin/mariadbd';
const INSTALL_DB = process.env.HRMR_MARIADB_INSTALL_DB ?? '/usr/bin/mariadb-install-db';
const CLIENT = process.env.HRMR_MARIADB_CLIENT ?? '/usr/bin/mariadb';

export async function startMariaDb() {
  for (const f of [MARIADBD, INSTALL_DB, CLIENT]) if (!existsSync(f)) throw new Error(`MariaDB not found (${f}): install Debian's mariadb-server package`);
  const dir = mkdtempSync(join(tmpdir(), 'hrmr-bench-mariadb-'));
  const data = join(dir, 'data');
  const sock = join(dir, 'sock');
  const user = process.getuid?.() === 0 ? ['--user=root'] : [];
  const port = await freePort();
  let proc = null;
  try {
    execFileSync(INSTALL_DB, ['--no-defaults', `--datadir=${data}`, '--auth-root-authentication-method=normal', '--skip-test-db', ...user], { cwd: '/', timeout: 120_000, stdio: 'ignore' });
    proc = spawn(MARIADBD, ['--no-defaults', `--datadir=${data}`, `--port=${port}`, '--bind-address=127.0.0.1', `--socket=${sock}`, `--pid-file=${join(dir, 'pid')}`, ...user, '--skip-name-resolve', '--innodb-buffer-pool-size=64M', '--innodb-flush-log-at-trx-commit=2', '--performance-schema=OFF', '--character-set-server=utf8mb4', '--collation-server=utf8mb4_unicode_ci'], { cwd: '/', stdio: ['ignore', 'ignore', 'pipe'] });
    await new Promise((resolve, reject) => {
      let log = '';
      const t = setTimeout(() => reject(new Error(`mariadbd not ready within 60 s: ${log}`)), 60_000);
      proc.stderr.setEncoding('utf8').on('data', (d) => {
        log += d;
        if (log.includes('ready for connections')) {
          clearTimeout(t);
          resolve();
        }
      });
      proc.once('exit', (code) => reject(new Error(`mariadbd exited (${code}): ${log}`)));
    });
    execFileSync(CLIENT, ['--no-defaults', `--socket=${sock}`, '-uroot', '-e', "CREATE DATABASE hrmr CHARACTER SET utf8mb4; CREATE USER 'hrmr'@'%' IDENTIFIED BY 'pw'; GRANT ALL ON *.* TO 'hrmr'@'%';"], { timeout: 30_000 });
  } catch (err) {
    proc?.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
  const exited = new Promise((resolve) => proc.once('exit', resolve));
  return {
    url: `mysql://hrmr:pw@127.0.0.1:${port}/hrmr`,
    async destroy() {
      if (proc.exitCode === null && proc.signalCode === null) {
        proc.kill('SIGTERM');
        const t = setTimeout(() => proc.kill('SIGKILL'), 20_000);
        await exited;
        clearTimeout(t);
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
