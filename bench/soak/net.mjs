// SPDX-License-Identifier: LGPL-3.0-or-later
/** Small loopback client helpers shared by the soak driver and its workers. */
import net from 'node:net';

export const HOST = '127.0.0.1';

export function sleep(ms) {
  return new Promise((r) => setTimeout(r, ms));
}

export function connect(port, localAddress) {
  return new Promise((resolve, reject) => {
    const s = net.connect({ port, host: HOST, ...(localAddress ? { localAddress } : {}) });
    s.setNoDelay(true);
    const onErr = (e) => reject(e);
    s.once('error', onErr);
    s.once('connect', () => {
      s.removeListener('error', onErr);
      resolve(s);
    });
  });
}

/** A connection read line by line: `request(line)` sends it and resolves with the next reply line (null on close). */
export class LineConn {
  constructor(socket) {
    this.socket = socket;
    this.buf = '';
    this.lines = [];
    this.waiter = null;
    this.closed = false;
    this.error = null;
    socket.setEncoding('latin1');
    socket.on('data', (d) => {
      this.buf += d;
      let i;
      while ((i = this.buf.indexOf('\n')) >= 0) {
        this.lines.push(this.buf.slice(0, i));
        this.buf = this.buf.slice(i + 1);
      }
      this.flush();
    });
    socket.on('error', (e) => (this.error = e));
    socket.on('close', () => {
      this.closed = true;
      this.flush();
    });
  }
  static async open(port, localAddress) {
    return new LineConn(await connect(port, localAddress));
  }
  flush() {
    if (!this.waiter) return;
    if (this.lines.length > 0) {
      const w = this.waiter;
      this.waiter = null;
      w(this.lines.shift());
    } else if (this.closed) {
      const w = this.waiter;
      this.waiter = null;
      w(null);
    }
  }
  read(timeoutMs = 10_000) {
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => {
        this.waiter = null;
        reject(new Error(`no reply line within ${timeoutMs} ms`));
      }, timeoutMs);
      this.waiter = (l) => {
        clearTimeout(t);
        resolve(l);
      };
      this.flush();
    });
  }
  request(line, timeoutMs) {
    this.socket.write(line + '\n');
    return this.read(timeoutMs);
  }
  close() {
    this.socket.destroy();
  }
}

/** One admin command on a fresh connection; resolves with the reply line. */
export async function admin(port, command, timeoutMs = 60_000) {
  const c = await LineConn.open(port);
  try {
    const r = await c.request(command, timeoutMs);
    return r ?? '(closed)';
  } finally {
    c.close();
  }
}

/** STATUS as an object (throws unless the reply is `OK {json}`). */
export async function status(port) {
  const r = await admin(port, 'STATUS');
  if (!r.startsWith('OK ')) throw new Error(`STATUS replied ${r.slice(0, 200)}`);
  return JSON.parse(r.slice(3));
}

/** One request on a new connection: connect, send the line, read one reply line, close. Resolves { reply, ms }. */
export async function oneShot(port, line, timeoutMs = 10_000) {
  const t0 = performance.now();
  const c = await LineConn.open(port);
  try {
    const reply = await c.request(line, timeoutMs);
    return { reply, ms: performance.now() - t0 };
  } finally {
    c.close();
  }
}

export function percentile(sorted, p) {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

/** { n, p50, p99, max } of a list of numbers (ms). */
export function summarize(values) {
  const s = [...values].sort((a, b) => a - b);
  return { n: s.length, p50: percentile(s, 50), p99: percentile(s, 99), max: s[s.length - 1] ?? NaN };
}

/** Runs `fn` until it resolves truthy or `timeoutMs` passes; returns the last value. */
export async function poll(fn, timeoutMs, everyMs = 100) {
  const deadline = Date.now() + timeoutMs;
  let v;
  for (;;) {
    v = await fn();
    if (v || Date.now() > deadline) return v;
    await sleep(everyMs);
  }
}

export const MB = 1024 * 1024;
