// SPDX-License-Identifier: LGPL-3.0-or-later
/** The db module's pure logic: config, request validation, values, SQL helpers, error mapping, reply shaping. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DEFAULT_URL, describe as describeCfg, parseConfig, sqliteFile, taskTimeoutFrom } from '../modules_src/db/config.ts';
import { DbError, errorBody, errorLine, fromMysql, fromPg, fromSqlite } from '../modules_src/db/errors.ts';
import { checkBearer, httpReply, lineReply, type Backend } from '../modules_src/db/protocol.ts';
import { parseBatch, parseLine, parseQuery } from '../modules_src/db/request.ts';
import { checkStatement, firstKeyword, pgNamed } from '../modules_src/db/sql.ts';
import { intOut, pgParam, rowsOut, sqliteParam, valueOut } from '../modules_src/db/values.ts';

const D = { cwd: '/srv/app', taskTimeout: 30_000 };

function throwsDb(fn: () => unknown, status: number, code: string, re?: RegExp): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof DbError, `not a DbError: ${String(e)}`);
    assert.equal(e.status, status);
    assert.equal(e.code, code);
    if (re) assert.match(e.message, re);
    return true;
  });
}

describe('db config', () => {
  it('defaults to a SQLite file under ./data', () => {
    const c = parseConfig({}, D);
    assert.equal(DEFAULT_URL, 'sqlite:./data/hrmr.db');
    assert.deepEqual(
      { ...c },
      { backend: 'sqlite', url: DEFAULT_URL, file: '/srv/app/data/hrmr.db', mount: '/db/', token: null, readonly: false, synchronous: 'normal', busyTimeout: 10_000, timeout: 30_000, poolSize: 10, maxBody: 1024 * 1024, maxRows: 100_000, maxResultBytes: 64 * 1024 * 1024 },
    );
  });
  it('reads every setting; - and _ are the same; redis is ignored', () => {
    const c = parseConfig({ url: 'sqlite:///var/x.db', mount: '/sql', token: 'abc', readonly: 'yes', synchronous: 'FULL', 'busy-timeout': '50', timeout: '0', pool_size: '3', max_body: '2048', redis: 'redis://x' }, D);
    assert.equal(c.file, '/var/x.db');
    assert.equal(c.mount, '/sql/');
    assert.equal(c.token, 'abc');
    assert.equal(c.readonly, true);
    assert.equal(c.synchronous, 'full');
    assert.equal(c.busyTimeout, 50);
    assert.equal(c.timeout, 0);
    assert.equal(c.poolSize, 3);
    assert.equal(c.maxBody, 2048);
  });
  it('takes mysql:// and mariadb:// URLs and the result limits', () => {
    assert.equal(parseConfig({ url: 'mysql://bob:pw@127.0.0.1:3306/app' }, D).backend, 'mysql');
    assert.equal(parseConfig({ url: 'mariadb://bob@db/app' }, D).backend, 'mysql');
    assert.equal(describeCfg(parseConfig({ url: 'mysql://bob:pw@db/app' }, D)), 'mysql://bob:***@db/app');
    const c = parseConfig({ max_rows: '5', 'max-result-bytes': '2048' }, D);
    assert.deepEqual([c.maxRows, c.maxResultBytes], [5, 2048]);
  });
  it('takes postgres URLs and masks the password in describe()', () => {
    const c = parseConfig({ url: 'postgresql://bob:s3cret@db.local:5433/app' }, D);
    assert.equal(c.backend, 'postgres');
    assert.equal(describeCfg(c), 'postgresql://bob:***@db.local:5433/app');
  });
  it('refuses broken settings with a message naming them', () => {
    const bad: Array<[Record<string, string>, RegExp]> = [
      [{ urll: 'x' }, /unknown setting "urll"/],
      [{ url: 'oracle://x' }, /db\.url must be sqlite:PATH, postgres:/],
      [{ url: 'mysql://' }, /mysql/],
      [{ max_rows: '0' }, /db: bad setting max_rows=0: expected a whole number/],
      [{ max_result_bytes: '10' }, /db: bad setting max_result_bytes=10: expected a size/],
      [{ url: 'sqlite:' }, /names no file/],
      [{ url: 'sqlite::memory:' }, /not a plain file path/],
      [{ url: 'postgres://' }, /postgres/],
      [{ readonly: 'maybe' }, /^ConfigError: db: bad setting readonly=maybe: expected one of 1, true, yes, on, 0, false, no, off$/],
      [{ synchronous: 'fast' }, /db: bad setting synchronous=fast: expected one of off, normal, full, extra/],
      [{ busy_timeout: '-1' }, /db: bad setting busy_timeout=-1: expected a duration from 0ms to 1h/],
      [{ busy_timeout: '5k' }, /db: bad setting busy_timeout=5k: expected a duration/],
      [{ mount: 'db' }, /db: bad setting mount=db: expected a path starting with \//],
      [{ token: 'has space' }, /^ConfigError: db: bad setting token=\*\*\*: expected 1 to 512 printable/],
      [{ pool_size: '0' }, /db: bad setting pool_size=0: expected a whole number from 1 to 1000/],
      [{ max_body: 'big' }, /db: bad setting max_body=big: expected a size from 1k to 1g/],
    ];
    for (const [raw, re] of bad) assert.throws(() => parseConfig(raw, D), re, JSON.stringify(raw));
    const c = parseConfig({ busy_timeout: '10s', timeout: '2m', max_body: '64k', synchronous: 'FULL' }, D);
    assert.deepEqual([c.busyTimeout, c.timeout, c.maxBody, c.synchronous], [10_000, 120_000, 65536, 'full']);
  });
  it('resolves sqlite paths', () => {
    assert.equal(sqliteFile('sqlite:rel/a.db', '/w'), '/w/rel/a.db');
    assert.equal(sqliteFile('sqlite:/abs/a.db', '/w'), '/abs/a.db');
    assert.equal(sqliteFile('sqlite://rel/a%20b.db', '/w'), '/w/rel/a b.db');
  });
  it('finds --task-timeout in the arguments or the environment', () => {
    assert.equal(taskTimeoutFrom(['node', 'hrmr', '--task-timeout', '1500'], {}), 1500);
    assert.equal(taskTimeoutFrom(['--task-timeout=0'], {}), 0);
    assert.equal(taskTimeoutFrom([], { HRMR_TASK_TIMEOUT: '700' }), 700);
    assert.equal(taskTimeoutFrom([], {}), 30_000);
    assert.equal(taskTimeoutFrom(['--task-timeout', 'x'], {}), 30_000);
  });
});

describe('db requests', () => {
  it('parses queries and batches', () => {
    assert.deepEqual(parseQuery('{"sql":"SELECT ?","params":[1]}'), { sql: 'SELECT ?', params: [1], rowMode: 'object' });
    assert.deepEqual(parseQuery(Buffer.from('{"sql":"SELECT :a","params":{"a":1},"rowMode":"array"}')), { sql: 'SELECT :a', params: { a: 1 }, rowMode: 'array' });
    assert.deepEqual(parseQuery('{"sql":"x","params":null}').params, undefined);
    assert.deepEqual(parseBatch('{"statements":[{"sql":"a"},{"sql":"b","params":[2]}]}').statements, [
      { sql: 'a', params: undefined },
      { sql: 'b', params: [2] },
    ]);
  });
  it('refuses bad JSON and bad shapes with 400 bad_request', () => {
    throwsDb(() => parseQuery('{'), 400, 'bad_request', /bad JSON/);
    throwsDb(() => parseQuery(''), 400, 'bad_request', /empty body/);
    throwsDb(() => parseQuery('[]'), 400, 'bad_request', /expected an object/);
    throwsDb(() => parseQuery('{"sql":""}'), 400, 'bad_request', /"sql" must be a non-empty string/);
    throwsDb(() => parseQuery('{"sql":"x","param":[1]}'), 400, 'bad_request', /unknown field "param"/);
    throwsDb(() => parseQuery('{"sql":"x","params":5}'), 400, 'bad_request', /"params" must be/);
    throwsDb(() => parseQuery('{"sql":"x","rowMode":"rows"}'), 400, 'bad_request', /rowMode/);
    throwsDb(() => parseBatch('{"statements":[]}'), 400, 'bad_request', /non-empty array/);
    assert.throws(() => parseBatch('{"statements":[{"sql":"a"},{"sq":"b"}]}'), (e: DbError) => e.index === 1 && /statements\[1\]/.test(e.message));
  });
  it('parses protocol lines', () => {
    assert.deepEqual(parseLine('DB AUTH tok'), { kind: 'auth', token: 'tok' });
    assert.deepEqual(parseLine('DB {"sql":"SELECT 1"}'), { kind: 'query', req: { sql: 'SELECT 1', params: undefined, rowMode: 'object' } });
    assert.equal(parseLine('DB BATCH {"statements":[{"sql":"SELECT 1"}]}').kind, 'batch');
    throwsDb(() => parseLine('DB HELLO'), 400, 'bad_request');
    throwsDb(() => parseLine('PING'), 400, 'bad_request');
  });
});

describe('db values', () => {
  it('sends integers beyond 2^53 as strings', () => {
    assert.equal(intOut(5n), 5);
    assert.equal(intOut(9007199254740991n), 9007199254740991);
    assert.equal(intOut(9007199254740993n), '9007199254740993');
    assert.equal(intOut(-9223372036854775808n), '-9223372036854775808');
  });
  it('sends bytes as $base64 and converts rows in place', () => {
    assert.deepEqual(valueOut(Buffer.from([0, 1, 255])), { $base64: 'AAH/' });
    assert.deepEqual(rowsOut([{ a: 1n, b: Buffer.from('hi'), c: null, d: 's', e: 1.5 }, [2n ** 60n, new Uint8Array([1])]]), [
      { a: 1, b: { $base64: 'aGk=' }, c: null, d: 's', e: 1.5 },
      ['1152921504606846976', { $base64: 'AQ==' }],
    ]);
    assert.deepEqual(valueOut([1n, Buffer.from('a')]), [1, { $base64: 'YQ==' }]);
  });
  it('binds SQLite parameters', () => {
    assert.equal(sqliteParam(3, 'p'), 3n);
    assert.equal(sqliteParam(1.5, 'p'), 1.5);
    assert.equal(sqliteParam(true, 'p'), 1n);
    assert.equal(sqliteParam('9007199254740993', 'p'), '9007199254740993');
    assert.deepEqual(sqliteParam({ $base64: 'AAH/' }, 'p'), Buffer.from([0, 1, 255]));
    throwsDb(() => sqliteParam([1], 'params[0]'), 400, 'bad_request', /params\[0\]/);
    throwsDb(() => sqliteParam({ a: 1 }, 'p'), 400, 'bad_request');
    throwsDb(() => sqliteParam({ $base64: 'not base64!' }, 'p'), 400, 'bad_request', /base64/);
  });
  it('binds PostgreSQL parameters', () => {
    assert.deepEqual(pgParam({ $base64: 'AQ==' }, 'p'), Buffer.from([1]));
    assert.deepEqual(pgParam([1, { $base64: 'AQ==' }], 'p'), [1, Buffer.from([1])]);
    assert.equal(pgParam({ a: 1 }, 'p'), '{"a":1}');
    assert.equal(pgParam(null, 'p'), null);
  });
});

describe('db SQL helpers', () => {
  it('finds the first keyword past comments', () => {
    assert.equal(firstKeyword('  -- c\n /* x */ begin immediate'), 'BEGIN');
    assert.equal(firstKeyword('select 1'), 'SELECT');
    assert.equal(firstKeyword('/* only'), '');
  });
  it('refuses transaction control and ATTACH', () => {
    for (const s of ['BEGIN', 'commit', 'END', 'ROLLBACK', 'SAVEPOINT a', 'RELEASE a', 'ATTACH "x" AS y', 'start transaction']) throwsDb(() => checkStatement(s), 400, 'bad_request');
    checkStatement('SELECT 1');
    checkStatement('UPDATE t SET begin = 1');
  });
  it('rewrites PostgreSQL named parameters', () => {
    assert.deepEqual(pgNamed('SELECT :a, :b, :a', { a: 1, ':b': 2 }), { text: 'SELECT $1, $2, $1', values: [1, 2] });
    assert.deepEqual(pgNamed("SELECT ':a', \"x:a\", E'\\':a', x::int, $$ :a $$, $t$ :a $t$ -- :a\n, /* :a /* :a */ */ :a", { a: 7 }), {
      text: "SELECT ':a', \"x:a\", E'\\':a', x::int, $$ :a $$, $t$ :a $t$ -- :a\n, /* :a /* :a */ */ $1",
      values: [7],
    });
    throwsDb(() => pgNamed('SELECT :missing', {}), 400, 'bad_request', /:missing/);
  });
});

