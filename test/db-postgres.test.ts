// SPDX-License-Identifier: LGPL-3.0-or-later
/**
 * The db module on PostgreSQL: a throwaway PostgreSQL 15 cluster
 * (helpers/postgres.ts), the real server, real sockets. The interface cases
 * shared with SQLite are in helpers/db-cases.ts; here also: the server
 * cancels a query over the limit, and an outage answers 503 at once and
 * recovers by itself.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { startBundled } from './helpers/bundled.ts';
import { closeAgent, DbLine, query } from './helpers/db-client.ts';
import { dbCases, TOKEN } from './helpers/db-cases.ts';
import type { Hrmr } from './helpers/hrmr.ts';
import { startPostgres, type PostgresServer } from './helpers/postgres.ts';

let pg: PostgresServer;
let main: Hrmr;
let short: Hrmr;
let locked: Hrmr;

const start = (sets: string[], args: string[] = []): Promise<Hrmr> => startBundled(['db'], { args: [...sets.flatMap((s) => ['--set', s]), ...args] });

before(async () => {
  pg = await startPostgres();
  main = await start([`db.url=${pg.url}`], ['--task-timeout', '20000', '--reload-mode', 'graceful']);
  short = await start([`db.url=${pg.url}`], ['--task-timeout', '1500']);
  locked = await start([`db.url=${pg.url}`, `db.token=${TOKEN}`, 'db.readonly=true']);
});
after(async () => {
  closeAgent();
  await Promise.all([main?.kill(), short?.kill(), locked?.kill()]);
  await pg?.destroy();
});

dbCases(
  {
    name: 'postgres',
    p: (i) => `$${i}`,
    blob: 'BYTEA',
    bigint: 'BIGINT',
    idCol: 'BIGSERIAL PRIMARY KEY',
    uniqueCode: '23505',
    syntaxCode: '42601',
    slow: 'SELECT pg_sleep(8) AS slept',
    rowid: false,
  },
  { main: () => main, short: () => short, locked: () => locked },
);

test('postgres: the query over the limit was cancelled on the server, not left running', async () => {
  const r = await query(short.port, 'SELECT pg_sleep(8)');
  assert.equal(r.status, 504);
  assert.equal(r.json.error.code, 'timeout');
  assert.match(r.json.error.message, /statement timeout/);
  const running = await pg.psql("SELECT count(*) FROM pg_stat_activity WHERE query LIKE 'SELECT pg_sleep%' AND state = 'active'");
  assert.equal(running.trim(), '0');
});

test('postgres: types: numbers, bigint, numeric, booleans, timestamps, arrays, json', async () => {
  const r = await query(
    main.port,
    "SELECT 1::int AS i, 2::bigint AS b, 9223372036854775807::bigint AS big, 1.50::numeric AS n, 0.5::float8 AS f, true AS t, '2024-01-02 03:04:05'::timestamp AS ts, ARRAY[1,2] AS a, '{\"k\":[1]}'::jsonb AS j, NULL AS z",
  );
  assert.equal(r.status, 200, r.text);
  assert.deepEqual(r.json.rows, [{ i: 1, b: 2, big: '9223372036854775807', n: '1.50', f: 0.5, t: true, ts: '2024-01-02 03:04:05', a: [1, 2], j: { k: [1] }, z: null }]);
  const r2 = await query(main.port, 'SELECT $1::jsonb AS j, $2::int[] AS a', [{ x: 1 }, [3, 4]]);
  assert.deepEqual(r2.json.rows, [{ j: { x: 1 }, a: [3, 4] }]);
});

test('postgres: down → 503 at once on both interfaces; back → the first query succeeds', async () => {
  await query(main.port, 'CREATE TABLE IF NOT EXISTS outage (x INTEGER)');
  const c = await DbLine.open(main.port);
  try {
    await pg.stop();
    const t0 = Date.now();
    const r = await query(main.port, 'INSERT INTO outage VALUES (1)');
    assert.equal(r.status, 503, r.text);
    assert.equal(r.headers['retry-after'], '1');
    assert.ok(['unavailable', '57P01', '57P02', '57P03', '08006', '08003', '08001'].includes(r.json.error.code), r.text);
    const l = await c.query('SELECT 1');
    assert.equal(l.ok, false);
    assert.ok(Date.now() - t0 < 5000, `503s took ${Date.now() - t0} ms`);
    const r2 = await query(main.port, 'SELECT 1');
    assert.equal(r2.status, 503);
    await pg.restart();
    const r3 = await query(main.port, 'INSERT INTO outage VALUES (2)');
    assert.equal(r3.status, 200, r3.text);
    assert.deepEqual((await c.query('SELECT x FROM outage')).value.rows, [{ x: 2 }]);
    // A server with the token must come back too (its pool had idle connections when it went down).
    const r4 = await query(locked.port, 'SELECT count(*) AS n FROM outage', undefined, { token: TOKEN });
    assert.deepEqual([r4.status, r4.json?.rows], [200, [{ n: 1 }]]);
  } finally {
    c.close();
  }
});

test('postgres: hrmr starts while PostgreSQL is down, answers 503, and serves once it is up', async () => {
  const pg2 = await startPostgres();
  let h: Hrmr | null = null;
  try {
    await pg2.stop();
    h = await start([`db.url=${pg2.url}`]);
    await h.waitForLog((l) => /PostgreSQL unreachable/.test(l.msg));
    assert.equal((await query(h.port, 'SELECT 1')).status, 503);
    await pg2.restart();
    const r = await query(h.port, 'SELECT 1 AS one');
    assert.deepEqual([r.status, r.json.rows], [200, [{ one: 1 }]]);
  } finally {
    await h?.kill();
    await pg2.destroy();
  }
});
