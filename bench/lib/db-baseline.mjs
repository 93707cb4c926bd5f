// SPDX-License-Identifier: LGPL-3.0-or-later
/**
 * Baseline (b) of the db suite: what a user writes by hand, a plain
 * `node:http` server answering POST /db/query with the same JSON in and out,
 * running the query on its main thread: better-sqlite3 (statements cached),
 * or `pg` with a pool, or `mysql2` with a pool (prepared statements, as hrmr).
 * Prints `{"port": N}` once listening.
 * Usage: node db-baseline.mjs sqlite FILE | postgres URL | mysql URL
 */
import http from 'node:http';

const [kind, target] = process.argv.slice(2);
let run;
if (kind === 'sqlite') {
  const { openLikeHrmr } = await import('./db-workload.mjs');
  const db = openLikeHrmr(target);
  const cache = new Map();
  run = (sql, params) => {
    let s = cache.get(sql);
    if (!s) cache.set(sql, (s = db.prepare(sql)));
    if (s.reader) {
      const rows = s.all(...(params ?? []));
      return { rows, columns: rows.length > 0 ? Object.keys(rows[0]) : [] };
    }
    const info = s.run(...(params ?? []));
    return { changes: info.changes, lastInsertRowid: Number(info.lastInsertRowid) };
  };
} else if (kind === 'mysql') {
  const mysql = (await import('mysql2/promise')).default;
  const pool = mysql.createPool({ uri: target, connectionLimit: 10, supportBigNumbers: true, dateStrings: true });
  run = async (sql, params) => {
    const [r, fields] = await pool.execute(sql, params ?? []);
    return fields ? { rows: r, columns: fields.map((f) => f.name) } : { changes: r.affectedRows, lastInsertRowid: r.insertId || null };
  };
} else {
  const pg = (await import('pg')).default;
  const pool = new pg.Pool({ connectionString: target, max: 10 });
  run = async (sql, params) => {
    const r = await pool.query(sql, params);
    return r.fields.length > 0 ? { rows: r.rows, columns: r.fields.map((f) => f.name) } : { changes: r.rowCount, lastInsertRowid: null };
  };
}

const server = http.createServer((req, res) => {
  const chunks = [];
  req.on('data', (d) => chunks.push(d));
  req.on('end', async () => {
    let status = 200;
    let out;
    try {
      const { sql, params } = JSON.parse(Buffer.concat(chunks).toString('utf8'));
      out = await run(sql, params);
    } catch (err) {
      status = 400;
      out = { error: { code: err.code ?? 'error', message: err.message } };
    }
    const body = JSON.stringify(out);
    res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
    res.end(body);
  });
});
server.keepAliveTimeout = 60_000;
server.listen(0, '127.0.0.1', () => console.log(JSON.stringify({ port: server.address().port })));
process.on('SIGTERM', () => process.exit(0));