describe('db errors', () => {
  it('maps SQLite errors', () => {
    const e = (code: string): Error => Object.assign(new Error('m'), { code });
    assert.deepEqual([fromSqlite(e('SQLITE_CONSTRAINT_UNIQUE')).status, fromSqlite(e('SQLITE_CONSTRAINT_UNIQUE')).code], [400, 'SQLITE_CONSTRAINT_UNIQUE']);
    assert.equal(fromSqlite(e('SQLITE_BUSY')).status, 503);
    assert.equal(fromSqlite(e('SQLITE_BUSY_SNAPSHOT')).status, 503);
    assert.equal(fromSqlite(e('SQLITE_IOERR_WRITE')).status, 500);
    assert.equal(fromSqlite(e('SQLITE_READONLY'), true).status, 403);
    assert.equal(fromSqlite(new RangeError('Too few parameter values were provided')).code, 'bad_request');
  });
  it('maps PostgreSQL errors', () => {
    const e = (code: string, message = 'm'): Error => Object.assign(new Error(message), { code });
    assert.deepEqual([fromPg(e('23505')).status, fromPg(e('23505')).code], [400, '23505']);
    assert.deepEqual([fromPg(e('57014')).status, fromPg(e('57014')).code], [504, 'timeout']);
    assert.equal(fromPg(e('57P01')).status, 503);
    assert.equal(fromPg(e('25006')).status, 403);
    assert.deepEqual([fromPg(e('ECONNREFUSED')).status, fromPg(e('ECONNREFUSED')).code], [503, 'unavailable']);
    assert.equal(fromPg(new Error('Connection terminated unexpectedly')).status, 503);
  });
  it('formats bodies and lines', () => {
    const e = new DbError(400, 'SQLITE_ERROR', 'near "x":\nsyntax error', 2);
    assert.deepEqual(errorBody(e), { error: { code: 'SQLITE_ERROR', message: 'near "x":\nsyntax error', index: 2 } });
    assert.equal(errorLine(e), 'ERR SQLITE_ERROR statement 2: near "x": syntax error\n');
    assert.equal(errorLine(new DbError(401, 'forbidden', 'wrong token')), 'ERR forbidden wrong token\n');
  });
});

