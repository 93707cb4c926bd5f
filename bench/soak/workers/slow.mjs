// SPDX-License-Identifier: LGPL-3.0-or-later
/**
 * Slow clients: keeps `clients` connections open, each sending one byte of a
 * partial prefix per second, and reopens each one the server closes, until
 * `durationMs` passes. Reports how long the server let each one hang on.
 */
import net from 'node:net';
import { config, report } from './common.mjs';

const c = await config();
const prefix = Buffer.from(c.prefix);
const held = [];
let opened = 0;
let errors = 0;
let stopping = false;
let open = 0;
const startedAt = Date.now();

function one() {
  if (stopping) return;
  opened++;
  open++;
  const t0 = performance.now();
  let i = 0;
  let closedByServer = false;
  const s = net.connect({ port: c.port, host: '127.0.0.1', localAddress: c.localAddress });
  const tick = setInterval(() => {
    if (i < prefix.length - 1) s.write(prefix.subarray(i, ++i));
  }, 1000);
  s.once('connect', () => s.write(prefix.subarray(i, ++i)));
  s.on('data', () => undefined);
  s.on('error', (e) => {
    if (e.code !== 'ECONNRESET' && e.code !== 'EPIPE') errors++;
  });
  const serverClosed = () => {
    if (closedByServer) return;
    closedByServer = true;
    held.push(performance.now() - t0);
    s.destroy();
  };
  s.once('end', serverClosed);
  s.once('close', () => {
    clearInterval(tick);
    open--;
    serverClosed();
    // Keep the population up while the run lasts.
    if (!stopping) setImmediate(one);
  });
}

// Ramp up in batches so the listen backlog is not the bottleneck.
for (let n = 0; n < c.clients && !stopping; n += 100) {
  for (let k = 0; k < 100 && n + k < c.clients; k++) one();
  await new Promise((r) => setTimeout(r, 25));
}
report({ type: 'ramped', open, ms: Date.now() - startedAt });
await new Promise((r) => setTimeout(r, Math.max(0, c.durationMs - (Date.now() - startedAt))));
stopping = true;
// Let the last ones be closed by the server (they must be: that is the check).
const deadline = Date.now() + c.drainMs;
while (open > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
const s = held.sort((a, b) => a - b);
report({ type: 'done', opened, closed: held.length, stillOpen: open, errors, maxHeldMs: s[s.length - 1] ?? 0, p50HeldMs: s[Math.floor(s.length / 2)] ?? 0 });
setTimeout(() => process.exit(0), 50);
