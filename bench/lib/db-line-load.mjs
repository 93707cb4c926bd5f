// SPDX-License-Identifier: LGPL-3.0-or-later
/**
 * Line-protocol load for the db suite, as its own process: CONNS connections,
 * each sending `DB {json}` (a point select by a random key, or an insert),
 * awaiting the `OK` reply, repeat, for DURATION ms. Any other reply fails the
 * run. Prints `{"replies": N, "seconds": S, "rps": R, "wrong": null|string}`.
 * Usage: node db-line-load.mjs '{"port":N,"kind":"select"|"insert","ph":"?","conns":50,"durationMs":2000}'
 */
import net from 'node:net';
import { INSERT, ROWS, SELECT } from './db-workload.mjs';

const o = JSON.parse(process.argv[2]);
let replies = 0;
let wrong = null;
const t0 = Date.now();
const end = t0 + o.durationMs;
const line = () =>
  o.kind === 'select'
    ? `DB {"sql":"${SELECT(o.ph)}","params":[${1 + Math.floor(Math.random() * ROWS)}]}\n`
    : `DB {"sql":"${INSERT(o.ph)}","params":["${Math.random()}"]}\n`;

await Promise.all(
  Array.from(
    { length: o.conns },
    () =>
      new Promise((resolve) => {
        const s = net.connect(o.port, '127.0.0.1');
        s.setNoDelay(true);
        let buf = '';
        s.on('connect', () => s.write(line()));
        s.on('data', (d) => {
          buf += d;
          let k;
          while ((k = buf.indexOf('\n')) >= 0) {
            const r = buf.slice(0, k);
            buf = buf.slice(k + 1);
            if (!r.startsWith('OK {')) {
              wrong ??= r.slice(0, 200);
              s.destroy();
              return resolve();
            }
            replies++;
            if (Date.now() >= end) {
              s.destroy();
              return resolve();
            }
            s.write(line());
          }
        });
        s.on('error', (e) => {
          wrong ??= e.message;
          resolve();
        });
        s.on('close', resolve);
      }),
  ),
);
const seconds = (Date.now() - t0) / 1000;
console.log(JSON.stringify({ replies, seconds, rps: replies / seconds, wrong }));