describe('db replies', () => {
  const backend: Backend = {
    query: (req) => (req.sql === 'fail' ? Promise.reject(Object.assign(new Error('dup'), { code: '23505' })) : { rows: [{ x: 1 }], columns: ['x'] }),
    batch: () => ({ results: [{ changes: 1, lastInsertRowid: 3 }] }),
  };
  it('answers HTTP with JSON', async () => {
    assert.deepEqual(httpReply(backend, 'query', '{"sql":"s"}'), { status: 200, headers: { 'content-type': 'application/json' }, body: '{"rows":[{"x":1}],"columns":["x"]}' });
    assert.equal((httpReply(backend, 'query', '{') as { status: number }).status, 400);
    const r = await httpReply(backend, 'query', '{"sql":"fail"}');
    assert.equal(r.status, 400);
    assert.match(r.body, /"code":"23505"/);
  });
  it('answers lines with OK / ERR', async () => {
    assert.equal(lineReply(backend, 'DB BATCH {"statements":[{"sql":"x"}]}', null), 'OK {"results":[{"changes":1,"lastInsertRowid":3}]}\n');
    assert.equal(lineReply(backend, 'DB AUTH anything', null), 'OK {}\n');
    assert.equal(lineReply(backend, 'DB AUTH nope', 'tok'), 'ERR forbidden wrong token\n');
    assert.equal(await lineReply(backend, 'DB {"sql":"fail"}', null), 'ERR 23505 dup\n');
  });
  it('checks bearer tokens', () => {
    assert.equal(checkBearer(undefined, null), null);
    assert.equal(checkBearer('Bearer tok', 'tok'), null);
    assert.equal(checkBearer('Bearer tok2', 'tok')?.status, 401);
    assert.equal(checkBearer(undefined, 'tok')?.code, 'forbidden');
  });
});

