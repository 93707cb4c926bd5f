// SPDX-License-Identifier: LGPL-3.0-or-later
/**
 * The fleet: 8 bot processes at once (4 over HTTP keep-alive, 4 over the line
 * protocol), each doing 500 increments of one shared counter and 500 inserts
 * through hrmr. SQLite (several pool workers writing the same file) and
 * PostgreSQL: the counter ends at exactly 4,000, 4,000 rows exist, and no
 * request failed (no "database is locked", no lost update).
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { startBundled } from './helpers/bundled.ts';
import { closeAgent, query } from './helpers/db-client.ts';
import type { Hrmr } from './helpers/hrmr.ts';
import { startPostgres, type PostgresServer } from './helpers/postgres.ts';

const CLIENT = fileURLToPath(new URL('./helpers/db-fleet-client.mjs', import.meta.url));
const BOTS = 8;
const EACH = 500;

const cleanup: Array<() => Promise<void> | void> = [];
after(async () => {
  closeAgent();
  for (const f of cleanup.reverse()) await f();
});

function bot(port: number, mode: 'http' | 'line', id: number, dialect: string): Promise<{ ok: number; failed: number; errors: string[] }> {
  return new Promise((resolve, reject) => {
    execFile(process.execPath, [CLIENT, String(port), mode, String(id), String(EACH), dialect], { timeout: 120_000 }, (err, stdout, stderr) => {
      try {
        resolve(JSON.parse(stdout.trim().split('\n').pop()!));
      } catch {
        reject(new Error(`bot ${id} failed: ${err?.message ?? ''} ${stderr} ${stdout}`));
      }
    });
  });
}

async function fleet(h: Hrmr, dialect: 'sqlite' | 'postgres'): Promise<void> {
  assert.equal((await query(h.port, 'CREATE TABLE counter (id INTEGER PRIMARY KEY, n INTEGER NOT NULL)')).status, 200);
  assert.equal((await query(h.port, 'INSERT INTO counter VALUES (1, 0)')).status, 200);
  assert.equal((await query(h.port, 'CREATE TABLE events (client INTEGER NOT NULL, i INTEGER NOT NULL, PRIMARY KEY (client, i))')).status, 200);
  const results = await Promise.all(Array.from({ length: BOTS }, (_, i) => bot(h.port, i % 2 === 0 ? 'http' : 'line', i, dialect)));
  const failures = results.flatMap((r) => r.errors);
  assert.deepEqual(failures, [], 'no request failed');
  assert.equal(
    results.reduce((a, r) => a + r.ok, 0),
    BOTS * EACH * 2,
  );
  const c = await query(h.port, 'SELECT n FROM counter WHERE id = 1');
  assert.deepEqual(c.json.rows, [{ n: BOTS * EACH }]);
  const e = await query(h.port, 'SELECT count(*) AS rows, count(DISTINCT client) AS bots FROM events');
  assert.deepEqual(e.json.rows, [{ rows: BOTS * EACH, bots: BOTS }]);
}

test('fleet on SQLite: 8 bots x 500 increments + inserts, exactly 4,000, nothing failed', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'hrmr-db-fleet-'));
  cleanup.push(() => rmSync(dir, { recursive: true, force: true }));
  // 4 pool workers: four connections to the file compete for its write lock.
  const h = await startBundled(['db'], { args: ['--set', `db.url=sqlite:${join(dir, 'fleet.db')}`, '--threads', '4'] });
  cleanup.push(() => h.kill());
  await fleet(h, 'sqlite');
});

test('fleet on PostgreSQL: 8 bots x 500 increments + inserts, exactly 4,000, nothing failed', async () => {
  const pg: PostgresServer = await startPostgres();
  cleanup.push(() => pg.destroy());
  const h = await startBundled(['db'], { args: ['--set', `db.url=${pg.url}`] });
  cleanup.push(() => h.kill());
  await fleet(h, 'postgres');
});
