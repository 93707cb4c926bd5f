// SPDX-License-Identifier: LGPL-3.0-or-later
// The relay module over real sockets, every row of the spec's endpoint table,
// for both stores (memory, and Redis Streams on a real redis-server):
// produce/consume, pending/ack/re-delivery, status 201/202/204, long polls,
// reply and reply-poll, len and all, backpressure (507, limit=0 trimming,
// limit over max), 413, malformed urls, 405, CORS, health, auth (token,
// HMAC, public ids) on a second server mounted at /relay/.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { signBody } from '../modules_src/relay/auth.ts';
import { startBundled } from './helpers/bundled.ts';
import type { Hrmr } from './helpers/hrmr.ts';
import { startRedis, type RedisServer } from './helpers/redis.ts';
import { relayClient, type RelayClient, type RelayReply } from './helpers/relay-client.ts';

const CORS = {
  'access-control-allow-origin': '*',
  'access-control-allow-methods': 'GET, POST, DELETE, OPTIONS',
  'access-control-expose-headers': '*, X-Message-Id, X-Queue-Size',
};
const MID = /^\d{1,16}-\d{1,16}$/;

function cors(r: RelayReply): void {
  for (const [k, v] of Object.entries(CORS)) assert.equal(r.headers[k], v, `${k} on a ${r.status}`);
}

function text(r: RelayReply, status: number, body: string): void {
  assert.equal(r.status, status, `status (body ${JSON.stringify(r.text)})`);
  assert.equal(r.text, body);
  assert.equal(r.headers['content-type'], 'text/plain');
  assert.equal(r.headers['content-length'], String(Buffer.byteLength(body)));
  cors(r);
}

function empty(r: RelayReply, status: number): void {
  assert.equal(r.status, status, `status (body ${JSON.stringify(r.text)})`);
  assert.equal(r.body.length, 0);
  cors(r);
}

let seq = 0;
/** A fresh tunnel id per test, so the stores' state never leaks between tests. */
const tid = (name: string): string => `${name}-${process.pid}-${++seq}`;

