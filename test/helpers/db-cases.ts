// SPDX-License-Identifier: LGPL-3.0-or-later
/**
 * The db module's interface tests, run once per backend (SQLite,
 * PostgreSQL, MariaDB) against the real server: only the SQL dialect differs.
 */
import assert from 'node:assert/strict';
import { appendFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { admin, type Hrmr } from './hrmr.ts';
import { batch, dbPost, DbLine, parseLine, query } from './db-client.ts';

export interface Dialect {
  readonly name: 'sqlite' | 'postgres' | 'mysql';
  /** Positional placeholder number i (1-based). */
  p(i: number): string;
  readonly blob: string;
  readonly bigint: string;
  readonly idCol: string;
  readonly uniqueCode: string;
  readonly syntaxCode: string;
  /** The code for a missing table (default: SQLite's / PostgreSQL's). */
  readonly noTableCode?: string;
  /** A text type usable as a key (MySQL cannot index plain TEXT); default TEXT. */
  readonly keyText?: string;
  /** A query that runs well past a 1.5 s --task-timeout (a few seconds), once `hold` (if any) has run. */
  readonly slow: string;
  /** Sets up what makes `slow` slow (and cleans it up); resolves with a release function. */
  readonly hold?: () => Promise<() => void>;
  /**
   * lastInsertRowid of an INSERT: true: the row's id (SQLite), false: always
   * null (PostgreSQL), 'auto': the AUTO_INCREMENT id when one was made, else null (MySQL).
   */
  readonly rowid: boolean | 'auto';
}

export interface Servers {
  /** The main server: --reload-mode graceful, a generous --task-timeout (loaded CI machines). */
  main(): Hrmr;
  /** A server on the same database with --task-timeout 1500. */
  short(): Hrmr;
  /** A server on the same database with db.token=s3cret and db.readonly=true. */
  locked(): Hrmr;
}

export const TOKEN = 's3cret';

export function dbCases(d: Dialect, s: Servers): void {
  const port = (): number => s.main().port;
  const p = d.p;

  test(`${d.name}: rows and changes, positional and named params, array rows`, async () => {
    let r = await query(port(), `CREATE TABLE people (id ${d.idCol}, name ${d.keyText ?? 'TEXT'} NOT NULL UNIQUE, age INTEGER)`);
    assert.equal(r.status, 200, r.text);
    assert.equal(r.headers['content-type'], 'application/json');
    r = await query(port(), `INSERT INTO people (name, age) VALUES (${p(1)}, ${p(2)})`, ['ada', 36]);
    assert.deepEqual(r.json, { changes: 1, lastInsertRowid: d.rowid ? 1 : null });
    r = await query(port(), `INSERT INTO people (name, age) VALUES (:name, :age)`, { name: 'bob', age: 41 });
    assert.deepEqual(r.json, { changes: 1, lastInsertRowid: d.rowid ? 2 : null });
    r = await query(port(), `SELECT id, name, age FROM people WHERE age > ${p(1)} ORDER BY id`, [30]);
    assert.equal(r.status, 200);
    assert.deepEqual(r.json, { rows: [{ id: 1, name: 'ada', age: 36 }, { id: 2, name: 'bob', age: 41 }], columns: ['id', 'name', 'age'] });
    r = await query(port(), 'SELECT name FROM people WHERE name = :n OR age = :a ORDER BY id', { ':n': 'ada', a: 41 }, { rowMode: 'array' });
    assert.deepEqual(r.json, { rows: [['ada'], ['bob']], columns: ['name'] });
    r = await query(port(), `UPDATE people SET age = age + 1`);
    assert.deepEqual(r.json.changes, 2);
    r = await query(port(), `SELECT name FROM people WHERE age > 100`);
    assert.deepEqual(r.json, { rows: [], columns: ['name'] });
    r = await query(port(), `INSERT INTO people (name, age) VALUES (${p(1)}, 1) RETURNING name`, ['cy']);
    assert.deepEqual(r.json, { rows: [{ name: 'cy' }], columns: ['name'] });
  });

  test(`${d.name}: a batch commits together; a failing statement rolls it all back and names its index`, async () => {
    assert.equal((await query(port(), `CREATE TABLE acct (id INTEGER PRIMARY KEY, bal INTEGER NOT NULL)`)).status, 200);
    let r = await batch(port(), [
      { sql: `INSERT INTO acct VALUES (1, 100)` },
      { sql: `INSERT INTO acct VALUES (${p(1)}, ${p(2)})`, params: [2, 50] },
      { sql: `SELECT sum(bal) AS total FROM acct` },
    ]);
    assert.equal(r.status, 200, r.text);
    assert.deepEqual(r.json.results[0], { changes: 1, lastInsertRowid: d.rowid === true ? 1 : null });
    assert.deepEqual(r.json.results[2], { rows: [{ total: 150 }], columns: ['total'] });
    r = await batch(port(), [{ sql: `UPDATE acct SET bal = bal - 10 WHERE id = 1` }, { sql: `INSERT INTO acct VALUES (2, 0)` }, { sql: `UPDATE acct SET bal = bal + 10 WHERE id = 2` }]);
    assert.equal(r.status, 400);
    assert.equal(r.json.error.index, 1);
    assert.equal(r.json.error.code, d.name === 'sqlite' ? 'SQLITE_CONSTRAINT_PRIMARYKEY' : d.uniqueCode);
    assert.match(r.json.error.message, /unique|duplicate/i);
    r = await query(port(), `SELECT id, bal FROM acct ORDER BY id`);
    assert.deepEqual(r.json.rows, [{ id: 1, bal: 100 }, { id: 2, bal: 50 }], 'the first UPDATE was rolled back');
    r = await batch(port(), [{ sql: 'SELECT 1' }, { sql: 'COMMIT' }]);
    assert.equal(r.status, 400);
    assert.deepEqual([r.json.error.code, r.json.error.index], ['bad_request', 1]);
    // The line protocol names the statement too.
    const c = await DbLine.open(port());
    try {
      const l = parseLine(await c.request(`DB BATCH ${JSON.stringify({ statements: [{ sql: 'SELECT 1' }, { sql: `INSERT INTO acct VALUES (1, 1)` }] })}`));
      assert.equal(l.ok, false);
      assert.equal(l.code, d.name === 'sqlite' ? 'SQLITE_CONSTRAINT_PRIMARYKEY' : d.uniqueCode);
      assert.match(l.message!, /^statement 1: /);
    } finally {
      c.close();
    }
  });

  test(`${d.name}: errors carry the database's code; bad requests are 400 bad_request`, async () => {
    await query(port(), `CREATE TABLE uniq (k ${d.keyText ?? 'TEXT'} PRIMARY KEY)`);
    await query(port(), `INSERT INTO uniq VALUES ('a')`);
    let r = await query(port(), `INSERT INTO uniq VALUES ('a')`);
    assert.equal(r.status, 400);
    assert.equal(r.json.error.code, d.name === 'sqlite' ? 'SQLITE_CONSTRAINT_PRIMARYKEY' : d.uniqueCode);
    r = await query(port(), 'SELEC 1');
    assert.deepEqual([r.status, r.json.error.code], [400, d.syntaxCode]);
    r = await query(port(), 'SELECT * FROM no_such_table');
    assert.deepEqual([r.status, r.json.error.code], [400, d.noTableCode ?? (d.name === 'sqlite' ? 'SQLITE_ERROR' : '42P01')]);
    r = await dbPost(port(), '/db/query', '{"sql": ');
    assert.equal(r.status, 400);
    assert.equal(r.json.error.code, 'bad_request');
    assert.match(r.json.error.message, /^bad JSON/);
    r = await dbPost(port(), '/db/query', { sql: 'SELECT 1', parms: [] });
    assert.deepEqual([r.status, r.json.error.code], [400, 'bad_request']);
    r = await query(port(), 'BEGIN');
    assert.deepEqual([r.status, r.json.error.code], [400, 'bad_request']);
    r = await dbPost(port(), '/db/nothing', {});
    assert.deepEqual([r.status, r.json.error.code], [404, 'not_found']);
    r = await dbPost(port(), '/db/query', '', { method: 'GET' });
    assert.equal(r.status, 405);
    assert.equal(r.headers.allow, 'POST');
    // The connection still works after all that.
    r = await query(port(), 'SELECT 1 AS one');
    assert.deepEqual(r.json.rows, [{ one: 1 }]);
  });

  test(`${d.name}: BLOBs as $base64 and integers beyond 2^53 as strings, both ways, both interfaces`, async () => {
    await query(port(), `CREATE TABLE vals (id INTEGER PRIMARY KEY, b ${d.blob}, big ${d.bigint}, f REAL, t TEXT)`);
    const bytes = Buffer.from([0, 1, 2, 253, 254, 255, 10, 13]);
    const b64 = bytes.toString('base64');
    let r = await query(port(), `INSERT INTO vals VALUES (${p(1)}, ${p(2)}, ${p(3)}, ${p(4)}, ${p(5)})`, [1, { $base64: b64 }, '9223372036854775807', 1.5, null]);
    assert.equal(r.status, 200, r.text);
    r = await query(port(), `INSERT INTO vals VALUES (:id, :b, :big, :f, :t)`, { id: 2, b: { $base64: '' }, big: '-9007199254740993', f: -0.25, t: 'ünïcode ✓' });
    assert.equal(r.status, 200, r.text);
    r = await query(port(), `SELECT id, b, big, f, t FROM vals ORDER BY id`);
    assert.deepEqual(r.json.rows, [
      { id: 1, b: { $base64: b64 }, big: '9223372036854775807', f: 1.5, t: null },
      { id: 2, b: { $base64: '' }, big: '-9007199254740993', f: -0.25, t: 'ünïcode ✓' },
    ]);
    r = await query(port(), `SELECT id FROM vals WHERE big = ${p(1)}`, ['9223372036854775807']);
    assert.deepEqual(r.json.rows, [{ id: 1 }]);
    r = await query(port(), `SELECT big FROM vals WHERE id = 1`, undefined);
    const c = await DbLine.open(port());
    try {
      const l = await c.query(`SELECT b, big FROM vals WHERE b = ${p(1)}`, [{ $base64: b64 }]);
      assert.deepEqual(l.value, { rows: [{ b: { $base64: b64 }, big: '9223372036854775807' }], columns: ['b', 'big'] });
    } finally {
      c.close();
    }
  });

  test(`${d.name}: line protocol, many requests in flight on one connection, replies in order`, async () => {
    const c = await DbLine.open(port());
    try {
      const n = 200;
      let out = '';
      for (let i = 0; i < n; i++) {
        if (i % 50 === 7) out += 'DB {"sql": "SELEC oops"}\n';
        else if (i % 50 === 8) out += 'DB nonsense\n';
        else out += `DB ${JSON.stringify({ sql: `SELECT ${p(1)} AS i`, params: [String(i)] })}\n`;
      }
      c.c.socket.write(out);
      for (let i = 0; i < n; i++) {
        const line = await c.read();
        if (i % 50 === 7) assert.match(line!, new RegExp(`^ERR ${d.syntaxCode} `));
        else if (i % 50 === 8) assert.equal(line, 'ERR bad_request expected DB {json}, DB BATCH {json} or DB AUTH <token>');
        else assert.equal(line, `OK {"rows":[{"i":"${i}"}],"columns":["i"]}`);
      }
      assert.equal(await c.request('DB AUTH anything'), 'OK {}', 'without a token any AUTH passes');
    } finally {
      c.close();
    }
  });

  test(`${d.name}: token and read-only`, async () => {
    const lp = s.locked().port;
    await query(port(), `CREATE TABLE ro (x INTEGER)`);
    await query(port(), `INSERT INTO ro VALUES (1)`);
    let r = await query(lp, 'SELECT x FROM ro');
    assert.equal(r.status, 401);
    assert.equal(r.headers['www-authenticate'], 'Bearer');
    assert.equal(r.json.error.code, 'forbidden');
    r = await query(lp, 'SELECT x FROM ro', undefined, { token: 'wrong' });
    assert.equal(r.status, 401);
    r = await query(lp, 'SELECT x FROM ro', undefined, { token: TOKEN });
    assert.deepEqual([r.status, r.json.rows], [200, [{ x: 1 }]]);
    r = await query(lp, 'INSERT INTO ro VALUES (2)', undefined, { token: TOKEN });
    assert.deepEqual([r.status, r.json.error.code], [403, 'readonly']);
    r = await dbPost(lp, '/db/batch', { statements: [{ sql: 'SELECT 1' }, { sql: 'DELETE FROM ro' }] }, { token: TOKEN });
    assert.equal(r.status, 403);
    assert.equal(r.json.error.code, 'readonly');
    assert.deepEqual((await query(port(), 'SELECT count(*) AS n FROM ro')).json.rows, [{ n: 1 }], 'nothing written');

    // Line protocol: no AUTH first, or a wrong token: ERR forbidden and the connection closes, nothing runs.
    let c = await DbLine.open(lp);
    c.send('DB {"sql":"SELECT x FROM ro"}');
    assert.match((await c.read())!, /^ERR forbidden /);
    assert.equal(await c.read(), null);
    c = await DbLine.open(lp);
    c.send('DB AUTH wrong');
    c.send('DB {"sql":"SELECT x FROM ro"}');
    assert.match((await c.read())!, /^ERR forbidden /);
    assert.equal(await c.read(), null);
    c = await DbLine.open(lp);
    try {
      assert.equal(await c.request(`DB AUTH ${TOKEN}`), 'OK {}');
      const q = await c.query('SELECT x FROM ro');
      assert.deepEqual(q.value, { rows: [{ x: 1 }], columns: ['x'] }, String(q.raw));
      const w = await c.query('UPDATE ro SET x = 5');
      assert.deepEqual([w.ok, w.code], [false, 'readonly']);
    } finally {
      c.close();
    }
  });

  test(`${d.name}: RELOAD of the module during load loses no request`, async () => {
    const h = s.main();
    await query(port(), `CREATE TABLE rl (id INTEGER PRIMARY KEY, via TEXT NOT NULL)`);
    let stop = false;
    let next = 0;
    const ok: number[] = [];
    const failures: string[] = [];
    const httpWorker = async (): Promise<void> => {
      while (!stop) {
        const id = ++next;
        const r = await query(port(), `INSERT INTO rl VALUES (${p(1)}, 'http')`, [id]);
        if (r.status === 200) ok.push(id);
        else failures.push(`${r.status} ${r.text}`);
      }
    };
    const lineWorker = async (): Promise<void> => {
      const c = await DbLine.open(port());
      try {
        while (!stop) {
          const id = ++next;
          const l = await c.query(`INSERT INTO rl VALUES (${p(1)}, 'line')`, [id]);
          if (l.ok) ok.push(id);
          else failures.push(String(l.raw));
        }
      } finally {
        c.close();
      }
    };
    const workers = [httpWorker(), httpWorker(), httpWorker(), lineWorker(), lineWorker()];
    const reloads: string[] = [];
    try {
      for (let i = 0; i < 3; i++) {
        await new Promise((r) => setTimeout(r, 150));
        appendFileSync(join(h.dir, 'db.mjs'), `\n// reload ${i}\n`);
        reloads.push(await admin(h.port, 'RELOAD', 30_000));
      }
      await new Promise((r) => setTimeout(r, 150));
    } finally {
      stop = true;
      await Promise.all(workers);
    }
    for (const l of reloads) assert.match(l, /^OK reloaded/);
    assert.deepEqual(failures, []);
    assert.ok(ok.length > 20, `only ${ok.length} requests went through`);
    const r = await query(port(), 'SELECT id FROM rl ORDER BY id', undefined, { rowMode: 'array' });
    assert.equal(r.status, 200, r.text);
    assert.deepEqual(
      r.json.rows.map((x: number[]) => x[0]),
      ok.sort((a, b) => a - b),
      'every answered insert is there, and nothing else',
    );
  });

  test(`${d.name}: a query over --task-timeout is cancelled and answered 504; other queries carry on`, async () => {
    const sp = s.short().port;
    const release = d.hold ? await d.hold() : () => undefined;
    try {
      const t0 = Date.now();
      const slow = query(sp, d.slow);
      const quick = await query(sp, 'SELECT 2 AS two');
      assert.deepEqual(quick.json?.rows, [{ two: 2 }], `a quick query is not stuck behind the slow one: ${quick.text}`);
      const r = await slow;
      assert.equal(r.status, 504, r.text);
      assert.ok(Date.now() - t0 < 20_000);
      const c = await DbLine.open(sp);
      try {
        assert.deepEqual((await c.query('SELECT 3 AS three')).value?.rows, [{ three: 3 }]);
        const l = await c.query(d.slow);
        assert.equal(l.ok, false);
        assert.equal(l.code, 'timeout', String(l.raw));
      } finally {
        c.close();
      }
    } finally {
      release();
    }
    assert.deepEqual((await query(sp, 'SELECT 4 AS four')).json?.rows, [{ four: 4 }]);
  });
}