describe('db forwarded lines', () => {
  it('turns HTTP answers into protocol lines', async () => {
    const { httpToLine } = await import('../modules_src/db/protocol.ts');
    assert.equal(httpToLine(200, '{"rows":[],"columns":[]}'), 'OK {"rows":[],"columns":[]}\n');
    assert.equal(httpToLine(400, '{"error":{"code":"SQLITE_ERROR","message":"m","index":3}}'), 'ERR SQLITE_ERROR statement 3: m\n');
    assert.equal(httpToLine(504, '504 Gateway Timeout\n'), 'ERR timeout query over --task-timeout\n');
    assert.equal(httpToLine(503, '503 Service Unavailable\n'), 'ERR busy pool queue full\n');
  });
});

describe('db session guards', () => {
  it('refuses SQLite PRAGMAs that set, keeps the reading ones', async () => {
    const { checkFor } = await import('../modules_src/db/guard.ts');
    for (const s of ['PRAGMA foreign_keys=OFF', 'pragma main.synchronous = 0', 'PRAGMA foreign_keys(0)', '/*x*/ PRAGMA "query_only" = 1', 'PRAGMA [cache_size](5)', 'PRAGMA wal_checkpoint(TRUNCATE)', 'PRAGMA x y']) {
      throwsDb(() => checkFor('sqlite', s), 400, 'bad_request', /PRAGMA/);
    }
    for (const s of ['PRAGMA foreign_keys', 'PRAGMA table_info(t)', "pragma main.index_list('t')", 'PRAGMA foreign_key_check;', 'PRAGMA integrity_check(10)', 'SELECT * FROM pragma_table_info(?)']) checkFor('sqlite', s);
  });
  it('refuses PostgreSQL SET/RESET/set_config, not the words in strings', async () => {
    const { checkFor } = await import('../modules_src/db/guard.ts');
    for (const s of ['SET x = 1', 'set session search_path to a', 'RESET ALL', "SELECT set_config('a','b',false)", 'select SET_CONFIG ($1, $2, false)']) throwsDb(() => checkFor('postgres', s), 400, 'bad_request');
    for (const s of ["SELECT 'SET x', $$set_config($$", 'UPDATE t SET a = 1', 'SELECT "set_config"(1)']) checkFor('postgres', s);
  });
  it('refuses MySQL session changes', async () => {
    const { checkFor } = await import('../modules_src/db/guard.ts');
    for (const s of ['SET autocommit=0', 'set @x = 1', 'USE other', 'LOCK TABLES t WRITE', "SELECT GET_LOCK('a', 1)", 'SELECT @x := 1', 'SELECT 1 INTO @v', 'PREPARE s FROM "SELECT 1"', 'START TRANSACTION', '# hidden\nSET @x = 1', '/*!50000 SET @x = 1 */', 'SELECT /*M! 1, */ 2']) throwsDb(() => checkFor('mysql', s), 400, 'bad_request');
    for (const s of ["SELECT 'SET @x := 1', `get_lock(`", 'UPDATE t SET a = 1 # SET', "SELECT 'it\\'s := '"]) checkFor('mysql', s);
  });
});

