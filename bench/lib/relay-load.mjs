// SPDX-License-Identifier: LGPL-3.0-or-later
/**
 * Load generator for the relay suite (run as its own process, pinned to the
 * load CPU): raw HTTP/1.1 over keep-alive sockets, one request in flight per
 * connection, answers checked by status. Prints one JSON line.
 *
 *   node bench/lib/relay-load.mjs '{"mode":"produce","port":1,"conns":50,"durationMs":2000}'
 *
 * Modes:
 *   hello    GET /                       (200)   -> requests/s
 *   produce  POST /t/bench-<conn>?limit=0 (201)  -> messages/s
 *   pairs    POST /t/pair-<conn>, then GET it (201, 200) -> pairs/s
 *   wake     one consumer long-polls, a producer POSTs `gapMs` later; the time
 *            from the POST being written to the poll's 200 -> p50/p99 ms
 *   latency  sequential GET / on one connection -> p50/p99 ms (a reference for wake)
 */
import net from 'node:net';

const o = JSON.parse(process.argv[2]);
const BODY = Buffer.from('0123456789abcdef');
const base = o.base ?? '';

/** One keep-alive connection, one request at a time. */
class Conn {
  constructor(socket) {
    this.socket = socket;
    this.buf = Buffer.alloc(0);
    this.waiting = null;
    socket.setNoDelay(true);
    socket.on('data', (d) => {
      this.buf = this.buf.length === 0 ? d : Buffer.concat([this.buf, d]);
      this.parse();
    });
    socket.on('error', (err) => this.fail(err));
    socket.on('close', () => this.fail(new Error('connection closed')));
  }
  static open(port) {
    return new Promise((resolve, reject) => {
      const s = net.connect(port, '127.0.0.1', () => resolve(new Conn(s)));
      s.once('error', reject);
    });
  }
  fail(err) {
    const w = this.waiting;
    this.waiting = null;
    if (w) w.reject(err);
  }
  parse() {
    if (!this.waiting) return;
    const end = this.buf.indexOf('\r\n\r\n');
    if (end < 0) return;
    const head = this.buf.subarray(0, end).toString('latin1');
    const status = Number(head.slice(9, 12));
    const m = /\r\ncontent-length:\s*(\d+)/i.exec(head);
    const len = status === 204 || status === 304 || !m ? 0 : Number(m[1]);
    if (this.buf.length < end + 4 + len) return;
    const body = this.buf.subarray(end + 4, end + 4 + len);
    this.buf = this.buf.subarray(end + 4 + len);
    const w = this.waiting;
    this.waiting = null;
    w.resolve({ status, body });
  }
  request(bytes) {
    return new Promise((resolve, reject) => {
      this.waiting = { resolve, reject };
      this.socket.write(bytes);
    });
  }
  close() {
    this.socket.destroy();
  }
}

const get = (path) => Buffer.from(`GET ${base}${path === '/' && o.helloPath ? o.helloPath : path} HTTP/1.1\r\nHost: bench\r\n\r\n`);
const post = (path, body = BODY) => Buffer.concat([Buffer.from(`POST ${base}${path} HTTP/1.1\r\nHost: bench\r\nContent-Type: text/plain\r\nContent-Length: ${body.length}\r\n\r\n`), body]);

function expect(r, status, what) {
  if (r.status !== status) throw new Error(`${what}: expected ${status}, got ${r.status} ${r.body.toString().slice(0, 100)}`);
}

function pct(xs, p) {
  const v = [...xs].sort((a, b) => a - b);
  return v[Math.min(v.length - 1, Math.floor((p / 100) * v.length))];
}

async function throughput(step) {
  const conns = await Promise.all(Array.from({ length: o.conns }, () => Conn.open(o.port)));
  const end = performance.now() + o.durationMs;
  let done = 0;
  const t0 = performance.now();
  await Promise.all(
    conns.map(async (c, k) => {
      while (performance.now() < end) {
        await step(c, k);
        done++;
      }
    }),
  );
  const seconds = (performance.now() - t0) / 1000;
  for (const c of conns) c.close();
  return { rate: done / seconds, count: done, seconds };
}

async function main() {
  if (o.mode === 'hello') {
    const req = get('/');
    return throughput(async (c) => expect(await c.request(req), 200, 'hello'));
  }
  if (o.mode === 'produce') {
    const reqs = Array.from({ length: o.conns }, (_, k) => post(`/t/bench-${k}?limit=0`));
    return throughput(async (c, k) => expect(await c.request(reqs[k]), 201, 'produce'));
  }
  if (o.mode === 'pairs') {
    const p = Array.from({ length: o.conns }, (_, k) => post(`/t/pair-${process.pid}-${k}`));
    const g = Array.from({ length: o.conns }, (_, k) => get(`/t/pair-${process.pid}-${k}`));
    return throughput(async (c, k) => {
      expect(await c.request(p[k]), 201, 'pair produce');
      const r = await c.request(g[k]);
      expect(r, 200, 'pair consume');
    });
  }
  if (o.mode === 'wake') {
    const consumer = await Conn.open(o.port);
    const producer = await Conn.open(o.producerPort ?? o.port);
    const poll = get(`/t/wake-${process.pid}/poll?timeout=5`);
    const produce = post(`/t/wake-${process.pid}`);
    const samples = [];
    const end = performance.now() + o.durationMs;
    while (samples.length < o.samples && performance.now() < end) {
      const waiting = consumer.request(poll);
      await new Promise((r) => setTimeout(r, o.gapMs ?? 5));
      const t0 = performance.now();
      const produced = producer.request(produce);
      const got = await waiting;
      const dt = performance.now() - t0;
      expect(got, 200, 'wake poll');
      expect(await produced, 201, 'wake produce');
      samples.push(dt);
    }
    consumer.close();
    producer.close();
    return { p50: pct(samples, 50), p99: pct(samples, 99), count: samples.length };
  }
  if (o.mode === 'latency') {
    const c = await Conn.open(o.port);
    const req = get('/');
    const samples = [];
    const end = performance.now() + o.durationMs;
    while (samples.length < o.samples && performance.now() < end) {
      const t0 = performance.now();
      expect(await c.request(req), 200, 'latency');
      samples.push(performance.now() - t0);
      await new Promise((r) => setTimeout(r, o.gapMs ?? 5));
    }
    c.close();
    return { p50: pct(samples, 50), p99: pct(samples, 99), count: samples.length };
  }
  throw new Error(`unknown mode ${o.mode}`);
}

main().then(
  (r) => {
    process.stdout.write(JSON.stringify(r) + '\n');
    process.exit(0);
  },
  (err) => {
    process.stdout.write(JSON.stringify({ error: err.message }) + '\n');
    process.exit(1);
  },
);
