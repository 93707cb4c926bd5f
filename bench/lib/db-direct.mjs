// SPDX-License-Identifier: LGPL-3.0-or-later
/**
 * Baseline (a) of the db suite, the limit: better-sqlite3 called directly in
 * one process, no network. Runs point selects (or single-row inserts) for
 * DURATION ms and prints `{"ops": N, "seconds": S, "rps": R}`.
 * Usage: node db-direct.mjs FILE select|insert DURATION_MS
 */
import { INSERT, openLikeHrmr, ROWS, SELECT } from './db-workload.mjs';

const [file, kind, ms] = [process.argv[2], process.argv[3], Number(process.argv[4])];
const db = openLikeHrmr(file);
const stmt = db.prepare(kind === 'select' ? SELECT('?') : INSERT('?'));
let ops = 0;
const t0 = process.hrtime.bigint();
const end = t0 + BigInt(ms) * 1_000_000n;
while (process.hrtime.bigint() < end) {
  for (let i = 0; i < 100; i++) {
    if (kind === 'select') stmt.get(1 + Math.floor(Math.random() * ROWS));
    else stmt.run(String(Math.random()));
  }
  ops += 100;
}
const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
db.close();
console.log(JSON.stringify({ ops, seconds, rps: ops / seconds }));
