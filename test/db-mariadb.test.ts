// SPDX-License-Identifier: LGPL-3.0-or-later
/**
 * The db module on MariaDB (the MySQL backend, mysql2): a throwaway server
 * (helpers/mariadb.ts), the real hrmr, real sockets. The interface cases
 * shared with SQLite and PostgreSQL (helpers/db-cases.ts), plus: types
 * (BIGINT, DECIMAL, BLOB, dates), batch rollback, session changes refused,
 * result limits, the pool size, dead connections replaced, a fleet of
 * concurrent writers, and the server stopped (SIGSTOP) mid-traffic.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { after, before, test } from 'node:test';
import { startBundled } from './helpers/bundled.ts';
import { batch, closeAgent, DbLine, query } from './helpers/db-client.ts';
import { dbCases, TOKEN } from './helpers/db-cases.ts';
import { admin, type Hrmr } from './helpers/hrmr.ts';
import { startMariaDb, type MariaDbServer } from './helpers/mariadb.ts';
import { freePort } from './helpers/redis.ts';
import { peakDuring } from './helpers/rss.ts';

let my: MariaDbServer;
let main: Hrmr;
let short: Hrmr;
let locked: Hrmr;
const others: Hrmr[] = [];

const start = (sets: string[], args: string[] = []): Promise<Hrmr> => startBundled(['db'], { args: [...sets.flatMap((s) => ['--set', s]), ...args] });

before(async () => {
  my = await startMariaDb();
  main = await start([`db.url=${my.url}`], ['--task-timeout', '20000', '--reload-mode', 'graceful']);
  short = await start([`db.url=${my.url}`], ['--task-timeout', '1500']);
  locked = await start([`db.url=${my.url.replace('mysql:', 'mariadb:')}`, `db.token=${TOKEN}`, 'db.readonly=true']);
});
after(async () => {
  closeAgent();
  await Promise.all([main?.kill(), short?.kill(), locked?.kill(), ...others.map((h) => h.kill())]);
  await my?.destroy();
});

dbCases(
  {
    name: 'mysql',
    p: () => '?',
    blob: 'LONGBLOB',
    bigint: 'BIGINT',
    idCol: 'BIGINT AUTO_INCREMENT PRIMARY KEY',
    uniqueCode: 'ER_DUP_ENTRY',
    syntaxCode: 'ER_PARSE_ERROR',
    noTableCode: 'ER_NO_SUCH_TABLE',
    keyText: 'VARCHAR(191)',
    slow: 'SELECT SLEEP(8) AS slept',
    rowid: 'auto',
  },
  { main: () => main, short: () => short, locked: () => locked },
);

test('mysql: types: BIGINT (signed and unsigned), DECIMAL, BLOB, dates as ISO strings, big insert ids, both ways', async () => {
  const p = main.port;
  let r = await query(p, 'CREATE TABLE ty (id BIGINT UNSIGNED AUTO_INCREMENT PRIMARY KEY, s BIGINT, u BIGINT UNSIGNED, d DECIMAL(30,4), b BLOB, dt DATETIME(3), ts TIMESTAMP NULL, dd DATE, j JSON)');
  assert.equal(r.status, 200, r.text);
  const bytes = Buffer.from([0, 1, 2, 127, 128, 255, 10]);
  r = await query(p, 'INSERT INTO ty (s, u, d, b, dt, ts, dd, j) VALUES (?, ?, ?, ?, ?, ?, ?, ?)', [
    '-9223372036854775808',
    '18446744073709551615',
    '12345678901234567890.1234',
    { $base64: bytes.toString('base64') },
    '2024-01-02 03:04:05.678',
    '2024-01-02 03:04:05',
    '2024-01-02',
    { k: [1, 2] },
  ]);
  assert.deepEqual(r.json, { changes: 1, lastInsertRowid: 1 }, r.text);
  r = await query(p, 'SELECT s, u, d, b, dt, ts, dd, j, 7 AS small FROM ty WHERE id = :id', { id: 1 });
  assert.deepEqual(r.json.rows, [
    { s: '-9223372036854775808', u: '18446744073709551615', d: '12345678901234567890.1234', b: { $base64: bytes.toString('base64') }, dt: '2024-01-02T03:04:05.678', ts: '2024-01-02T03:04:05Z', dd: '2024-01-02', j: { k: [1, 2] }, small: 7 },
  ]);
  // Integral DECIMALs (SUM of integers) are numbers when exact, strings beyond 2^53; others exact strings.
  r = await query(p, 'SELECT SUM(s) AS a, SUM(u) AS b, CAST(1.50 AS DECIMAL(5,2)) AS c FROM ty');
  assert.deepEqual(r.json.rows, [{ a: '-9223372036854775808', b: '18446744073709551615', c: '1.50' }]);
  r = await query(p, 'SELECT SUM(id) AS total FROM ty');
  assert.deepEqual(r.json.rows, [{ total: 1 }]);
  r = await query(p, 'SELECT id FROM ty WHERE u = ? AND b = ?', ['18446744073709551615', { $base64: bytes.toString('base64') }]);
  assert.deepEqual(r.json.rows, [{ id: 1 }]);
  // An AUTO_INCREMENT id beyond 2^53 comes back as a string.
  assert.equal((await query(p, 'ALTER TABLE ty AUTO_INCREMENT = 9007199254740993')).status, 200);
  r = await query(p, 'INSERT INTO ty (s) VALUES (1)');
  assert.deepEqual(r.json, { changes: 1, lastInsertRowid: '9007199254740993' });
  r = await query(p, 'SELECT id FROM ty WHERE s = 1', undefined, { rowMode: 'array' });
  assert.deepEqual(r.json, { rows: [['9007199254740993']], columns: ['id'] });
});

test('mysql: a failing batch rolls back every statement before it', async () => {
  const p = main.port;
  assert.equal((await query(p, 'CREATE TABLE rb (id INT PRIMARY KEY, v INT NOT NULL)')).status, 200);
  assert.equal((await query(p, 'INSERT INTO rb VALUES (1, 10)')).status, 200);
  const r = await batch(p, [{ sql: 'UPDATE rb SET v = v + 5 WHERE id = 1' }, { sql: 'INSERT INTO rb VALUES (2, 1)' }, { sql: 'INSERT INTO rb VALUES (?, ?)', params: [1, 1] }, { sql: 'INSERT INTO rb VALUES (3, 1)' }]);
  assert.deepEqual([r.status, r.json.error.code, r.json.error.index], [400, 'ER_DUP_ENTRY', 2]);
  assert.deepEqual((await query(p, 'SELECT id, v FROM rb ORDER BY id')).json.rows, [{ id: 1, v: 10 }]);
});

test('mysql: session changes are refused (SET, USE, LOCK, user variables, GET_LOCK); the session is unchanged', async () => {
  const p = main.port;
  const before = (await query(p, 'SELECT @@session.time_zone AS tz, @@session.max_statement_time AS mst, DATABASE() AS db')).json.rows;
  for (const sql of ['SET time_zone = "+05:00"', 'SET SESSION max_statement_time = 0', 'set @a = 1', 'SET NAMES latin1', 'USE mysql', 'LOCK TABLES rb WRITE', 'SELECT @a := 1', "SELECT GET_LOCK('x', 0)", 'SELECT 1 INTO @b', 'START TRANSACTION', 'XA START "x"']) {
    const r = await query(p, sql);
    assert.deepEqual([r.status, r.json.error.code], [400, 'bad_request'], `${sql}: ${r.text}`);
  }
  for (let k = 0; k < 4; k++) assert.deepEqual((await query(p, 'SELECT @@session.time_zone AS tz, @@session.max_statement_time AS mst, DATABASE() AS db')).json.rows, before);
  assert.deepEqual(before[0].tz, '+00:00');
});

test('mysql: results over db.max_rows / db.max_result_bytes answer 413 without holding the rows; the pool recovers', async () => {
  const pid = main.proc.pid!;
  await query(main.port, 'SELECT 1');
  const { value: r, idle, peak } = await peakDuring(pid, () => query(main.port, "SELECT seq, 'some padding text' AS pad FROM seq_1_to_5000000"));
  assert.equal(r.status, 413, r.text.slice(0, 300));
  assert.equal(r.json.error.code, 'result_too_large');
  assert.match(r.json.error.message, /db\.max_rows \(100000\)/);
  assert.ok(peak - idle < 300, `peak RSS ${peak.toFixed(0)} MiB, idle ${idle.toFixed(0)} MiB`);
  const b = await query(main.port, "SELECT REPEAT('x', 1000000) AS mb FROM seq_1_to_100");
  assert.deepEqual([b.status, b.json?.error?.code], [413, 'result_too_large']);
  assert.match(b.json.error.message, /db\.max_result_bytes/);
  const c = await DbLine.open(main.port);
  try {
    const l = await c.query('SELECT seq FROM seq_1_to_200000');
    assert.deepEqual([l.ok, l.code], [false, 'result_too_large']);
    for (let k = 0; k < 3; k++) assert.deepEqual((await c.query('SELECT 1 AS one')).value.rows, [{ one: 1 }]);
  } finally {
    c.close();
  }
  const ok = await query(main.port, 'SELECT seq FROM seq_1_to_100000');
  assert.equal(ok.json.rows.length, 100000);
});

test('mysql: the pool holds at most db.pool_size connections; dead connections are replaced', async () => {
  const h = await start([`db.url=${my.url}`, 'db.pool_size=3']);
  others.push(h);
  const count = async (): Promise<number> => Number((await my.sql("SELECT count(*) FROM information_schema.processlist WHERE user = 'hrmr' AND info LIKE 'SELECT SLEEP(0.4)%'")).trim());
  let most = 0;
  let done = false;
  const watcher = (async () => {
    while (!done) {
      most = Math.max(most, await count());
      await new Promise((r) => setTimeout(r, 50));
    }
  })();
  const rs = await Promise.all(Array.from({ length: 12 }, () => query(h.port, 'SELECT SLEEP(0.4) AS s')));
  done = true;
  await watcher;
  assert.deepEqual(rs.map((r) => r.status), Array(12).fill(200));
  assert.ok(most >= 1 && most <= 3, `at most 3 connections ran queries at once (saw ${most})`);
  // Kill every connection of hrmr's pool from the server side.
  const ids = (await my.sql("SELECT id FROM information_schema.processlist WHERE user = 'hrmr'")).trim().split('\n').filter(Boolean);
  assert.ok(ids.length >= 1);
  for (const id of ids) await my.sql(`KILL ${id}`).catch(() => undefined);
  const after: number[] = [];
  for (let k = 0; k < 6; k++) after.push((await query(h.port, 'SELECT 1 AS one')).status);
  assert.deepEqual(after.slice(-4), [200, 200, 200, 200], `after the kill: ${after.join(' ')}`);
  const st = JSON.parse((await admin(h.port, 'STATUS')).slice(3));
  const conns = JSON.stringify(st).match(/"connections":\{"total":(\d+)/);
  assert.ok(conns && Number(conns[1]) <= 3, JSON.stringify(st).slice(0, 400));
});

test('mysql: unreachable → 503 at once; hrmr starts while MariaDB is down', async () => {
  const port = await freePort();
  const h = await start([`db.url=mysql://hrmr:pw@127.0.0.1:${port}/hrmr`]);
  others.push(h);
  await h.waitForLog((l) => /MySQL\/MariaDB unreachable/.test(l.msg));
  const t0 = Date.now();
  const r = await query(h.port, 'SELECT 1');
  assert.equal(r.status, 503, r.text);
  assert.equal(r.headers['retry-after'], '1');
  assert.equal(r.json.error.code, 'unavailable');
  assert.ok(Date.now() - t0 < 2000, `took ${Date.now() - t0} ms`);
});

const CLIENT = fileURLToPath(new URL('./helpers/db-fleet-client.mjs', import.meta.url));

function bot(port: number, mode: 'http' | 'line', id: number, n: number): Promise<{ ok: number; failed: number; errors: string[] }> {
  return new Promise((resolve, reject) => {
    execFile(process.execPath, [CLIENT, String(port), mode, String(id), String(n), 'mysql'], { timeout: 120_000 }, (err, stdout, stderr) => {
      try {
        resolve(JSON.parse(stdout.trim().split('\n').pop()!));
      } catch {
        reject(new Error(`bot ${id} failed: ${err?.message ?? ''} ${stderr} ${stdout}`));
      }
    });
  });
}

test('mysql: a fleet of 8 writer processes, every increment lands', async () => {
  const p = main.port;
  const BOTS = 8;
  const EACH = 250;
  assert.equal((await query(p, 'CREATE TABLE counter (id INTEGER PRIMARY KEY, n INTEGER NOT NULL)')).status, 200);
  assert.equal((await query(p, 'INSERT INTO counter VALUES (1, 0)')).status, 200);
  assert.equal((await query(p, 'CREATE TABLE events (client INTEGER NOT NULL, i INTEGER NOT NULL, PRIMARY KEY (client, i))')).status, 200);
  const results = await Promise.all(Array.from({ length: BOTS }, (_, i) => bot(p, i % 2 === 0 ? 'http' : 'line', i, EACH)));
  assert.deepEqual(results.flatMap((r) => r.errors), []);
  assert.equal(results.reduce((a, r) => a + r.ok, 0), BOTS * EACH * 2);
  assert.deepEqual((await query(p, 'SELECT n FROM counter WHERE id = 1')).json.rows, [{ n: BOTS * EACH }]);
  assert.deepEqual((await query(p, 'SELECT count(*) AS r, count(DISTINCT client) AS b FROM events')).json.rows, [{ r: BOTS * EACH, b: BOTS }]);
});

test('mysql: the server stopped (SIGSTOP) mid-traffic: 503 within 2 s, nothing hangs; continued (SIGCONT): serving again, no acknowledged write lost', async () => {
  const p = main.port;
  assert.equal((await query(p, 'CREATE TABLE stopgo (id INT PRIMARY KEY)')).status, 200);
  let next = 0;
  let stop = false;
  const acked: number[] = [];
  const slowest = { paused: 0 };
  const statuses = new Map<number, number>();
  let paused = false;
  const writer = async (): Promise<void> => {
    while (!stop) {
      const id = ++next;
      const t0 = Date.now();
      const r = await query(p, 'INSERT INTO stopgo VALUES (?)', [id]);
      const ms = Date.now() - t0;
      statuses.set(r.status, (statuses.get(r.status) ?? 0) + 1);
      if (r.status === 200) acked.push(id);
      else {
        assert.equal(r.status, 503, r.text);
        if (paused) slowest.paused = Math.max(slowest.paused, ms);
        await new Promise((res) => setTimeout(res, 50));
      }
    }
  };
  const writers = Array.from({ length: 4 }, writer);
  try {
    await new Promise((r) => setTimeout(r, 500));
    my.pause();
    paused = true;
    // Requests started while it is stopped all answer 503, each within 2 s.
    const t0 = Date.now();
    const during = await Promise.all(Array.from({ length: 6 }, () => query(p, 'SELECT 1 AS one')));
    const ms = Date.now() - t0;
    assert.deepEqual(during.map((r) => r.status), Array(6).fill(503), during.map((r) => r.text).join('\n'));
    assert.ok(ms < 2000, `503s took ${ms} ms`);
    await new Promise((r) => setTimeout(r, 1500));
  } finally {
    paused = false;
    my.resume();
  }
  // Back: requests succeed again.
  let okAfter = false;
  for (let k = 0; k < 50 && !okAfter; k++) {
    okAfter = (await query(p, 'SELECT 1 AS one')).status === 200;
    if (!okAfter) await new Promise((r) => setTimeout(r, 100));
  }
  assert.ok(okAfter, 'serving again after SIGCONT');
  const before = acked.length;
  while (acked.length < before + 20) await new Promise((r) => setTimeout(r, 50));
  stop = true;
  await Promise.all(writers);
  assert.ok(slowest.paused < 2500, `a write during the stop took ${slowest.paused} ms`);
  assert.ok((statuses.get(503) ?? 0) > 0);
  const rows = (await query(p, 'SELECT id FROM stopgo ORDER BY id', undefined, { rowMode: 'array' })).json.rows.map((x: number[]) => x[0]);
  const have = new Set(rows);
  assert.deepEqual(acked.filter((id) => !have.has(id)), [], 'every acknowledged write is there');
});
