// SPDX-License-Identifier: LGPL-3.0-or-later
/**
 * The db module on SQLite (the default backend): a real database file in a
 * temp folder, the real server, real sockets. The interface cases shared
 * with PostgreSQL are in helpers/db-cases.ts; here also: the default
 * settings, broken settings refused at load, and durability across kill -9.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import Database from 'better-sqlite3';
import { startBundled } from './helpers/bundled.ts';
import { closeAgent, DbLine, query } from './helpers/db-client.ts';
import { dbCases, TOKEN } from './helpers/db-cases.ts';
import type { Hrmr } from './helpers/hrmr.ts';

const dir = mkdtempSync(join(tmpdir(), 'hrmr-db-sqlite-'));
const file = join(dir, 'sub', 'app.db');
let main: Hrmr;
let short: Hrmr;
let locked: Hrmr;
const others: Hrmr[] = [];

const start = (sets: string[], args: string[] = []): Promise<Hrmr> => startBundled(['db'], { args: [...sets.flatMap((s) => ['--set', s]), ...args] });

before(async () => {
  main = await start([`db.url=sqlite:${file}`], ['--task-timeout', '20000', '--reload-mode', 'graceful']);
  short = await start([`db.url=sqlite:${file}`], ['--task-timeout', '1500']);
  locked = await start([`db.url=sqlite:${file}`, `db.token=${TOKEN}`, 'db.readonly=true']);
});
after(async () => {
  closeAgent();
  await Promise.all([main?.kill(), short?.kill(), locked?.kill(), ...others.map((h) => h.kill())]);
  rmSync(dir, { recursive: true, force: true });
});

dbCases(
  {
    name: 'sqlite',
    p: () => '?',
    blob: 'BLOB',
    bigint: 'INTEGER',
    idCol: 'INTEGER PRIMARY KEY',
    uniqueCode: 'SQLITE_CONSTRAINT_UNIQUE',
    syntaxCode: 'SQLITE_ERROR',
    // A write that waits for the write lock, held by another connection (no CPU burnt while it waits).
    slow: "INSERT INTO slow_t VALUES ('late')",
    async hold() {
      await query(main.port, 'CREATE TABLE IF NOT EXISTS slow_t (v TEXT)');
      const db = new Database(file, { timeout: 5000 });
      db.exec('BEGIN IMMEDIATE');
      return () => {
        db.exec('ROLLBACK');
        db.close();
      };
    },
    rowid: true,
  },
  { main: () => main, short: () => short, locked: () => locked },
);

test('sqlite: the database file is created with its folder, in WAL mode', async () => {
  assert.ok(existsSync(file));
  const r = await query(main.port, 'PRAGMA journal_mode');
  assert.deepEqual(r.json.rows, [{ journal_mode: 'wal' }]);
});

test('sqlite: a write answered 200 survives kill -9 of hrmr (db.synchronous=full)', async () => {
  const f = join(dir, 'durable.db');
  const h = await start([`db.url=sqlite:${f}`, 'db.synchronous=full']);
  others.push(h);
  assert.equal((await query(h.port, 'CREATE TABLE d (k INTEGER PRIMARY KEY, v TEXT)')).status, 200);
  // Writes over both interfaces, then kill -9 right after the last answer.
  for (let i = 0; i < 20; i++) assert.equal((await query(h.port, 'INSERT INTO d VALUES (?, ?)', [i, `v${i}`])).status, 200);
  const c = await DbLine.open(h.port);
  for (let i = 20; i < 40; i++) assert.equal((await c.query('INSERT INTO d VALUES (?, ?)', [i, `v${i}`])).ok, true);
  c.close();
  h.proc.kill('SIGKILL');
  await h.exited;
  const h2 = await start([`db.url=sqlite:${f}`]);
  others.push(h2);
  const r = await query(h2.port, 'SELECT count(*) AS n, max(v) AS last FROM d');
  assert.deepEqual(r.json.rows, [{ n: 40, last: 'v9' }]);
  const r2 = await query(h2.port, 'SELECT v FROM d WHERE k = 39');
  assert.deepEqual(r2.json.rows, [{ v: 'v39' }]);
});

test('sqlite: the default url is sqlite:./data/hrmr.db, relative to the working folder', async () => {
  const cwd = mkdtempSync(join(tmpdir(), 'hrmr-db-cwd-'));
  try {
    const h = await startBundled(['db'], { cwd });
    others.push(h);
    assert.equal((await query(h.port, 'CREATE TABLE x (a)')).status, 200);
    assert.ok(existsSync(join(cwd, 'data', 'hrmr.db')));
    await h.kill();
  } finally {
    rmSync(cwd, { recursive: true, force: true });
  }
});

test('sqlite: broken settings are refused at load with a clear error', async () => {
  const h = await start(['db.url=mysql://nope', 'db.readonli=true']);
  others.push(h);
  const line = await h.waitForLog((l) => l.level >= 40 && /db/.test(JSON.stringify(l)) && /db\.url must be|unknown setting/.test(JSON.stringify(l)));
  assert.match(JSON.stringify(line), /db(\.url must be sqlite:PATH or postgres|: unknown setting \\"readonli\\")/);
  const r = await query(h.port, 'SELECT 1').catch((e: Error) => ({ status: 0, text: e.message }));
  assert.notEqual(r.status, 200, 'the module is not serving');
  const h2 = await start([`db.url=sqlite:${join(dir, 'missing', 'ro.db')}`, 'db.readonly=true']);
  others.push(h2);
  const l2 = await h2.waitForLog((l) => l.level >= 40 && /cannot open SQLite database/.test(JSON.stringify(l)));
  assert.match(JSON.stringify(l2), /read-only \(it must exist\)/);
});

test('sqlite: the bot example in docs/db.md runs as written (twice: 1, then 2)', async () => {
  const { readFileSync, writeFileSync } = await import('node:fs');
  const { execFile } = await import('node:child_process');
  const md = readFileSync(new URL('../docs/db.md', import.meta.url), 'utf8');
  const code = /## A bot in Node \(10 lines\)\n\n```js\n([\s\S]*?)```/.exec(md)?.[1];
  assert.ok(code, 'example found');
  assert.ok(code.trim().split('\n').length <= 10);
  const h = await start([`db.url=sqlite:${join(dir, 'example.db')}`, 'db.token=t0k']);
  others.push(h);
  const file = join(dir, 'bot.mjs');
  writeFileSync(file, code.replace('http://127.0.0.1:8080', `http://127.0.0.1:${h.port}`));
  const runBot = (): Promise<string> =>
    new Promise((resolve, reject) =>
      execFile(process.execPath, [file], { env: { ...process.env, DB_TOKEN: 't0k' }, timeout: 20_000 }, (err, out, errOut) => (err ? reject(new Error(`${err.message} ${errOut}`)) : resolve(out.trim()))),
    );
  assert.equal(await runBot(), '1');
  assert.equal(await runBot(), '2');
});
