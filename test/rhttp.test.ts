// SPDX-License-Identifier: LGPL-3.0-or-later
/**
 * The rhttp module against a real redis-server and services that speak the
 * RHTTP channels the way rhttp_node does (test/helpers/rhttp-service.ts):
 * GET and POST, two services with different endpoints, 418 when all reject,
 * 408, a malformed answer (502), a 200 KB round trip, 413, keep-alive,
 * headers (Date, hop-by-hop, X-Socket-ID kept internal); no Redis (503).
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, test } from 'node:test';
import { startBundled } from './helpers/bundled.ts';
import type { Hrmr } from './helpers/hrmr.ts';
import { waitUntil } from './helpers/hrmr.ts';
import { startRedis, type RedisServer } from './helpers/redis.ts';
import { call, IMF_FIXDATE, RawConnection } from './helpers/rhttp-client.ts';
import { startService, type Service } from './helpers/rhttp-service.ts';

let redis: RedisServer;
let svcA: Service;
let svcB: Service;
let h: Hrmr;

const JSON_TYPE = 'application/json';

before(async () => {
  redis = await startRedis();
  svcA = await startService(redis.url, 'svcA', {
    'GET /hello': () => ({ body: '{"msg":"hello"}' }),
    'POST /echo': (req) => ({ status: 201, type: 'text/plain', body: req.body }),
    'GET /hop': () => ({ body: 'hop', headers: { Connection: 'close', 'Keep-Alive': 'timeout=1', Date: 'yesterday', 'X-Kept': 'yes' } }),
    // Never answers (svcB rejects it): only the timeout ends it.
    'GET /slow': () => null,
    'GET /broken': (req) => {
      void svcA.publishRaw('RESPONSE_PIPE', `HTTP/1.1 200 OK\r\nX-Socket-ID: ${req.headers['X-Socket-ID']}\r\nnot a header\r\n\r\nx`);
      return null;
    },
    'GET /?q=1': () => ({ body: 'root' }),
  });
  svcB = await startService(redis.url, 'svcB', { 'GET /b': () => ({ type: 'text/plain', body: 'from B' }) }, 'PY');
  // A long heartbeat: the services join at the first BEAT (sent as soon as Redis is connected),
  // and "all rejected" must be answered long before the next one.
  h = await startBundled(['rhttp'], { args: ['--redis', redis.url, '--set', 'rhttp.heartbeat_interval=10', '--set', 'rhttp.timeout=3'] });
  await h.waitForLog((l) => l.msg === 'rhttp service joined' && l.service === 'svcA');
  await h.waitForLog((l) => l.msg === 'rhttp service joined' && l.service === 'svcB');
});

after(async () => {
  await h?.kill();
  await svcA?.stop();
  await svcB?.stop();
  await redis?.stop();
});

test('GET through one service: its answer, RFC 9110 Date, X-Socket-ID kept internal; the request text as published', async () => {
  const r = await call(h.port, 'GET', '/api/hello', { headers: { 'X-Socket-ID': '6', 'X-Trace': 'a:b' } });
  assert.equal(r.status, 200);
  assert.equal(r.text, '{"msg":"hello"}');
  assert.equal(r.headers['content-type'], JSON_TYPE);
  assert.equal(r.headers['content-length'], '15');
  assert.equal(r.headers['x-res-server'], 'svcA');
  assert.equal(r.headers['x-socket-id'], undefined);
  assert.match(r.headers.date!, IMF_FIXDATE);
  const got = svcA.received.find((q) => q.path === '/hello')!;
  assert.ok(got, 'svcA received /hello');
  // The mount is stripped; one X-Socket-ID (the client's copy dropped), decimal; Content-Length always; no hop-by-hop header.
  assert.match(got.raw, /^GET \/hello HTTP\/1\.1\r\n/);
  assert.equal(got.raw.match(/X-Socket-ID/g)!.length, 1);
  assert.match(got.raw, /\r\nContent-Length: 0\r\nX-Socket-ID: \d{13,}\r\n\r\n$/);
  assert.match(got.raw, /\r\nX-Trace: a:b\r\n/);
  assert.doesNotMatch(got.raw, /\r\nConnection:/i);
  assert.match(got.raw, /\r\nHost: 127\.0\.0\.1:\d+\r\n/);
});

test('POST through one service: the body arrives and comes back', async () => {
  const r = await call(h.port, 'POST', '/api/echo', { body: 'ping=1&x=two', headers: { 'Content-Type': 'application/x-www-form-urlencoded' } });
  assert.equal(r.status, 201);
  assert.equal(r.text, 'ping=1&x=two');
  assert.equal(r.headers['content-type'], 'text/plain');
  const got = svcA.received.find((q) => q.method === 'POST')!;
  assert.match(got.raw, /^POST \/echo HTTP\/1\.1\r\n/);
  assert.match(got.raw, /\r\nContent-Type: application\/x-www-form-urlencoded\r\n/);
  assert.match(got.raw, /\r\nContent-Length: 12\r\nX-Socket-ID: \d+\r\n\r\nping=1&x=two$/);
});

test('two services with different endpoints: the right one answers, the other rejects', async () => {
  const r = await call(h.port, 'GET', '/api/b');
  assert.equal(r.status, 200);
  assert.equal(r.text, 'from B');
  assert.equal(r.headers['x-res-server'], 'svcB');
  // svcA saw the same request and published its id on REJECT_PIPE.
  const seen = svcA.received.filter((q) => q.path === '/b');
  assert.equal(seen.length, 1);
  const id = seen[0]!.headers['X-Socket-ID']!;
  await waitUntil(() => svcA.rejected.includes(id), 'svcA rejecting /b');
  assert.equal(svcB.received.filter((q) => q.path === '/b')[0]!.headers['X-Socket-ID'], id);
  // And the other way round.
  const a = await call(h.port, 'GET', '/api/hello');
  assert.equal(a.headers['x-res-server'], 'svcA');
  const idA = svcB.received.filter((q) => q.path === '/hello').at(-1)!.headers['X-Socket-ID']!;
  await waitUntil(() => svcB.rejected.includes(idA), 'svcB rejecting /hello');
});

test('418 Lost request as soon as every live service rejected (not at the next beat, 10 s away)', async () => {
  const r = await call(h.port, 'GET', '/api/nowhere', { timeoutMs: 6000 });
  assert.equal(r.status, 418);
  assert.equal(r.text, '{"err":"Lost request"}');
  assert.equal(r.headers['content-type'], JSON_TYPE);
  assert.equal(r.headers['content-length'], '22');
  assert.match(r.headers.date!, IMF_FIXDATE);
  assert.equal(svcA.received.filter((q) => q.path === '/nowhere').length, 1);
  assert.equal(svcB.received.filter((q) => q.path === '/nowhere').length, 1);
});

test('the query string is part of the path services match; /api alone is /', async () => {
  const r = await call(h.port, 'GET', '/api?q=1');
  assert.equal(r.status, 200);
  assert.equal(r.text, 'root');
  assert.equal((await call(h.port, 'GET', '/api/?q=1')).text, 'root');
  assert.equal((await call(h.port, 'GET', '/api/?q=2')).status, 418);
});

test('response headers: hop-by-hop and the service Date dropped, others kept', async () => {
  const r = await call(h.port, 'GET', '/api/hop', { agent: new (await import('node:http')).Agent({ keepAlive: true }) });
  assert.equal(r.status, 200);
  assert.equal(r.text, 'hop');
  assert.equal(r.headers['x-kept'], 'yes');
  assert.equal(r.headers['keep-alive']?.includes('timeout=1'), false);
  assert.equal(r.headers.connection, 'keep-alive');
  assert.match(r.headers.date!, IMF_FIXDATE);
});

test('408 Request timeout after rhttp.timeout when a service never answers; its late answer is dropped', async () => {
  const r = await call(h.port, 'GET', '/api/slow', { timeoutMs: 15_000 });
  assert.equal(r.status, 408);
  assert.equal(r.text, '{"err":"Request timeout"}');
  assert.equal(r.headers['content-type'], JSON_TYPE);
  // The service answers now: nobody is waiting for that id any more.
  const id = svcA.received.filter((q) => q.path === '/slow').at(-1)!.headers['X-Socket-ID']!;
  await svcA.publishRaw('RESPONSE_PIPE', `HTTP/1.1 200 OK\r\nContent-Length: 4\r\nX-Socket-ID: ${id}\r\n\r\nlate`);
  const next = await call(h.port, 'GET', '/api/hello');
  assert.equal(next.status, 200);
  assert.equal(next.text, '{"msg":"hello"}');
});

test('a malformed service response is logged and the client gets 502', async () => {
  const r = await call(h.port, 'GET', '/api/broken');
  assert.equal(r.status, 502);
  assert.equal(r.text, '{"err":"Bad response from service"}');
  const l = await h.waitForLog((x) => x.msg === 'rhttp: malformed response from a service: 502');
  assert.match(String(l.error), /bad header line/);
});

test('a 200 KB body makes the round trip intact', async () => {
  const body = randomBytes(150 * 1024).toString('base64');
  assert.ok(body.length >= 200 * 1024);
  const r = await call(h.port, 'POST', '/api/echo', { body, headers: { 'Content-Type': 'text/plain' }, timeoutMs: 15_000 });
  assert.equal(r.status, 201);
  assert.equal(r.headers['content-length'], String(body.length));
  assert.equal(r.text, body);
  // Chunked upload of the same body: read whole by node's parser, forwarded with its length.
  const chunked = await call(h.port, 'POST', '/api/echo', { body, headers: { 'Transfer-Encoding': 'chunked' }, timeoutMs: 15_000 });
  assert.equal(chunked.status, 201);
  assert.equal(chunked.text, body);
  const got = svcA.received.filter((q) => q.method === 'POST').at(-1)!;
  assert.equal(got.headers['Content-Length'], String(body.length));
  assert.equal(got.headers['Transfer-Encoding'], undefined);
});

test('413 for a body over rhttp.max_body (1 MiB), declared or chunked; nothing is published', async () => {
  const before = svcA.received.length;
  const big = Buffer.alloc(1024 * 1024 + 1, 0x61);
  const r = await call(h.port, 'POST', '/api/echo', { body: big, timeoutMs: 15_000 });
  assert.equal(r.status, 413);
  assert.equal(r.text, '{"err":"Request body too large"}');
  assert.equal(r.headers.connection, 'close');
  const c = await call(h.port, 'POST', '/api/echo', { body: big, headers: { 'Transfer-Encoding': 'chunked' }, timeoutMs: 15_000 }).catch((err: Error) => err);
  // The server may close while the client is still sending: either the 413 or a reset is fine, never a forward.
  if (!(c instanceof Error)) assert.equal(c.status, 413);
  // Exactly 1 MiB is accepted.
  const ok = await call(h.port, 'POST', '/api/echo', { body: big.subarray(1), timeoutMs: 15_000 });
  assert.equal(ok.status, 201);
  assert.equal(ok.body.length, 1024 * 1024);
  assert.equal(svcA.received.length, before + 1);
});

test('keep-alive: several requests on one client connection', async () => {
  const c = await RawConnection.open(h.port);
  try {
    for (let i = 0; i < 4; i++) {
      const r = await c.exchange('GET /api/hello HTTP/1.1\r\nHost: x\r\n\r\n');
      assert.equal(r.status, 200);
      assert.equal(r.body.toString(), '{"msg":"hello"}');
      assert.equal(r.headers.get('x-socket-id'), undefined);
      assert.notEqual(r.headers.get('connection'), 'close');
    }
    const p = await c.exchange('POST /api/echo HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc');
    assert.equal(p.status, 201);
    assert.equal(p.body.toString(), 'abc');
    const lost = await c.exchange('GET /api/none HTTP/1.1\r\nHost: x\r\n\r\n');
    assert.equal(lost.status, 418);
    const again = await c.exchange('GET /api/b HTTP/1.1\r\nHost: x\r\n\r\n');
    assert.equal(again.body.toString(), 'from B');
    assert.equal(c.closed, false);
  } finally {
    c.close();
  }
});

test('no Redis configured: the module loads, warns once at setup, answers 503 no broker', async () => {
  // (HRMR_REDIS is not set in the test environment.)
  const n = await startBundled(['rhttp']);
  try {
    const r = await call(n.port, 'GET', '/api/hello');
    assert.equal(r.status, 503);
    assert.equal(r.text, '{"err":"no broker: start hrmr with --redis redis://HOST:PORT"}');
    assert.equal(r.headers['content-type'], JSON_TYPE);
    const p = await call(n.port, 'POST', '/api/echo', { body: 'x' });
    assert.equal(p.status, 503);
    const warns = n.logs.filter((l) => l.level === 40 && /no Redis configured/.test(l.msg));
    assert.equal(warns.length, 1);
  } finally {
    await n.kill();
  }
});
