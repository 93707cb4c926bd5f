// SPDX-License-Identifier: LGPL-3.0-or-later
/**
 * Load generator for the lhttp suite, run as its own process (pinned to the
 * load CPU). Prints one JSON result line on stdout.
 *
 * Usage: node bench/lib/lhttp-load.mjs '<json options>'
 *   { mode: 'fanout' | 'latency' | 'idle', pubUrl, subUrl, lhttp: true|false,
 *     subs: 10, messages: 10000, size: 100, conns: 10000, timeoutMs: 60000 }
 *
 * The publisher sends the same lhttp frames to both servers
 * (`LHTTP/1.0 b\r\npublish:bench\r\n\r\n<body>`, body = 8-digit sequence
 * number padded to `size` bytes); lhttp subscribers first subscribe to
 * `bench`, the broadcast server needs nothing. Before measuring, probes are
 * published until every subscriber has seen one (so subscriptions are in
 * place, across Redis too). Every subscriber checks it gets every message,
 * in order.
 * - fanout: all `messages` sent at once; delivered/s = messages x subs / time
 *   from the first send to the last delivery.
 * - latency: one message at a time, the next when every subscriber has the
 *   previous; publish-to-receive times (us) of every delivery: p50, p99.
 * - idle: opens `conns` WebSockets (500 handshakes at a time), prints
 *   `{"opened":N,...}`, and holds them until killed.
 */
import WebSocket from 'ws';

const o = JSON.parse(process.argv[2] ?? '{}');
const CH = 'bench';
const size = o.size ?? 100;
const deadline = Date.now() + (o.timeoutMs ?? 60_000);
const HEAD = `LHTTP/1.0 b\r\npublish:${CH}\r\n\r\n`;

function fail(msg) {
  process.stdout.write(JSON.stringify({ error: msg }) + '\n');
  process.exit(1);
}
const guard = setInterval(() => {
  if (Date.now() > deadline) fail(`timed out (${o.mode})`);
}, 250);

function open(url) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { perMessageDeflate: false });
    ws.once('open', () => resolve(ws));
    ws.once('error', reject);
  });
}

function body(seq) {
  const s = String(seq).padStart(8, '0');
  return s + 'x'.repeat(Math.max(0, size - s.length));
}

/** Subscribers that count in-order deliveries; `onAll(seq)` fires when every subscriber has `seq`. */
async function setup() {
  const subs = [];
  for (let i = 0; i < o.subs; i++) {
    const ws = await open(o.subUrl);
    if (o.lhttp) ws.send(`LHTTP/1.0 b\r\nsubscribe:${CH}\r\n\r\n`);
    subs.push({ ws, next: 0, probed: false, errors: 0 });
  }
  const pub = await open(o.pubUrl);
  return { subs, pub };
}

/** Publishes probes until every subscriber saw one, then lets stragglers arrive. */
async function probe(subs, pub) {
  for (const s of subs)
    s.ws.on('message', function onProbe(d) {
      if (d.toString('latin1').endsWith('probe')) s.probed = true;
    });
  while (!subs.every((s) => s.probed)) {
    pub.send(HEAD + 'probe');
    await new Promise((r) => setTimeout(r, 30));
  }
  await new Promise((r) => setTimeout(r, 150));
  for (const s of subs) s.ws.removeAllListeners('message');
}

function seqOf(d) {
  const off = d.length - size;
  return off < 0 ? -1 : Number(d.toString('latin1', off, off + 8));
}

async function fanout() {
  const { subs, pub } = await setup();
  await probe(subs, pub);
  const total = o.messages;
  let done = 0;
  let t1 = 0;
  const finished = new Promise((resolve) => {
    for (const s of subs)
      s.ws.on('message', (d) => {
        const seq = seqOf(d);
        if (seq !== s.next) s.errors++;
        s.next = seq + 1;
        if (s.next === total) {
          done++;
          if (done === subs.length) {
            t1 = performance.now();
            resolve();
          }
        }
      });
  });
  const frames = [];
  for (let i = 0; i < total; i++) frames.push(HEAD + body(i));
  const t0 = performance.now();
  for (let i = 0; i < total; i++) pub.send(frames[i]);
  await finished;
  const seconds = (t1 - t0) / 1000;
  const errors = subs.reduce((a, s) => a + s.errors, 0);
  return { delivered: total * subs.length, seconds, rate: (total * subs.length) / seconds, errors };
}

async function latency() {
  const { subs, pub } = await setup();
  await probe(subs, pub);
  const total = o.messages;
  const lat = [];
  let sentAt = 0;
  let got = 0;
  let wake = null;
  for (const s of subs)
    s.ws.on('message', (d) => {
      const seq = seqOf(d);
      if (seq !== s.next) s.errors++;
      s.next = seq + 1;
      lat.push((performance.now() - sentAt) * 1000);
      if (++got === subs.length) wake();
    });
  for (let i = 0; i < total; i++) {
    got = 0;
    const all = new Promise((r) => (wake = r));
    sentAt = performance.now();
    pub.send(HEAD + body(i));
    await all;
  }
  lat.sort((a, b) => a - b);
  const q = (p) => lat[Math.min(lat.length - 1, Math.floor(p * lat.length))];
  return { samples: lat.length, p50: q(0.5), p99: q(0.99), errors: subs.reduce((a, s) => a + s.errors, 0) };
}

async function idle() {
  const held = [];
  let failed = 0;
  let firstError = null;
  const t0 = performance.now();
  for (let i = 0; i < o.conns; i += 500) {
    const batch = [];
    for (let j = i; j < Math.min(o.conns, i + 500); j++)
      batch.push(
        open(o.subUrl).then(
          (ws) => {
            ws.on('error', () => undefined);
            held.push(ws);
          },
          (err) => {
            failed++;
            firstError ??= err.code ?? err.message;
          },
        ),
      );
    await Promise.all(batch);
  }
  process.stdout.write(JSON.stringify({ opened: held.length, failed, firstError, seconds: (performance.now() - t0) / 1000 }) + '\n');
  clearInterval(guard);
  // Held until the suite has measured and kills this process (bounded: exit after 60 s anyway).
  setTimeout(() => process.exit(0), 60_000);
}

try {
  if (o.mode === 'idle') await idle();
  else {
    const r = o.mode === 'latency' ? await latency() : await fanout();
    process.stdout.write(JSON.stringify(r) + '\n');
    process.exit(0);
  }
} catch (err) {
  fail(err?.message ?? String(err));
}
