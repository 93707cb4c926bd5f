// SPDX-License-Identifier: LGPL-3.0-or-later
/**
 * shared/body.ts over real sockets: a node http.Server on loopback whose
 * handlers read with readBody, and raw clients that send exact bytes
 * (Content-Length, chunked, too large, cut off) and read what comes back.
 */
import assert from 'node:assert/strict';
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import net from 'node:net';
import { after, before, test } from 'node:test';
import { answerTooLarge, BodyAbortedError, BodyTooLargeError, readBody, readBodyCallback } from '../shared/index.ts';

const MAX = 1000;
/** Listeners the reader may add. After a 413 answer node adds an 'end' listener of its own (to finish the response), so that one is left out there. */
const listeners = (req: IncomingMessage, events: readonly string[] = ['data', 'end', 'error', 'close']): number => events.reduce((n, e) => n + req.listenerCount(e), 0);
const NOT_END = ['data', 'error', 'close'];

/** What each handler saw, by request path. */
const seen = new Map<string, { outcome: string; leftover: number }>();
const waiters = new Map<string, () => void>();
function record(path: string, outcome: string, leftover: number): void {
  seen.set(path, { outcome, leftover });
  waiters.get(path)?.();
}
async function outcome(path: string): Promise<{ outcome: string; leftover: number }> {
  if (!seen.has(path)) await new Promise<void>((r) => waiters.set(path, r));
  return seen.get(path)!;
}

let server: http.Server;
let port: number;

async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
  const path = req.url!.split('?')[0]!;
  if (path.startsWith('/end')) {
    // The callback reader; what counts here is that the request still ends after the answer (node then frees the parser).
    readBodyCallback(req, { max: MAX }, (err, body) => {
      if (err !== null) return record(path, `error ${err.name}`, 0);
      res.end(`got ${body!.length} ${body!.toString('latin1')}`);
      const ended = (): void => record(path, `ended ${body!.toString('latin1')}`, listeners(req, NOT_END));
      if (req.readableEnded) ended();
      else req.once('end', ended);
    });
    return;
  }
  if (path.startsWith('/answer')) {
    // The reader answers the 413 itself and resolves null.
    const base = listeners(req, NOT_END);
    const body = await readBody(req, { max: MAX, res, encoding: 'utf8' });
    record(path, body === null ? 'null' : `text ${body.length}`, listeners(req, NOT_END) - base);
    if (body !== null) res.end(`got ${body.length} ${body.slice(0, 5)}`);
    return;
  }
  // The caller maps the typed errors itself.
  const base = listeners(req);
  try {
    const body = await readBody(req, { max: MAX });
    record(path, `buffer ${body.length}`, listeners(req) - base);
    res.end(`got ${body.length}`);
  } catch (err) {
    record(path, err instanceof BodyTooLargeError ? `too large ${err.max} answered=${err.answered}` : err instanceof BodyAbortedError ? 'aborted' : `other ${String(err)}`, listeners(req) - base);
    if (err instanceof BodyTooLargeError) answerTooLarge(res, { type: 'application/json', body: '{"error":"too_large"}', headers: { 'X-Who': 'caller' } });
  }
}

before(async () => {
  server = http.createServer({ keepAliveTimeout: 60_000 }, (req, res) => void handle(req, res));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  port = (server.address() as net.AddressInfo).port;
});
after(() => {
  server.closeAllConnections();
  server.close();
});

/** Writes the parts, collects the answer until the server closes or `untilText` has arrived. */
function talk(parts: string[], o: { untilText?: RegExp; endAfter?: boolean } = {}): Promise<{ text: string; closed: boolean }> {
  return new Promise((resolve, reject) => {
    const s = net.connect(port, '127.0.0.1');
    let text = '';
    const t = setTimeout(() => (s.destroy(), reject(new Error(`timeout; got ${JSON.stringify(text)}`))), 15_000);
    s.setEncoding('utf8');
    s.on('data', (d: string) => {
      text += d;
      if (o.untilText?.test(text)) {
        clearTimeout(t);
        s.destroy();
        resolve({ text, closed: false });
      }
    });
    s.on('error', () => undefined);
    s.on('close', () => {
      clearTimeout(t);
      resolve({ text, closed: true });
    });
    s.on('connect', () => {
      for (const p of parts) s.write(p);
      if (o.endAfter) s.end();
    });
  });
}

const post = (path: string, body: string, extra = ''): string => `POST ${path} HTTP/1.1\r\nHost: t\r\nContent-Length: ${Buffer.byteLength(body)}\r\n${extra}\r\n${body}`;
const chunked = (path: string, chunks: string[]): string => `POST ${path} HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n${chunks.map((c) => `${c.length.toString(16)}\r\n${c}\r\n`).join('')}0\r\n\r\n`;

test('a body within max: the bytes, as a Buffer or a string; the connection stays open for the next request', async () => {
  const r = await talk([post('/b1', 'x'.repeat(MAX)), post('/answer1', 'héllo')], { untilText: /got 5 héllo/ });
  assert.match(r.text, /^HTTP\/1\.1 200 [^]*got 1000[^]*HTTP\/1\.1 200 [^]*got 5 héllo$/);
  assert.deepEqual(await outcome('/b1'), { outcome: 'buffer 1000', leftover: 0 });
  assert.deepEqual(await outcome('/answer1'), { outcome: 'text 5', leftover: 0 });
});