for (const store of ['memory', 'redis'] as const) {
  describe(`relay, ${store} store`, () => {
    let redis: RedisServer | null = null;
    let h: Hrmr;
    let authed: Hrmr;
    let c: RelayClient;
    let a: RelayClient;

    before(async () => {
      const common = ['--set', 'relay.tunnel_maxlen=5', '--set', 'relay.tunnel_max_poll_timeout=3', '--set', 'relay.tunnel_default_poll_timeout=1'];
      if (store === 'redis') {
        redis = await startRedis();
        common.push('--redis', redis.url);
      }
      h = await startBundled(['relay'], { args: common });
      authed = await startBundled(['relay'], { args: [...common, '--set', 'relay.mount=/relay/', '--set', 'relay.access_token=s3cret-token', '--set', 'relay.signature_secret=hmac-key', '--set', 'relay.public_ids=open-1,open-2'] });
      c = relayClient(h.port);
      a = relayClient(authed.port, '/relay');
    });
    after(async () => {
      await Promise.all([h?.kill(), authed?.kill()]);
      await redis?.stop();
    });

    test('the store in use is the one asked for (STATUS)', async () => {
      const { admin } = await import('./helpers/hrmr.ts');
      const st = JSON.parse((await admin(h.port, 'STATUS')).slice(3)) as { modules: Array<{ name: string; status?: { store: string } }> };
      assert.equal(st.modules.find((m) => m.name === 'relay')?.status?.store, store);
    });

    test('POST /t/ID: 201, empty body, X-Message-Id and X-Queue-Size; GET: 200 with body, type, id, length; then 204', async () => {
      const t = tid('produce');
      const p1 = await c.post(`/t/${t}`, '{"text": "Hello, World!"}', { headers: { 'Content-Type': 'application/json' } });
      empty(p1, 201);
      assert.match(String(p1.headers['x-message-id']), MID);
      assert.equal(p1.headers['x-queue-size'], '1');
      assert.equal(p1.headers['content-length'], '0');
      const p2 = await c.post(`/t/${t}/`, Buffer.from([0, 1, 2, 255]));
      empty(p2, 201);
      assert.equal(p2.headers['x-queue-size'], '2');
      const g1 = await c.get(`/t/${t}`);
      assert.equal(g1.status, 200);
      assert.equal(g1.text, '{"text": "Hello, World!"}');
      assert.equal(g1.headers['content-type'], 'application/json');
      assert.equal(g1.headers['x-message-id'], p1.headers['x-message-id']);
      assert.equal(g1.headers['content-length'], '25');
      cors(g1);
      const g2 = await c.get(`/t/${t}/`);
      assert.equal(g2.status, 200);
      assert.deepEqual([...g2.body], [0, 1, 2, 255]);
      assert.equal(g2.headers['content-type'], 'text/plain', 'the default type when the producer sent none');
      assert.equal(g2.headers['x-message-id'], p2.headers['x-message-id']);
      empty(await c.get(`/t/${t}`), 204);
      // Ids strictly increase per tunnel; case matters.
      const [x, y] = [(await c.post(`/t/${t}`, 'a')).headers['x-message-id'], (await c.post(`/t/${t}`, 'b')).headers['x-message-id']];
      const n = (s: unknown): bigint[] => String(s).split('-').map(BigInt);
      assert.ok(n(y)[0]! > n(x)[0]! || (n(y)[0] === n(x)[0] && n(y)[1]! > n(x)[1]!), `${x} < ${y}`);
      empty(await c.get(`/t/${t.toUpperCase()}`), 204);
    });

    test('?pending: the message stays pending (202) until acked, is handed out again, DELETE acks (204 always)', async () => {
      const t = tid('pending');
      const id1 = String((await c.post(`/t/${t}`, 'one', { headers: { 'Content-Type': 'text/one' } })).headers['x-message-id']);
      const id2 = String((await c.post(`/t/${t}`, 'two')).headers['x-message-id']);
      empty(await c.get(`/t/${t}/${id1}`), 201);
      const r1 = await c.get(`/t/${t}?pending`);
      assert.equal(r1.status, 200);
      assert.equal(r1.text, 'one');
      assert.equal(r1.headers['x-message-id'], id1);
      assert.equal(r1.headers['content-type'], 'text/one');
      empty(await c.get(`/t/${t}/${id1}`), 202);
      empty(await c.get(`/t/${t}/${id1}/`), 202);
      const again = await c.get(`/t/${t}/?pending`);
      assert.equal(again.headers['x-message-id'], id1, 'an unacked pending message is handed out again');
      assert.equal(again.text, 'one');
      assert.equal((await c.get(`/t/${t}/len`)).headers['x-queue-size'], '2', 'pending messages count in the length');
      empty(await c.del(`/t/${t}/${id1}`), 204);
      empty(await c.get(`/t/${t}/${id1}`), 204);
      empty(await c.del(`/t/${t}/${id1}/`), 204);
      empty(await c.del(`/t/nobody-${t}/1-1`), 204);
      const r2 = await c.get(`/t/${t}?pending`);
      assert.equal(r2.headers['x-message-id'], id2);
      // A plain read never sees pending messages.
      empty(await c.get(`/t/${t}`), 204);
      empty(await c.get(`/t/${t}/${id2}`), 202);
      // Acking a queued (never handed out) message deletes it too.
      const id3 = String((await c.post(`/t/${t}`, 'three')).headers['x-message-id']);
      empty(await c.del(`/t/${t}/${id3}`), 204);
      empty(await c.get(`/t/${t}/${id3}`), 204);
      empty(await c.get(`/t/unknown-${t}/${id3}`), 204);
      // Consumed plainly: status 204.
      const id4 = String((await c.post(`/t/${t}`, 'four')).headers['x-message-id']);
      assert.equal((await c.get(`/t/${t}`)).text, 'four');
      empty(await c.get(`/t/${t}/${id4}`), 204);
    });

    test('long poll: wakes on a produce; 204 at timeout; timeout<=0 does not wait; &pending', async () => {
      const t = tid('poll');
      const waiting = c.get(`/t/${t}/poll?timeout=3`);
      await new Promise((r) => setTimeout(r, 100));
      const p = await c.post(`/t/${t}`, 'wake', { headers: { 'Content-Type': 'text/w' } });
      const got = await waiting;
      assert.equal(got.status, 200);
      assert.equal(got.text, 'wake');
      assert.equal(got.headers['content-type'], 'text/w');
      assert.equal(got.headers['x-message-id'], p.headers['x-message-id']);
      cors(got);
      // Already queued: answered at once.
      await c.post(`/t/${t}`, 'queued');
      assert.equal((await c.get(`/t/${t}/poll`)).text, 'queued');
      const t0 = Date.now();
      empty(await c.get(`/t/${t}/poll?timeout=0.3`), 204);
      assert.ok(Date.now() - t0 >= 250, 'waited for the timeout');
      empty(await c.get(`/t/${t}/poll?timeout=0`), 204);
      empty(await c.get(`/t/${t}/poll?timeout=-5`), 204);
      // Default timeout (set to 1 s here) when none is given.
      const t1 = Date.now();
      empty(await c.get(`/t/${t}/poll`), 204);
      assert.ok(Date.now() - t1 >= 900, 'the default poll timeout applies');
      // Capped at tunnel_max_poll_timeout (3 s here).
      const t2 = Date.now();
      empty(await c.get(`/t/${t}/poll?timeout=999`, { timeoutMs: 20_000 }), 204);
      assert.ok(Date.now() - t2 < 15_000);
      // &pending: the polled message stays pending.
      const pendingPoll = c.get(`/t/${t}/poll?timeout=3&pending`);
      await new Promise((r) => setTimeout(r, 100));
      const id = String((await c.post(`/t/${t}`, 'acked?')).headers['x-message-id']);
      assert.equal((await pendingPoll).headers['x-message-id'], id);
      empty(await c.get(`/t/${t}/${id}`), 202);
      // Several pollers on one tunnel: each message goes to exactly one.
      const u = tid('pollers');
      const polls = [0, 1, 2].map(() => c.get(`/t/${u}/poll?timeout=3`));
      await new Promise((r) => setTimeout(r, 100));
      for (const m of ['a', 'b', 'c']) await c.post(`/t/${u}`, m);
      assert.deepEqual((await Promise.all(polls)).map((r) => r.text).sort(), ['a', 'b', 'c']);
    });

    test('a long poll whose client leaves does not swallow the next message', async () => {
      const t = tid('leave');
      const ac = new AbortController();
      const http = await import('node:http');
      const gone = new Promise<void>((resolve) => {
        const req = http.request({ host: '127.0.0.1', port: h.port, path: `/t/${t}/poll?timeout=3`, agent: false, signal: ac.signal });
        req.on('error', () => resolve());
        req.end();
      });
      await new Promise((r) => setTimeout(r, 150));
      ac.abort();
      await gone;
      await new Promise((r) => setTimeout(r, 150));
      await c.post(`/t/${t}`, 'kept');
      assert.equal((await c.get(`/t/${t}`)).text, 'kept');
    });

    test('reply: 201 to a pending message (acks it), 204 otherwise and a second time; read once; reply/poll', async () => {
      const t = tid('reply');
      const id = String((await c.post(`/t/${t}`, 'question')).headers['x-message-id']);
      empty(await c.post(`/t/${t}/${id}/reply`, 'too early'), 204);
      assert.equal((await c.get(`/t/${t}?pending`)).headers['x-message-id'], id);
      empty(await c.get(`/t/${t}/${id}/reply`), 204);
      const replyPoll = c.get(`/t/${t}/${id}/reply/poll?timeout=3`);
      await new Promise((r) => setTimeout(r, 100));
      const r1 = await c.post(`/t/${t}/${id}/reply/`, '{"answer":42}', { headers: { 'Content-Type': 'application/json' } });
      empty(r1, 201);
      assert.equal(r1.headers['content-length'], '0');
      empty(await c.post(`/t/${t}/${id}/reply`, 'second'), 204);
      empty(await c.get(`/t/${t}/${id}`), 204);
      assert.equal((await c.get(`/t/${t}/len`)).headers['x-queue-size'], '0');
      const got = await replyPoll;
      assert.equal(got.status, 200);
      assert.equal(got.text, '{"answer":42}');
      assert.equal(got.headers['content-type'], 'application/json');
      cors(got);
      // Stored for a reader that comes later, read once.
      const id2 = String((await c.post(`/t/${t}`, 'q2')).headers['x-message-id']);
      await c.get(`/t/${t}?pending`);
      empty(await c.post(`/t/${t}/${id2}/reply`, 'plain answer'), 201);
      const read = await c.get(`/t/${t}/${id2}/reply/`);
      assert.equal(read.status, 200);
      assert.equal(read.text, 'plain answer');
      assert.equal(read.headers['content-type'], 'text/plain');
      empty(await c.get(`/t/${t}/${id2}/reply`), 204);
      empty(await c.get(`/t/${t}/${id2}/reply/poll?timeout=0.2`), 204);
      empty(await c.get(`/t/${t}/${id2}/reply/poll?timeout=0`), 204);
      // Stored before the reply poll starts: answered at once.
      const id3 = String((await c.post(`/t/${t}`, 'q3')).headers['x-message-id']);
      await c.get(`/t/${t}?pending`);
      await c.post(`/t/${t}/${id3}/reply`, 'ready');
      assert.equal((await c.get(`/t/${t}/${id3}/reply/poll`)).text, 'ready');
    });

    test('len and all: X-Queue-Size; an unknown tunnel has length 0', async () => {
      const t = tid('len');
      const len = await c.get(`/t/${t}/len`);
      empty(len, 204);
      assert.equal(len.headers['x-queue-size'], '0');
      for (const m of ['1', '2', '3']) await c.post(`/t/${t}`, m);
      assert.equal((await c.get(`/t/${t}/len`)).headers['x-queue-size'], '3');
      const all = await c.del(`/t/${t}/all`);
      empty(all, 204);
      assert.equal(all.headers['x-queue-size'], '0');
      assert.equal((await c.get(`/t/${t}/len`)).headers['x-queue-size'], '0');
      empty(await c.get(`/t/${t}`), 204);
      // Ids keep increasing after a clear.
      const before = String((await c.post(`/t/${t}`, 'x')).headers['x-message-id']);
      await c.del(`/t/${t}/all`);
      const afterId = String((await c.post(`/t/${t}`, 'y')).headers['x-message-id']);
      assert.notEqual(before, afterId);
      empty(await c.del(`/t/never-${t}/all`), 204);
    });

    test('backpressure: 507 with X-Queue-Size at the default and a given limit; limit over max 400; limit=0 trims', async () => {
      const t = tid('bp');
      for (let i = 1; i <= 5; i++) assert.equal((await c.post(`/t/${t}`, `m${i}`)).headers['x-queue-size'], String(i));
      const full = await c.post(`/t/${t}`, 'm6');
      text(full, 507, 'Queue limit reached, consumers are not keeping up');
      assert.equal(full.headers['x-queue-size'], '5');
      assert.equal(full.headers['x-message-id'], undefined);
      // limit=N: full at N.
      const u = tid('limit');
      empty(await c.post(`/t/${u}?limit=2`, 'a'), 201);
      const second = await c.post(`/t/${u}?limit=2`, 'b');
      assert.equal(second.headers['x-queue-size'], '2');
      const refused = await c.post(`/t/${u}?limit=2`, 'c');
      text(refused, 507, 'Queue limit reached, consumers are not keeping up');
      assert.equal(refused.headers['x-queue-size'], '2');
      text(await c.post(`/t/${u}?limit=6`, 'd'), 400, 'Limit must be less than the tunnel max length');
      empty(await c.post(`/t/${u}?limit=5`, 'e'), 201);
      // limit=0 (or negative): no backpressure, no X-Queue-Size, trimmed to tunnel_maxlen, oldest dropped.
      const v = tid('trim');
      for (let i = 1; i <= 8; i++) {
        const r = await c.post(`/t/${v}?limit=${i % 2 === 0 ? 0 : -1}`, `t${i}`);
        empty(r, 201);
        assert.equal(r.headers['x-queue-size'], undefined);
        assert.match(String(r.headers['x-message-id']), MID);
      }
      assert.equal((await c.get(`/t/${v}/len`)).headers['x-queue-size'], '5');
      const left: string[] = [];
      for (let i = 0; i < 5; i++) left.push((await c.get(`/t/${v}`)).text);
      assert.deepEqual(left, ['t4', 't5', 't6', 't7', 't8']);
    });

    test('bodies over 128 KiB get 413; 128 KiB exactly is accepted', async () => {
      const t = tid('big');
      const ok = await c.post(`/t/${t}?limit=0`, Buffer.alloc(128 * 1024, 0x61));
      empty(ok, 201);
      assert.equal((await c.get(`/t/${t}`)).body.length, 128 * 1024);
      const big = await c.post(`/t/${t}`, Buffer.alloc(128 * 1024 + 1, 0x61));
      assert.equal(big.status, 413);
      cors(big);
      // Chunked, no length announced.
      const chunked = await c.req('POST', `/t/${t}`, { body: Buffer.alloc(200 * 1024, 0x62), headers: { 'Transfer-Encoding': 'chunked' } });
      assert.equal(chunked.status, 413);
      assert.equal((await c.get(`/t/${t}/len`)).headers['x-queue-size'], '0');
    });

    test('malformed urls: 400 Malformed url; unsupported methods: 405 with Allow', async () => {
      for (const path of ['/t/', '/t', '/t/a.b', '/t/a%20b', '/t/abc/poll/', '/t/abc/1-2/reply/poll/', '/t/abc/xyz', '/t/abc/1-/reply', '/t/abc/12345678901234567-1', `/t/${'x'.repeat(1025)}`, '/t/abc/1-2/reply/x', '/t/abc/len/x']) {
        text(await c.get(path), 400, 'Malformed url');
      }
      text(await c.post('/t/a.b', 'x'), 400, 'Malformed url');
      empty(await c.get(`/t/${'x'.repeat(1024)}`), 204);
      const put = await c.req('PUT', '/t/abc', { body: 'x' });
      text(put, 405, 'Method Not Allowed');
      assert.equal(put.headers.allow, 'GET, POST, OPTIONS');
      assert.equal((await c.post('/t/abc/poll', 'x')).headers.allow, 'GET, OPTIONS');
      assert.equal((await c.post('/t/abc/all', 'x')).headers.allow, 'DELETE, OPTIONS');
      assert.equal((await c.del('/t/abc')).status, 405);
      assert.equal((await c.req('HEAD', '/t/abc')).status, 405, 'HEAD would consume a message');
    });

    test('CORS preflight on any /t/ path: 204, Content-Length 0, Max-Age 3600; health: 200 OK', async () => {
      for (const path of ['/t/abc', '/t/abc/poll', '/t/abc/1-2/reply', '/t/bad.id']) {
        const r = await c.options(path, { headers: { Origin: 'https://example.com', 'Access-Control-Request-Method': 'POST' } });
        empty(r, 204);
        assert.equal(r.headers['content-length'], '0');
        assert.equal(r.headers['access-control-max-age'], '3600');
      }
      for (const path of ['/health', '/health/', '/health?x=1']) text(await c.get(path), 200, 'OK');
      assert.equal((await c.get('/healthz')).status, 404, 'not the relay');
    });

    test('auth: 403 Access denied without credentials; bearer token, HMAC of the body, public ids pass; per request', async () => {
      const t = tid('auth');
      text(await a.post(`/t/${t}`, 'x'), 403, 'Access denied');
      text(await a.get(`/t/${t}`), 403, 'Access denied');
      text(await a.get(`/t/${t}`, { headers: { Authorization: 'Bearer wrong' } }), 403, 'Access denied');
      const ok = await a.post(`/t/${t}`, 'by token', { headers: { Authorization: 'Bearer s3cret-token' } });
      empty(ok, 201);
      // The next request without credentials is refused again (the original leaked auth state between requests).
      text(await a.get(`/t/${t}`), 403, 'Access denied');
      assert.equal((await a.get(`/t/${t}`, { headers: { Authorization: 'Bearer s3cret-token' } })).text, 'by token');
      const body = '{"event":"push"}';
      empty(await a.post(`/t/${t}`, body, { headers: { 'X-Hub-Signature-256': signBody('hmac-key', body) } }), 201);
      text(await a.post(`/t/${t}`, body, { headers: { 'X-Hub-Signature-256': signBody('other-key', body) } }), 403, 'Access denied');
      text(await a.post(`/t/${t}`, body + ' ', { headers: { 'X-Hub-Signature-256': signBody('hmac-key', body) } }), 403, 'Access denied');
      // An empty body never passes by signature (a GET has none).
      text(await a.get(`/t/${t}`, { headers: { 'X-Hub-Signature-256': signBody('hmac-key', '') } }), 403, 'Access denied');
      text(await a.post(`/t/${t}`, '', { headers: { 'X-Hub-Signature-256': signBody('hmac-key', '') } }), 403, 'Access denied');
      // Public ids are open.
      empty(await a.post('/t/open-1', 'public'), 201);
      assert.equal((await a.get('/t/open-1')).text, 'public');
      empty(await a.get('/t/open-2/len'), 204);
      text(await a.get('/t/open-3'), 403, 'Access denied');
      // Preflight and health need no credentials; the mount point moved everything under /relay/.
      empty(await a.options(`/t/${t}`), 204);
      text(await a.get('/health'), 200, 'OK');
      assert.equal((await relayClient(authed.port).get('/t/open-1')).status, 404);
    });
  });
}
