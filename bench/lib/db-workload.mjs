// SPDX-License-Identifier: LGPL-3.0-or-later
/** The db suite's data and queries, shared by hrmr's load, the baselines and the direct runs. */
import Database from 'better-sqlite3';

export const ROWS = 10_000;
export const SELECT = (ph) => `SELECT id, name, score FROM users WHERE id = ${ph}`;
export const INSERT = (ph) => `INSERT INTO log (v) VALUES (${ph})`;
export const SCHEMA = [
  'CREATE TABLE IF NOT EXISTS users (id INTEGER PRIMARY KEY, name TEXT NOT NULL, score INTEGER NOT NULL)',
  'CREATE TABLE IF NOT EXISTS log (id INTEGER PRIMARY KEY, v TEXT NOT NULL)',
];
export const PG_SCHEMA = [
  'CREATE TABLE IF NOT EXISTS users (id INTEGER PRIMARY KEY, name TEXT NOT NULL, score INTEGER NOT NULL)',
  'CREATE TABLE IF NOT EXISTS log (id BIGSERIAL PRIMARY KEY, v TEXT NOT NULL)',
];

export const MYSQL_SCHEMA = [
  'CREATE TABLE IF NOT EXISTS users (id INTEGER PRIMARY KEY, name VARCHAR(64) NOT NULL, score INTEGER NOT NULL)',
  'CREATE TABLE IF NOT EXISTS log (id BIGINT AUTO_INCREMENT PRIMARY KEY, v TEXT NOT NULL)',
];

/** A fresh SQLite file with the bench tables, in WAL mode like hrmr's. */
export function makeSqlite(file) {
  const db = new Database(file);
  db.pragma('journal_mode = WAL');
  for (const s of SCHEMA) db.exec(s);
  const ins = db.prepare('INSERT OR REPLACE INTO users VALUES (?, ?, ?)');
  db.transaction(() => {
    for (let i = 1; i <= ROWS; i++) ins.run(i, `user${i}`, i * 7);
  })();
  db.close();
}

/** Opens a file the way the db module does (WAL, synchronous normal, busy timeout). */
export function openLikeHrmr(file) {
  const db = new Database(file, { timeout: 10_000 });
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = normal');
  db.pragma('foreign_keys = ON');
  return db;
}
