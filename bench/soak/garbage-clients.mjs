// SPDX-License-Identifier: LGPL-3.0-or-later
/** Hostile clients for the garbage section, each bounded in time. */
import { randomBytes } from 'node:crypto';
import { connect, sleep } from './net.mjs';

/** Sends `data`, optionally half-closes, and waits (bounded) for the server to close. Resolves { got, closed }. */
export async function sendAndWait(port, data, { end = true, timeoutMs = 8000 } = {}) {
  const s = await connect(port);
  let got = '';
  s.setEncoding('latin1');
  s.on('data', (d) => {
    if (got.length < 4096) got += d;
  });
  s.on('error', () => undefined);
  const closed = new Promise((resolve) => {
    const t = setTimeout(() => resolve(false), timeoutMs);
    s.once('close', () => {
      clearTimeout(t);
      resolve(true);
    });
  });
  s.write(data);
  if (end) s.end();
  const ok = await closed;
  s.destroy();
  return { got, closed: ok };
}

/** Runs `n` calls of `fn(i)` with at most `width` at once; resolves with the results. */
export async function many(n, width, fn) {
  const out = new Array(n);
  let next = 0;
  await Promise.all(
    Array.from({ length: width }, async () => {
      for (;;) {
        const i = next++;
        if (i >= n) return;
        out[i] = await fn(i);
      }
    }),
  );
  return out;
}

export function randomGarbage(i) {
  return randomBytes(1 + ((i * 7919) % 4096));
}

/** Connects, sends `data`, then resets the connection (RST) without waiting for anything. */
export async function sendAndReset(port, data, afterMs = 5) {
  const s = await connect(port);
  s.on('error', () => undefined);
  s.write(data);
  await sleep(afterMs);
  s.resetAndDestroy();
}

/**
 * A client that never reads: writes `unit` over and over for `ms`, as fast
 * as its own socket lets it (it waits for 'drain' like a well-behaved
 * writer, just never reads). Returns the bytes that left it, i.e. that the
 * kernel and the server took. If the server stops reading, that stays small.
 */
export async function neverReads(port, unit, ms) {
  const s = await connect(port);
  s.on('error', () => undefined);
  s.pause();
  let pushed = 0;
  const end = performance.now() + ms;
  while (performance.now() < end && !s.destroyed) {
    // Batch writes so a fast server is really stressed.
    let ok = true;
    for (let k = 0; k < 64 && ok; k++) {
      ok = s.write(unit);
      pushed += unit.length;
    }
    if (!ok) {
      let onDrain;
      await Promise.race([new Promise((r) => s.once('drain', (onDrain = r))), sleep(Math.max(1, Math.min(100, end - performance.now())))]);
      s.removeListener('drain', onDrain);
    }
  }
  const taken = pushed - s.writableLength;
  return { taken, socket: s };
}
