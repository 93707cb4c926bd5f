// SPDX-License-Identifier: LGPL-3.0-or-later
/**
 * Idle connections: opens `count` connections (at most `inflight` connecting
 * at once) that send `line` and then just stay open. Reports how many are
 * held; on `check` reports how many are still open; on `stop` closes all.
 */
import net from 'node:net';
import { config, report, waitFor } from './common.mjs';

const c = await config();
const sockets = new Set();
let errors = 0;
let closedEarly = 0;
let firstError = null;
let started = 0;
const t0 = performance.now();

function open(localAddress) {
  return new Promise((resolve) => {
    const s = net.connect({ port: c.port, host: '127.0.0.1', localAddress });
    s.once('connect', () => {
      s.write(c.line);
      sockets.add(s);
      resolve();
    });
    s.on('data', () => undefined);
    s.on('error', (e) => {
      errors++;
      firstError ??= e.code ?? e.message;
      resolve();
    });
    s.on('close', () => {
      if (sockets.delete(s)) closedEarly++;
    });
  });
}

const addrs = c.localAddresses;
async function lane(k) {
  for (;;) {
    const i = started++;
    if (i >= c.count) return;
    await open(addrs[i % addrs.length]);
  }
}
await Promise.all(Array.from({ length: c.inflight }, (_, k) => lane(k)));
report({ type: 'held', held: sockets.size, errors, firstError, closedEarly, ms: Math.round(performance.now() - t0) });
await waitFor('check');
report({ type: 'checked', open: sockets.size, closedEarly });
await waitFor('stop');
for (const s of sockets) s.destroy();
report({ type: 'stopped' });
setTimeout(() => process.exit(0), 50);
