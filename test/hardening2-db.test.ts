// SPDX-License-Identifier: LGPL-3.0-or-later
/**
 * Hardening II, the db module (issue 20, points 8 and 9), on the real server
 * over real sockets, SQLite and a throwaway PostgreSQL:
 * - PRAGMAs that set anything, and PostgreSQL's SET/RESET/set_config, are
 *   refused with 400 bad_request naming them (they would stick on a pooled
 *   connection for every later client); read-only PRAGMAs keep working;
 * - results are bounded by db.max_rows / db.max_result_bytes: 413
 *   result_too_large (HTTP and line), rows are never all held at once (the
 *   server's peak RSS for a refused 5M-row query stays far below its size);
 * - a 413 for an oversized body closes the connection (PostgreSQL's
 *   main-thread routes read the body themselves).
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { startBundled } from './helpers/bundled.ts';
import { batch, closeAgent, DbLine, query } from './helpers/db-client.ts';
import type { Hrmr } from './helpers/hrmr.ts';
import { startPostgres, type PostgresServer } from './helpers/postgres.ts';
import { peakDuring } from './helpers/rss.ts';

const dir = mkdtempSync(join(tmpdir(), 'hrmr-h2db-'));
let lite: Hrmr;
let small: Hrmr;
let pg: PostgresServer;
let pgh: Hrmr;

const start = (sets: string[], args: string[] = []): Promise<Hrmr> => startBundled(['db'], { args: [...sets.flatMap((s) => ['--set', s]), '--task-timeout', '60000', ...args] });

before(async () => {
  pg = await startPostgres();
  lite = await start([`db.url=sqlite:${join(dir, 'a.db')}`]);
  small = await start([`db.url=sqlite:${join(dir, 'b.db')}`, 'db.max_rows=1000', 'db.max_result_bytes=100000']);
  pgh = await start([`db.url=${pg.url}`, 'db.pool_size=2', 'db.timeout=60000']);
});
after(async () => {
  closeAgent();
  await Promise.all([lite?.kill(), small?.kill(), pgh?.kill()]);
  await pg?.destroy();
  rmSync(dir, { recursive: true, force: true });
});

const MiB = 1024 * 1024;
const CTE = (n: number): string => `WITH RECURSIVE c(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM c WHERE n < ${n}) SELECT n, 'some padding text' AS pad FROM c`;

test('sqlite: PRAGMAs that set anything are refused, naming the pragma; nothing sticks; read-only ones work', async () => {
  const p = lite.port;
  assert.equal((await query(p, 'CREATE TABLE parent (id INTEGER PRIMARY KEY)')).status, 200);
  assert.equal((await query(p, 'CREATE TABLE child (id INTEGER PRIMARY KEY, pid INTEGER REFERENCES parent(id))')).status, 200);
  assert.equal((await query(p, 'CREATE INDEX child_pid ON child (pid)')).status, 200);
  const setters: Array<[string, string]> = [
    ['PRAGMA foreign_keys=OFF', 'foreign_keys'],
    ['PRAGMA query_only = ON', 'query_only'],
    ['PRAGMA synchronous=OFF', 'synchronous'],
    ['pragma main.synchronous = 0', 'synchronous'],
    ['PRAGMA foreign_keys(0)', 'foreign_keys'],
    ['  /* hi */ PRAGMA "query_only"=1', 'query_only'],
    ['PRAGMA journal_mode = DELETE', 'journal_mode'],
    ['PRAGMA user_version = 7', 'user_version'],
    ['PRAGMA cache_size(-100000)', 'cache_size'],
  ];
  // Several times each: with --threads 2 every worker's connection would be hit.
  for (let k = 0; k < 3; k++) {
    for (const [sql, name] of setters) {
      const r = await query(p, sql);
      assert.equal(r.status, 400, `${sql}: ${r.text}`);
      assert.equal(r.json.error.code, 'bad_request');
      assert.match(r.json.error.message, new RegExp(`PRAGMA ${name}`), r.text);
    }
  }
  const c = await DbLine.open(p);
  try {
    const l = await c.query('PRAGMA foreign_keys = OFF');
    assert.deepEqual([l.ok, l.code], [false, 'bad_request']);
    assert.match(l.message!, /PRAGMA foreign_keys/);
  } finally {
    c.close();
  }
  const b = await batch(p, [{ sql: 'SELECT 1' }, { sql: 'PRAGMA foreign_keys=OFF' }]);
  assert.deepEqual([b.status, b.json.error.code, b.json.error.index], [400, 'bad_request', 1]);
  for (let k = 0; k < 4; k++) {
    // Foreign keys still on, writes still allowed, synchronous still normal (1), on every worker.
    const fk = await query(p, 'INSERT INTO child (pid) VALUES (42)');
    assert.deepEqual([fk.status, fk.json.error?.code], [400, 'SQLITE_CONSTRAINT_FOREIGNKEY'], fk.text);
    assert.deepEqual((await query(p, 'PRAGMA foreign_keys')).json.rows, [{ foreign_keys: 1 }]);
    assert.deepEqual((await query(p, 'PRAGMA synchronous')).json.rows, [{ synchronous: 1 }]);
    assert.deepEqual((await query(p, 'PRAGMA query_only')).json.rows, [{ query_only: 0 }]);
  }
  // Read-only pragmas, with and without arguments.
  for (const sql of ['PRAGMA table_info(child)', "PRAGMA table_info('child')", 'PRAGMA index_list(child)', 'PRAGMA foreign_key_check', 'PRAGMA foreign_key_check(child)', 'PRAGMA main.table_info(child)', 'PRAGMA user_version', 'PRAGMA journal_mode', 'PRAGMA integrity_check']) {
    const r = await query(p, sql);
    assert.equal(r.status, 200, `${sql}: ${r.text}`);
  }
  const ti = await query(p, 'PRAGMA table_info(child)');
  assert.deepEqual(
    ti.json.rows.map((r: { name: string }) => r.name),
    ['id', 'pid'],
  );
});