describe('db result limits', () => {
  it('collects rows as JSON and stops past max_rows or max_result_bytes', async () => {
    const { Budget, RowCollector, resultJson, batchJson } = await import('../modules_src/db/results.ts');
    const b = new Budget({ maxRows: 3, maxResultBytes: 1000 });
    const c = new RowCollector(b);
    c.add({ a: 1n, b: Buffer.from('hi') });
    c.add({ a: 2, b: null });
    assert.equal(resultJson({ rows: c.done(), columns: ['a', 'b'] }), '{"rows":[{"a":1,"b":{"$base64":"aGk="}},{"a":2,"b":null}],"columns":["a","b"]}');
    const c2 = new RowCollector(b);
    c2.add([1]);
    throwsDb(() => c2.add([2]), 413, 'result_too_large', /db\.max_rows \(3\)/);
    const big = new RowCollector(new Budget({ maxRows: 10, maxResultBytes: 1000 }));
    throwsDb(() => big.add([Buffer.alloc(5000)]), 413, 'result_too_large', /db\.max_result_bytes \(1000\)/);
    assert.equal(batchJson({ results: [{ changes: 1, lastInsertRowid: null }, { rows: [], columns: [] }] }), '{"results":[{"changes":1,"lastInsertRowid":null},{"rows":[],"columns":[]}]}');
  });
});

