// SPDX-License-Identifier: LGPL-3.0-or-later
/**
 * A throwaway PostgreSQL 15 cluster for the db suite (the bench twin of
 * test/helpers/postgres.ts): initdb + pg_ctl as the postgres user, a free
 * loopback port, fsync off; destroy() stops it and removes the folder.
 */
import { execFileSync } from 'node:child_process';
import { chownSync, existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from './ports.mjs';

const BIN = process.env.HRMR_PG_BIN ?? '/usr/lib/postgresql/15/bin';


function asPostgres(cmd, args) {
  const root = process.getuid?.() === 0;
  const [file, argv] = root ? ['runuser', ['-u', 'postgres', '--', join(BIN, cmd), ...args]] : [join(BIN, cmd), args];
  return execFileSync(file, argv, { cwd: '/', timeout: 60_000, stdio: ['ignore', 'pipe', 'pipe'] }).toString();
}

export async function startPostgres() {
  if (!existsSync(join(BIN, 'initdb'))) throw new Error(`PostgreSQL 15 not found in ${BIN}: install Debian's postgresql package`);
  const dir = mkdtempSync(join(tmpdir(), 'hrmr-bench-pg-'));
  if (process.getuid?.() === 0) {
    const f = readFileSync('/etc/passwd', 'utf8').split('\n').find((l) => l.startsWith('postgres:'))?.split(':');
    if (!f) throw new Error('no postgres system user');
    chownSync(dir, Number(f[2]), Number(f[3]));
  }
  const data = join(dir, 'data');
  const port = await freePort();
  try {
    asPostgres('initdb', ['-D', data, '-A', 'trust', '-U', 'postgres', '--no-sync', '--no-instructions']);
    asPostgres('pg_ctl', ['-D', data, '-o', `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off`, '-l', join(dir, 'log'), '-w', 'start']);
  } catch (err) {
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
  return {
    url: `postgres://postgres@127.0.0.1:${port}/postgres`,
    destroy() {
      try {
        asPostgres('pg_ctl', ['-D', data, '-m', 'immediate', '-w', 'stop']);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    },
  };
}
