// SPDX-License-Identifier: LGPL-3.0-or-later
/**
 * The static module's raw 200 (modules_src/http/raw-response.ts): the bytes
 * must be exactly what node's writeHead/end would send. Two real node:http
 * servers on loopback get the same raw requests, one answering with
 * writeHead/end, one with sendRaw (falling back to writeHead/end when it
 * declines); their replies must be equal but for the Date value. Then the
 * module itself through hrmr: header order, bodies, HEAD, pipelining.
 */
import assert from 'node:assert/strict';
import http from 'node:http';
import net, { type AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { sendRaw, wireHead } from '../modules_src/http/raw-response.ts';
import type { Hrmr } from './helpers/hrmr.ts';
import { parseResponses, request } from './helpers/http-client.ts';
import { makeSite, rawExchange, removeSite, startSite, type Site } from './helpers/http-fixture.ts';
import { makeCertKit } from './helpers/tls-certs.ts';
import tls from 'node:tls';
import { rmSync } from 'node:fs';

const SMALL = 'abcdefghijklmnopqrstuvwxyz'.repeat(40);
const BIG = Buffer.alloc(100 * 1024, 'xyz');
const headersFor = (n: number): string[] => ['Content-Type', 'text/plain; charset=utf-8', 'ETag', '"e1"', 'X-Content-Type-Options', 'nosniff', 'Content-Length', String(n)];

interface Pair {
  node: http.Server;
  raw: http.Server;
  /** Responses sendRaw wrote itself. */
  rawSent: number;
}

function listen(s: http.Server): Promise<number> {
  return new Promise((resolve) => s.listen(0, '127.0.0.1', () => resolve((s.address() as AddressInfo).port)));
}

function makePair(setup: (s: http.Server) => void = () => undefined): Pair {
  const pair: Pair = { node: null!, raw: null!, rawSent: 0 };
  const nm = ['ETag', '"e1"', 'Last-Modified', 'Thu, 01 Jan 2026 00:00:00 GMT', 'Vary', 'Accept-Encoding'];
  pair.node = http.createServer((req, res) => {
    if (req.url === '/nm') {
      res.writeHead(304, nm);
      res.end();
      return;
    }
    const big = req.url === '/big';
    res.writeHead(200, headersFor(big ? BIG.length : SMALL.length));
    if (req.method === 'HEAD') res.end();
    else if (big) res.end(BIG);
    else res.end(SMALL, 'latin1');
  });
  pair.raw = http.createServer((req, res) => {
    if (req.url === '/nm') {
      if (sendRaw(res, wireHead(nm, 304)!, null, null, 304)) pair.rawSent++;
      else {
        res.writeHead(304, nm);
        res.end();
      }
      return;
    }
    const big = req.url === '/big';
    const h = headersFor(big ? BIG.length : SMALL.length);
    const head = req.method === 'HEAD';
    if (sendRaw(res, wireHead(h)!, head || big ? null : SMALL, head || !big ? null : BIG)) {
      pair.rawSent++;
      return;
    }
    res.writeHead(200, h);
    if (head) res.end();
    else if (big) res.end(BIG);
    else res.end(SMALL, 'latin1');
  });
  setup(pair.node);
  setup(pair.raw);
  return pair;
}

async function both(p: Pair, data: string): Promise<[string, string]> {
  const [a, b] = await Promise.all([listen(p.node), listen(p.raw)]);
  try {
    const [x, y] = await Promise.all([rawExchange(a, data), rawExchange(b, data)]);
    const norm = (d: Buffer): string => d.toString('latin1').replace(/\r\nDate: [^\r]*\r\n/g, '\r\nDate: -\r\n');
    return [norm(x.data), norm(y.data)];
  } finally {
    p.node.closeAllConnections();
    p.raw.closeAllConnections();
    await Promise.all([new Promise((r) => p.node.close(r)), new Promise((r) => p.raw.close(r))]);
  }
}

const req = (line: string, ...headers: string[]): string => line + '\r\n' + ['Host: x', ...headers].map((h) => h + '\r\n').join('') + '\r\n';

describe('sendRaw writes what node writes', () => {
  test('keep-alive GET (string and Buffer bodies), HEAD, 100-continue, HTTP/1.0 keep-alive, pipelined, then Connection: close', async () => {
    const p = makePair();
    const data =
      req('GET /small HTTP/1.1') +
      req('HEAD /small HTTP/1.1') +
      req('GET /big HTTP/1.1') +
      req('HEAD /big HTTP/1.1') +
      req('GET /small HTTP/1.1', 'Expect: 100-continue') +
      req('GET /small HTTP/1.0', 'Connection: keep-alive') +
      req('GET /nm HTTP/1.1') +
      req('GET /small HTTP/1.1') +
      req('GET /small HTTP/1.1', 'Connection: close');
    const [viaNode, viaRaw] = await both(p, data);
    assert.equal(viaRaw, viaNode);
    const rs = parseResponses(Buffer.from(viaRaw.replace(/HTTP\/1\.1 100 Continue\r\n\r\n/, ''), 'latin1'), [false, true, false, true]);
    assert.equal(rs.length, 9);
    assert.equal(rs[0]!.body.toString('latin1'), SMALL);
    assert.ok(rs[2]!.body.equals(BIG));
    assert.equal(rs[6]!.status, 304);
    assert.equal(rs[8]!.headers.get('connection'), 'close');
    // Pipelined requests queue behind the first response: those and the closing one are node's own.
    assert.ok(p.rawSent >= 1, `sendRaw wrote ${p.rawSent} responses`);
  });

  test('one request per connection, each kind: the raw path is taken when it may', async () => {
    for (const r of [req('GET /small HTTP/1.1'), req('HEAD /small HTTP/1.1'), req('GET /big HTTP/1.1'), req('GET /nm HTTP/1.1')]) {
      const p = makePair();
      // A keep-alive connection the client never closes: read until the head and body are in, then compare.
      const [a, b] = await Promise.all([listen(p.node), listen(p.raw)]);
      try {
        const [x, y] = await Promise.all([a, b].map((port) => keepAliveExchange(port, r)));
        assert.equal(y, x);
        assert.equal(p.rawSent, 1, r);
      } finally {
        p.node.closeAllConnections();
        p.raw.closeAllConnections();
        await Promise.all([new Promise((res) => p.node.close(res)), new Promise((res) => p.raw.close(res))]);
      }
    }
  });

  test('HTTP/1.0 without keep-alive: node answers (Connection: close)', async () => {
    const p = makePair();
    const [viaNode, viaRaw] = await both(p, 'GET /small HTTP/1.0\r\n\r\n');
    assert.equal(viaRaw, viaNode);
    assert.match(viaRaw, /\r\nConnection: close\r\n/);
    assert.equal(p.rawSent, 0);
  });

  test('keepAliveTimeout 0: no Keep-Alive header, as node', async () => {
    const p = makePair((s) => (s.keepAliveTimeout = 0));
    const [viaNode, viaRaw] = await both(p, req('GET /small HTTP/1.1') + req('GET /small HTTP/1.1', 'Connection: close'));
    assert.equal(viaRaw, viaNode);
    assert.doesNotMatch(viaRaw, /Keep-Alive:/);
    assert.ok(p.rawSent >= 1);
  });

  test('maxRequestsPerSocket: node answers (Keep-Alive: timeout=N, max=M)', async () => {
    const p = makePair((s) => (s.maxRequestsPerSocket = 3));
    const [viaNode, viaRaw] = await both(p, req('GET /small HTTP/1.1') + req('GET /small HTTP/1.1', 'Connection: close'));
    assert.equal(viaRaw, viaNode);
    assert.match(viaRaw, /max=3/);
    assert.equal(p.rawSent, 0);
  });

  test('a header set on res before: node answers', async () => {
    const p = makePair((s) => s.prependListener('request', (_req: http.IncomingMessage, res: http.ServerResponse) => res.setHeader('X-Before', '1')));
    const [viaNode, viaRaw] = await both(p, req('GET /small HTTP/1.1', 'Connection: close'));
    assert.equal(viaRaw, viaNode);
    assert.match(viaRaw, /X-Before: 1/);
    assert.equal(p.rawSent, 0);
  });
});

test('wireHead: node header checks apply (nothing unsafe goes on the wire)', () => {
  assert.equal(wireHead(['Content-Type', 'text/plain', 'Content-Length', '3']), 'HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 3\r\n');
  assert.equal(wireHead(['X-Bad', 'a\r\nSet-Cookie: x=1']), null);
  assert.equal(wireHead(['Bad Name', 'x']), null);
  assert.equal(wireHead(['Connection', 'close']), null);
  assert.equal(wireHead(['Date', 'x']), null);
});

/** Sends one request on a connection kept open; resolves with the whole response (Date blanked) once its body is in. */
function keepAliveExchange(port: number, data: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = new net.Socket();
    let got = Buffer.alloc(0);
    const t = setTimeout(() => {
      s.destroy();
      reject(new Error('no full response within 5 s: ' + got.toString('latin1').slice(0, 200)));
    }, 5000);
    s.connect(port, '127.0.0.1', () => s.write(data));
    s.on('data', (d: Buffer) => {
      got = Buffer.concat([got, d]);
      const end = got.indexOf('\r\n\r\n');
      if (end < 0) return;
      const head = got.subarray(0, end).toString('latin1');
      const len = data.startsWith('HEAD') || head.startsWith('HTTP/1.1 304') ? 0 : Number(/Content-Length: (\d+)/.exec(head)![1]);
      if (got.length < end + 4 + len) return;
      clearTimeout(t);
      s.destroy();
      resolve(got.toString('latin1').replace(/\r\nDate: [^\r]*\r\n/g, '\r\nDate: -\r\n'));
    });
    s.on('error', reject);
  });
}