test('sqlite: a 5M-row result is refused with 413 result_too_large naming db.max_rows, without holding the rows', async () => {
  const pid = lite.proc.pid!;
  await query(lite.port, 'SELECT 1'); // warm
  const { value: r, idle, peak } = await peakDuring(pid, () => query(lite.port, CTE(5_000_000)));
  assert.equal(r.status, 413, r.text.slice(0, 300));
  assert.equal(r.headers['content-type'], 'application/json');
  assert.equal(r.json.error.code, 'result_too_large');
  assert.match(r.json.error.message, /db\.max_rows/);
  assert.match(r.json.error.message, /100000/);
  assert.ok(peak - idle < 300, `peak RSS ${peak.toFixed(0)} MiB, idle ${idle.toFixed(0)} MiB`);
  // The line protocol answers the same error; the connection carries on.
  const c = await DbLine.open(lite.port);
  try {
    const l = await c.query(CTE(5_000_000));
    assert.deepEqual([l.ok, l.code], [false, 'result_too_large']);
    assert.match(l.message!, /db\.max_rows/);
    assert.deepEqual((await c.query('SELECT 2 AS two')).value.rows, [{ two: 2 }]);
  } finally {
    c.close();
  }
});

test('sqlite: one huge value is refused by db.max_result_bytes', async () => {
  const { value: r, idle, peak } = await peakDuring(lite.proc.pid!, () => query(lite.port, 'SELECT randomblob(200000000) AS b'));
  assert.equal(r.status, 413, r.text.slice(0, 300));
  assert.equal(r.json.error.code, 'result_too_large');
  assert.match(r.json.error.message, /db\.max_result_bytes/);
  assert.ok(r.text.length < 1000);
  assert.ok(peak - idle < 600, `peak RSS ${peak.toFixed(0)} MiB, idle ${idle.toFixed(0)} MiB`);
});

test('sqlite: the limits are exact, count the whole batch, and are settings', async () => {
  const p = small.port;
  let r = await query(p, CTE(1000));
  assert.equal(r.status, 200, r.text.slice(0, 200));
  assert.equal(r.json.rows.length, 1000);
  r = await query(p, CTE(1001));
  assert.deepEqual([r.status, r.json.error.code], [413, 'result_too_large']);
  assert.match(r.json.error.message, /db\.max_rows \(1000\)/);
  r = await batch(p, [{ sql: CTE(600) }, { sql: CTE(600) }]);
  assert.deepEqual([r.status, r.json.error.code], [413, 'result_too_large']);
  r = await query(p, "SELECT hex(zeroblob(60000)) AS big");
  assert.deepEqual([r.status, r.json.error.code], [413, 'result_too_large']);
  assert.match(r.json.error.message, /db\.max_result_bytes \(100000\)/);
  r = await query(p, 'SELECT hex(zeroblob(20000)) AS ok');
  assert.equal(r.status, 200);
});