test('no body (no Content-Length, or 0): resolves at once with nothing', async () => {
  const r = await talk([`GET /b2 HTTP/1.1\r\nHost: t\r\n\r\n`, `POST /b3 HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\n\r\n`], { untilText: /got 0[^]*got 0/ });
  assert.match(r.text, /got 0/);
  assert.deepEqual(await outcome('/b2'), { outcome: 'buffer 0', leftover: 0 });
  assert.deepEqual(await outcome('/b3'), { outcome: 'buffer 0', leftover: 0 });
});

test('a chunked body is counted: within max it is read whole', async () => {
  await talk([chunked('/b4', ['a'.repeat(400), 'b'.repeat(400), 'c'.repeat(200)])], { untilText: /got 1000/ });
  assert.deepEqual(await outcome('/b4'), { outcome: 'buffer 1000', leftover: 0 });
});

test('Content-Length over max: 413 before a byte is read, then the connection closes', async () => {
  // Only the head is sent: the answer must not wait for the body.
  const r = await talk([`POST /answer2 HTTP/1.1\r\nHost: t\r\nContent-Length: ${MAX + 1}\r\n\r\n`]);
  assert.match(r.text, /^HTTP\/1\.1 413 Payload Too Large\r\n/);
  assert.match(r.text, /\r\nConnection: close\r\n/i);
  assert.match(r.text, /\r\n\r\n413 Payload Too Large\n$/);
  assert.equal(r.closed, true);
  assert.deepEqual(await outcome('/answer2'), { outcome: 'null', leftover: 0 });
});

test('a chunked body growing past max: 413 then close, and the rest is not read', async () => {
  const r = await talk([chunked('/answer3', ['a'.repeat(600), 'b'.repeat(600), 'c'.repeat(50_000)]), post('/answer-never', 'x')]);
  assert.match(r.text, /^HTTP\/1\.1 413 /);
  assert.doesNotMatch(r.text, /got/);
  assert.equal(r.closed, true);
  assert.deepEqual(await outcome('/answer3'), { outcome: 'null', leftover: 0 });
  assert.equal(seen.has('/answer-never'), false);
});

test('without res: a typed rejection the caller maps (its own 413 body and headers), still closing', async () => {
  const r = await talk([post('/b5', 'y'.repeat(MAX + 5))]);
  assert.match(r.text, /^HTTP\/1\.1 413 /);
  assert.match(r.text, /\r\nContent-Type: application\/json\r\n/i);
  assert.match(r.text, /\r\nX-Who: caller\r\n/i);
  assert.match(r.text, /\r\nConnection: close\r\n/i);
  assert.match(r.text, /\{"error":"too_large"\}$/);
  assert.equal(r.closed, true);
  assert.deepEqual(await outcome('/b5'), { outcome: `too large ${MAX} answered=false`, leftover: 0 });
});

test('a client that goes away mid-body: BodyAbortedError (or null with res), no listeners left', async () => {
  await talk([`POST /b6 HTTP/1.1\r\nHost: t\r\nContent-Length: 500\r\n\r\n${'z'.repeat(100)}`], { endAfter: true });
  assert.deepEqual(await outcome('/b6'), { outcome: 'aborted', leftover: 0 });
  await talk([`POST /answer4 HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n10\r\n0123456789abcdef\r\n`], { endAfter: true });
  assert.deepEqual(await outcome('/answer4'), { outcome: 'null', leftover: 0 });
});

/** Writes `parts` with a pause between them (so they arrive as separate reads), resolves with the answer once `until` has arrived. */
function paced(parts: string[], until: RegExp): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = net.connect(port, '127.0.0.1');
    let text = '';
    const t = setTimeout(() => (s.destroy(), reject(new Error(`timeout; got ${JSON.stringify(text)}`))), 15_000);
    s.setNoDelay(true);
    s.setEncoding('utf8');
    s.on('data', (d: string) => {
      text += d;
      if (until.test(text)) {
        clearTimeout(t);
        s.destroy();
        resolve(text);
      }
    });
    s.on('error', reject);
    s.on('connect', async () => {
      for (const p of parts) {
        s.write(p);
        await new Promise((r) => setTimeout(r, 60));
      }
    });
  });
}

test('a declared body taken whole after the head (one read, or pipelined) or as it trickles in: same bytes, and each request still ends', async () => {
  // Two requests in one write: each body is in the same read as its head.
  const r = await talk([post('/end1', '0123456789abcdef') + post('/end2', 'abc')], { untilText: /got 3 abc/ });
  assert.match(r.text, /got 16 0123456789abcdef[^]*got 3 abc$/);
  assert.deepEqual(await outcome('/end1'), { outcome: 'ended 0123456789abcdef', leftover: 0 });
  assert.deepEqual(await outcome('/end2'), { outcome: 'ended abc', leftover: 0 });
  // The head alone first, the body in two later reads, then a next request on the same connection.
  const head = post('/end3', 'hello world!');
  const cut = head.length - 12;
  const text = await paced([head.slice(0, cut), head.slice(cut, cut + 5), head.slice(cut + 5) + post('/end4', 'xyz')], /got 3 xyz/);
  assert.match(text, /got 12 hello world![^]*got 3 xyz$/);
  assert.deepEqual(await outcome('/end3'), { outcome: 'ended hello world!', leftover: 0 });
  assert.deepEqual(await outcome('/end4'), { outcome: 'ended xyz', leftover: 0 });
});