describe('through hrmr: the static module', () => {
  let site: Site;
  let h: Hrmr;
  const big = Buffer.alloc(100 * 1024);
  for (let i = 0; i < big.length; i++) big[i] = i % 253;
  before(async () => {
    site = await makeSite();
    mkdirSync(join(site.root, 'k'), { recursive: true });
    writeFileSync(join(site.root, 'k', '1k.txt'), SMALL.slice(0, 1024));
    writeFileSync(join(site.root, 'k', '100k.bin'), big);
    h = await startSite(site);
  });
  after(async () => {
    await h?.kill();
    if (site) removeSite(site);
  });

  test('cached hits: node header order, Date now, bodies whole, HEAD bare; one by one as pipelined', async () => {
    // Warm the cache (the first request of a file is a miss).
    await request(h.port, '/k/1k.txt');
    await request(h.port, '/k/100k.bin');
    const reqs = [req('GET /k/1k.txt HTTP/1.1'), req('HEAD /k/1k.txt HTTP/1.1'), req('GET /k/100k.bin HTTP/1.1'), req('GET /k/1k.txt HTTP/1.1'), req('GET /k/100k.bin HTTP/1.1', 'Connection: close')];
    // One at a time (the raw path), then the same pipelined (the queued ones are node's own): the same answers.
    const s = net.connect(h.port, '127.0.0.1');
    await new Promise((resolve, reject) => s.once('connect', resolve).once('error', reject));
    const one = await oneByOne(s, reqs);
    const piped = (await rawExchange(h.port, reqs.join(''))).data;
    const blank = (b: Buffer): string => b.toString('latin1').replace(/\r\nDate: [^\r]*\r\n/g, '\r\nDate: -\r\n');
    assert.equal(blank(one), blank(piped));
    const rs = parseResponses(one, [false, true]);
    assert.equal(rs.length, 5);
    for (const r of rs) assert.equal(r.status, 200);
    assert.deepEqual([...rs[0]!.headers.keys()], ['content-type', 'last-modified', 'etag', 'accept-ranges', 'x-content-type-options', 'content-length', 'date', 'connection', 'keep-alive']);
    assert.equal(rs[0]!.headers.get('connection'), 'keep-alive');
    assert.match(rs[0]!.headers.get('keep-alive')!, /^timeout=\d+$/);
    assert.ok(Math.abs(Date.parse(rs[0]!.headers.get('date')!) - Date.now()) < 60_000);
    assert.equal(rs[0]!.body.toString('latin1'), SMALL.slice(0, 1024));
    assert.equal(rs[1]!.body.length, 0);
    assert.equal(rs[1]!.headers.get('content-length'), '1024');
    assert.ok(rs[2]!.body.equals(big));
    assert.equal(rs[3]!.body.toString('latin1'), SMALL.slice(0, 1024));
    assert.ok(rs[4]!.body.equals(big));
    assert.equal(rs[4]!.headers.get('connection'), 'close');
  });

  test('304 for a cached file: node header order, keep-alive', async () => {
    const etag = (await request(h.port, '/k/1k.txt')).headers.etag!;
    const ex = await rawExchange(h.port, req('GET /k/1k.txt HTTP/1.1', 'If-None-Match: ' + etag) + req('GET /k/1k.txt HTTP/1.1', 'If-None-Match: ' + etag, 'Connection: close'));
    const rs = parseResponses(ex.data);
    assert.equal(rs.length, 2);
    assert.equal(rs[0]!.status, 304);
    assert.deepEqual([...rs[0]!.headers.keys()], ['etag', 'last-modified', 'date', 'connection', 'keep-alive']);
    assert.equal(rs[0]!.headers.get('etag'), etag);
    assert.equal(rs[1]!.status, 304);
    assert.equal(rs[1]!.headers.get('connection'), 'close');
  });

  test('the Date header moves on with the clock', async () => {
    const first = (await request(h.port, '/k/1k.txt')).headers.date!;
    let now = first;
    for (let i = 0; i < 60 && now === first; i++) {
      await new Promise((r) => setTimeout(r, 100));
      now = (await request(h.port, '/k/1k.txt')).headers.date!;
    }
    assert.notEqual(now, first);
    assert.ok(Date.parse(now) > Date.parse(first));
  });
});

