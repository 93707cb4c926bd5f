// SPDX-License-Identifier: LGPL-3.0-or-later
// Baseline for the pool bench: a plain `net` server that splits lines and
// calls piscina directly, replies in order per connection. Prints its port.
//   node bench/baselines/piscina-server.mjs THREADS
import net from 'node:net';
import { Piscina } from 'piscina';

const threads = Number(process.argv[2] ?? 2);
const pool = new Piscina({ filename: new URL('./tiny-worker.mjs', import.meta.url).href, minThreads: threads, maxThreads: threads });
const server = net.createServer({ noDelay: true }, (s) => {
  let carry = '';
  let tail = Promise.resolve();
  s.setEncoding('utf8');
  s.on('data', (d) => {
    const parts = (carry + d).split('\n');
    carry = parts.pop();
    for (const line of parts) {
      const p = pool.run(line);
      tail = tail.then(() => p).then((r) => void s.write(r));
    }
  });
  s.on('end', () => s.end());
  s.on('error', () => {});
});
server.listen(0, '127.0.0.1', () => process.stdout.write(`${server.address().port}\n`));
process.on('SIGTERM', () => process.exit(0));
