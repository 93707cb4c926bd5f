// SPDX-License-Identifier: LGPL-3.0-or-later
/**
 * Load generator for line protocols, run as its own process so it never
 * shares the server's event loop. Prints one JSON result line on stdout.
 *
 * Usage: node bench/lib/line-load.mjs '<json options>'
 *   { port, host?, send: 'PING', expect: 'PONG', mode: 'keepalive'|'close',
 *     conns: 50, durationMs: 3000 }
 *
 * Each request is `<send> <n>\n` with a unique n; the reply must be exactly
 * `<expect> <n>\n`. Any other reply fails the run (exit 1). 'keepalive':
 * `conns` connections, each sending one line, awaiting its reply, repeat.
 * 'close': `conns` in flight, each a new connection: connect, send, read
 * the reply, end.
 */
import net from 'node:net';
import { lineWorkload } from './line-workload.mjs';

const opts = JSON.parse(process.argv[2] ?? '{}');
const host = opts.host ?? '127.0.0.1';
const { port, send, expect, mode, conns, durationMs } = opts;

const w = lineWorkload(send, expect);
let replies = 0;
let errors = 0;
let firstError = null;
let running = true;
let wrong = null;
let t0 = 0;

function noteError(err) {
  errors++;
  firstError ??= err.code ?? err.message;
}

function fail(msg) {
  wrong ??= msg;
  running = false;
}

/** One keep-alive connection doing request/response until the deadline. */
function keepAlive() {
  return new Promise((resolve) => {
    const s = net.connect({ port, host, noDelay: true });
    s.setEncoding('latin1');
    let want = '';
    let buf = '';
    const next = () => {
      if (!running) return s.destroy();
      const n = w.next();
      want = w.expected(n);
      s.write(w.request(n));
    };
    s.on('connect', next);
    s.on('data', (d) => {
      buf += d;
      if (buf.length < want.length) return;
      if (buf !== want) {
        fail(`wrong reply ${JSON.stringify(buf.slice(0, 80))}, expected ${JSON.stringify(want)}`);
        s.destroy();
        return;
      }
      buf = '';
      if (running) replies++;
      next();
    });
    s.on('error', noteError);
    s.on('close', resolve);
  });
}

/** One slot of 'close' mode: a new connection per request until the deadline. */
async function perRequest() {
  while (running) {
    await new Promise((resolve) => {
      const n = w.next();
      const want = w.expected(n);
      let buf = '';
      let settled = false;
      const done = () => {
        if (!settled) (settled = true), resolve();
      };
      const s = net.connect({ port, host, noDelay: true });
      s.setEncoding('latin1');
      s.on('connect', () => s.write(w.request(n)));
      s.on('data', (d) => {
        buf += d;
        if (buf.length < want.length) return;
        if (buf !== want) fail(`wrong reply ${JSON.stringify(buf.slice(0, 80))}, expected ${JSON.stringify(want)}`);
        else if (running) replies++;
        s.end();
        done();
      });
      s.on('error', (err) => {
        noteError(err);
        done();
      });
      s.on('close', () => {
        if (!settled && buf.length < want.length && running) noteError(new Error(`closed after ${JSON.stringify(buf)}`));
        done();
      });
    });
  }
}

t0 = performance.now();
const stopper = setTimeout(() => (running = false), durationMs);
const work = [];
for (let i = 0; i < conns; i++) work.push(mode === 'close' ? perRequest() : keepAlive());
// Whatever is still in flight after the deadline is not counted; give it a moment, then go.
await Promise.race([Promise.all(work), new Promise((r) => setTimeout(r, durationMs + 3000).unref())]);
clearTimeout(stopper);
const seconds = Math.min(performance.now() - t0, durationMs) / 1000;
process.stdout.write(JSON.stringify({ replies, errors, firstError, wrong, seconds, rps: replies / seconds }) + '\n');
process.exit(wrong ? 1 : 0);