test('through hrmr over TLS: cached hits on one kept-alive TLS connection, bodies whole', async () => {
  const site = await makeSite();
  const kit = makeCertKit();
  const c = kit.server('svc', ['localhost']);
  const big = Buffer.alloc(100 * 1024, 'q');
  writeFileSync(join(site.root, '1k.txt'), SMALL.slice(0, 1024));
  writeFileSync(join(site.root, '100k.bin'), big);
  const h = await startSite(site, ['--tls-cert', c.cert, '--tls-key', c.key]);
  try {
    const s = tls.connect({ port: h.port, host: '127.0.0.1', servername: 'localhost', ca: kit.caPem });
    await new Promise((resolve, reject) => s.once('secureConnect', resolve).once('error', reject));
    // One at a time (a pipelined request waits behind the first and is node's own): twice each, a miss then a cached hit.
    const data = await oneByOne(s, [req('GET /1k.txt HTTP/1.1'), req('GET /100k.bin HTTP/1.1'), req('GET /1k.txt HTTP/1.1'), req('HEAD /1k.txt HTTP/1.1'), req('GET /100k.bin HTTP/1.1', 'Connection: close')]);
    const rs = parseResponses(data, [false, false, false, true]);
    assert.equal(rs.length, 5);
    assert.equal(rs[2]!.body.toString('latin1'), SMALL.slice(0, 1024));
    assert.equal(rs[2]!.headers.get('connection'), 'keep-alive');
    assert.equal(rs[3]!.body.length, 0);
    assert.ok(rs[4]!.body.equals(big));
  } finally {
    await h.kill();
    removeSite(site);
    rmSync(kit.dir, { recursive: true, force: true });
  }
});

/** Sends each request after the previous response is complete; resolves with every byte once the server closes. */
function oneByOne(s: net.Socket, reqs: string[]): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    let got = Buffer.alloc(0);
    let at = 0;
    let next = 0;
    const t = setTimeout(() => (s.destroy(), reject(new Error('no close within 10 s: ' + got.toString('latin1').slice(0, 300)))), 10_000);
    const send = (): void => {
      s.write(reqs[next++]!);
    };
    s.on('data', (d: Buffer) => {
      got = Buffer.concat([got, d]);
      for (;;) {
        const end = got.indexOf('\r\n\r\n', at);
        if (end < 0) return;
        const head = got.subarray(at, end).toString('latin1');
        const len = reqs[next - 1]!.startsWith('HEAD') || head.startsWith('HTTP/1.1 304') ? 0 : Number(/Content-Length: (\d+)/i.exec(head)![1]);
        if (got.length < end + 4 + len) return;
        at = end + 4 + len;
        if (next < reqs.length) send();
        else return;
      }
    });
    s.on('error', reject);
    s.on('close', () => (clearTimeout(t), resolve(got)));
    send();
  });
}