test('postgres: SET, RESET and set_config are refused; the session keeps its settings', async () => {
  const p = pgh.port;
  const before = (await query(p, 'SHOW statement_timeout')).json.rows;
  for (const sql of ['SET statement_timeout = 0', 'SET SESSION statement_timeout TO 0', 'set search_path = nowhere', 'RESET ALL', 'reset statement_timeout', "SELECT set_config('statement_timeout', '0', false)", 'SET SESSION AUTHORIZATION DEFAULT', 'SET ROLE NONE']) {
    for (let k = 0; k < 2; k++) {
      const r = await query(p, sql);
      assert.equal(r.status, 400, `${sql}: ${r.text}`);
      assert.equal(r.json.error.code, 'bad_request');
      assert.match(r.json.error.message, /SET|RESET|set_config/);
    }
  }
  for (let k = 0; k < 4; k++) assert.deepEqual((await query(p, 'SHOW statement_timeout')).json.rows, before);
  assert.deepEqual((await query(p, "SELECT 'SET x = 1' AS s, 'set_config(' AS t")).json.rows, [{ s: 'SET x = 1', t: 'set_config(' }]);
});

test('postgres: a 5M-row result is refused with 413 without holding the rows; a huge value by max_result_bytes', async () => {
  const pid = pgh.proc.pid!;
  await query(pgh.port, 'SELECT 1');
  const { value: r, idle, peak } = await peakDuring(pid, () => query(pgh.port, "SELECT n, 'some padding text' AS pad FROM generate_series(1, 5000000) n", undefined));
  assert.equal(r.status, 413, r.text.slice(0, 300));
  assert.equal(r.json.error.code, 'result_too_large');
  assert.match(r.json.error.message, /db\.max_rows/);
  assert.ok(peak - idle < 300, `peak RSS ${peak.toFixed(0)} MiB, idle ${idle.toFixed(0)} MiB`);
  const b = await query(pgh.port, "SELECT repeat('x', 100000000) AS big");
  assert.deepEqual([b.status, b.json?.error?.code], [413, 'result_too_large']);
  assert.match(b.json.error.message, /db\.max_result_bytes/);
  const c = await DbLine.open(pgh.port);
  try {
    const l = await c.query('SELECT n FROM generate_series(1, 200000) n');
    assert.deepEqual([l.ok, l.code], [false, 'result_too_large']);
    // The pooled connections still work (pool_size 2: both were used above).
    for (let k = 0; k < 4; k++) assert.deepEqual((await c.query('SELECT 1 AS one')).value.rows, [{ one: 1 }]);
  } finally {
    c.close();
  }
  const ok = await query(pgh.port, 'SELECT n FROM generate_series(1, 100000) n');
  assert.equal(ok.status, 200);
  assert.equal(ok.json.rows.length, 100000);
});

/**
 * Sends `head` (and `body`) on a raw socket; resolves with what came back and
 * whether the server closed within 4 s (before the 5 s keep-alive timeout
 * would close an idle kept-alive connection anyway).
 */
function rawExchange(port: number, head: string, body: Buffer): Promise<{ text: string; closed: boolean }> {
  return new Promise((resolve, reject) => {
    const s = net.connect(port, '127.0.0.1');
    let text = '';
    const t = setTimeout(() => {
      s.destroy();
      resolve({ text, closed: false });
    }, 4000);
    s.setEncoding('latin1');
    s.on('data', (d: string) => (text += d));
    s.on('end', () => {
      clearTimeout(t);
      s.destroy();
      resolve({ text, closed: true });
    });
    s.on('error', (err) => {
      clearTimeout(t);
      if (text !== '') resolve({ text, closed: true });
      else reject(err);
    });
    s.write(head);
    s.write(body);
  });
}

test('postgres: a 413 for an oversized body closes the connection (declared and chunked)', async () => {
  const big = Buffer.alloc(64 * 1024, 'a');
  let r = await rawExchange(pgh.port, `POST /db/query HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${2 * MiB}\r\n\r\n`, big);
  assert.match(r.text, /^HTTP\/1\.1 413 /);
  assert.match(r.text, /"too_large"/);
  assert.match(r.text, /\r\nconnection: close\r\n/i);
  assert.ok(r.closed, `connection left open after 413: ${r.text.slice(0, 200)}`);
  // Chunked, growing past db.max_body while it arrives.
  const chunk = Buffer.concat([Buffer.from(`${(256 * 1024).toString(16)}\r\n`), Buffer.alloc(256 * 1024, 'a'), Buffer.from('\r\n')]);
  r = await rawExchange(pgh.port, 'POST /db/query HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n', Buffer.concat([chunk, chunk, chunk, chunk, chunk]));
  assert.match(r.text, /^HTTP\/1\.1 413 /);
  assert.match(r.text, /\r\nconnection: close\r\n/i);
  assert.ok(r.closed, `connection left open after 413: ${r.text.slice(0, 200)}`);
  // The server is fine afterwards.
  assert.equal((await query(pgh.port, 'SELECT 1 AS one')).status, 200);
});
