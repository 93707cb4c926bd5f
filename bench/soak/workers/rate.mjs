// SPDX-License-Identifier: LGPL-3.0-or-later
/**
 * Connection rate: `concurrency` loops, each connecting, sending `line`,
 * reading until the server closes, and checking the reply is `expect`,
 * for `durationMs`. Reports completed connections per second.
 */
import net from 'node:net';
import { config, report } from './common.mjs';

const c = await config();
let count = 0;
let wrong = 0;
let errors = 0;
let firstProblem = null;
const end = performance.now() + c.durationMs;

function one() {
  return new Promise((resolve) => {
    const s = net.connect({ port: c.port, host: '127.0.0.1', localAddress: c.localAddress });
    let got = '';
    s.setEncoding('latin1');
    s.once('connect', () => s.write(c.line));
    s.on('data', (d) => (got += d));
    s.on('error', (e) => {
      errors++;
      firstProblem ??= e.code ?? e.message;
    });
    s.on('close', () => {
      if (got === c.expect) count++;
      else if (got !== '') {
        wrong++;
        firstProblem ??= `got ${JSON.stringify(got.slice(0, 60))}`;
      }
      resolve();
    });
  });
}

const t0 = performance.now();
await Promise.all(
  Array.from({ length: c.concurrency }, async () => {
    while (performance.now() < end) await one();
  }),
);
const s = (performance.now() - t0) / 1000;
report({ type: 'done', count, wrong, errors, firstProblem, perSecond: Math.round(count / s) });
setTimeout(() => process.exit(0), 50);