describe('db MySQL errors and values', () => {
  const e = (code: string, errno: number, sqlState: string): Error => Object.assign(new Error('m'), { code, errno, sqlState });
  it('maps server errors like PostgreSQL SQLSTATEs', () => {
    const st = (x: Error): [number, string] => [fromMysql(x).status, fromMysql(x).code];
    assert.deepEqual(st(e('ER_DUP_ENTRY', 1062, '23000')), [400, 'ER_DUP_ENTRY']);
    assert.deepEqual(st(e('ER_PARSE_ERROR', 1064, '42000')), [400, 'ER_PARSE_ERROR']);
    assert.deepEqual(st(e('ER_LOCK_DEADLOCK', 1213, '40001')), [503, 'ER_LOCK_DEADLOCK']);
    assert.deepEqual(st(e('ER_LOCK_WAIT_TIMEOUT', 1205, 'HY000')), [503, 'ER_LOCK_WAIT_TIMEOUT']);
    assert.deepEqual(st(e('ER_STATEMENT_TIMEOUT', 1969, '70100')), [504, 'timeout']);
    assert.deepEqual(st(e('ER_CANT_EXECUTE_IN_READ_ONLY_TRANSACTION', 1792, '25006')), [403, 'readonly']);
    assert.deepEqual(st(e('ER_DISK_FULL', 1021, 'HY000')), [500, 'ER_DISK_FULL']);
    assert.deepEqual(st(e('', 4242, 'HY000')), [400, '4242']);
  });
  it('maps network and client errors to 503 unavailable', () => {
    for (const x of [Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }), Object.assign(new Error('Connection lost: The server closed the connection.'), { code: 'PROTOCOL_CONNECTION_LOST', fatal: true })]) {
      assert.deepEqual([fromMysql(x).status, fromMysql(x).code], [503, 'unavailable']);
    }
    assert.equal(fromMysql(new TypeError('Bind parameters must not contain undefined')).status, 400);
  });
  it('binds parameters', async () => {
    const { mysqlParam } = await import('../modules_src/db/mysql.ts');
    assert.deepEqual(mysqlParam({ $base64: 'AQ==' }, 'p'), Buffer.from([1]));
    assert.equal(mysqlParam({ a: 1 }, 'p'), '{"a":1}');
    assert.equal(mysqlParam('9223372036854775807', 'p'), '9223372036854775807');
    throwsDb(() => mysqlParam([1], 'params[0]'), 400, 'bad_request', /params\[0\]/);
  });
  it('remembers only statements that passed its checks: refusals hold on every repeat, also past the bounded memory', async () => {
    const { loadMysql, MysqlBackend } = await import('../modules_src/db/mysql.ts');
    await loadMysql();
    const log = { warn: () => undefined };
    // Nothing listens on port 1: a statement that passes the checks fails to connect (503), which is all it needs here.
    const rw = new MysqlBackend(parseConfig({ url: 'mysql://u:p@127.0.0.1:1/db' }, D), log);
    const ro = new MysqlBackend(parseConfig({ url: 'mysql://u:p@127.0.0.1:1/db', readonly: 'true' }, D), log);
    const q = (sql: string) => ({ sql, params: undefined, rowMode: 'object' as const });
    const pending: Promise<unknown>[] = [];
    try {
      for (let round = 0; round < 3; round++) {
        throwsDb(() => rw.query(q('set @a = 1')), 400, 'bad_request');
        throwsDb(() => ro.query(q('DELETE FROM t')), 403, 'readonly');
        // Allowed on the writable backend (and remembered there), still refused on the read-only one.
        pending.push(rw.query(q('DELETE FROM t')));
        throwsDb(() => ro.query(q('DELETE FROM t')), 403, 'readonly');
        for (let i = 0; i < 300; i++) pending.push(rw.query(q(`SELECT ${round * 300 + i}`)));
      }
      const settled = await Promise.allSettled(pending);
      assert.ok(settled.every((r) => r.status === 'rejected' && (r.reason as DbError).status === 503));
    } finally {
      await rw.close();
      await ro.close();
    }
  });
});
