// SPDX-License-Identifier: LGPL-3.0-or-later
/** Pure parts of the relay module: settings, request targets, auth, and the memory store's logic (no sockets). */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { authorized, makeAuth, signBody } from '../modules_src/relay/auth.ts';
import { normalizeMount, parseConfig, redactUrl } from '../modules_src/relay/config.ts';
import { MemoryStore, MSG_OVERHEAD, newMemoryData, TUNNEL_OVERHEAD } from '../modules_src/relay/memory.ts';
import { backpressure, luaNumber, parseEndpoint, parseQuery, pollTimeoutMs } from '../modules_src/relay/parse.ts';
import { asUnavailable } from '../modules_src/relay/redis.ts';
import { ClientGone } from '../modules_src/relay/store.ts';

test('config: defaults are the original defaults', () => {
  const c = parseConfig({});
  assert.equal(c.mount, '/');
  assert.equal(c.store, 'memory');
  assert.equal(c.tunnelMaxlen, 1000);
  assert.equal(c.backpressure, true);
  assert.equal(c.maxPollTimeout, 60);
  assert.equal(c.defaultPollTimeout, 30);
  assert.equal(c.defaultContentType, 'text/plain');
  assert.equal(c.replyTtl, 3600);
  assert.equal(c.maxBytes, 256 * 1024 * 1024);
  assert.equal(c.maxBody, 128 * 1024);
  assert.equal(c.publicIds.size, 0);
});

test('config: every key, the store choice, and bad values', () => {
  const c = parseConfig({ mount: 'relay', redis: 'redis://h:1', tunnel_maxlen: '5', tunnel_backpressure: '0', tunnel_max_poll_timeout: '9', tunnel_default_poll_timeout: '3', tunnel_default_content_type: 'application/json', access_token: 't', signature_secret: 's', public_ids: 'a, b ,', reply_ttl: '7', max_bytes: '1m', idle_ttl: '60' });
  assert.equal(c.mount, '/relay/');
  assert.equal(c.store, 'redis');
  assert.equal(c.redis, 'redis://h:1');
  assert.deepEqual([c.tunnelMaxlen, c.backpressure, c.maxPollTimeout, c.defaultPollTimeout, c.replyTtl, c.maxBytes, c.idleTtl], [5, false, 9, 3, 7, 1024 * 1024, 60]);
  assert.deepEqual([...c.publicIds], ['a', 'b']);
  assert.equal(parseConfig({ redis: 'redis://h:1', store: 'memory' }).store, 'memory');
  assert.throws(() => parseConfig({ tunnel_maxlen: 'x' }), /^ConfigError: relay: bad setting tunnel_maxlen=x: expected a whole number from 1 to 10000000$/);
  assert.throws(() => parseConfig({ tunnel_maxlen: '0' }), /relay: bad setting tunnel_maxlen=0: expected a whole number from 1/);
  assert.throws(() => parseConfig({ tunnel_backpressure: 'maybe' }), /relay: bad setting tunnel_backpressure=maybe: expected one of 1, true/);
  // Times are durations in whole seconds: a plain number is seconds.
  assert.deepEqual(
    (({ maxPollTimeout, replyTtl, idleTtl }) => [maxPollTimeout, replyTtl, idleTtl])(parseConfig({ tunnel_max_poll_timeout: '2m', reply_ttl: '1h', idle_ttl: '1500ms' })),
    [120, 3600, 2],
  );
  assert.throws(() => parseConfig({ reply_ttl: '5k' }), /relay: bad setting reply_ttl=5k: expected a duration/);
  assert.throws(() => parseConfig({ maxlen: '3' }), /unknown setting "maxlen"/);
  assert.throws(() => parseConfig({ store: 'redis' }), /needs a Redis URL/);
  assert.throws(() => parseConfig({ redis: 'http://x' }), /relay: bad setting redis=http:\/\/x: expected a URL starting with redis:\/\//);
  assert.throws(() => parseConfig({ public_ids: 'a/b' }), /relay: bad setting public_ids=a\/b: expected tunnel ids .*; a\/b is not one/);
  assert.equal(normalizeMount('/x'), '/x/');
  assert.throws(() => normalizeMount('/a//b/'), /relay: bad setting mount=\/a\/\/b\/: expected a path without empty segments/);
  assert.equal(redactUrl('redis://user:secret@h:1/0'), 'redis://user:***@h:1/0');
  assert.equal(redactUrl('redis://secret@h:1'), 'redis://***@h:1');
  assert.equal(redactUrl('redis://h:1'), 'redis://h:1');
});

test('parseEndpoint: every row of the endpoint table, trailing slashes only where the original accepts them', () => {
  assert.deepEqual(parseEndpoint('abc'), { kind: 'tunnel', id: 'abc' });
  assert.deepEqual(parseEndpoint('abc/'), { kind: 'tunnel', id: 'abc' });
  assert.deepEqual(parseEndpoint('abc/poll'), { kind: 'poll', id: 'abc' });
  assert.deepEqual(parseEndpoint('abc/len'), { kind: 'len', id: 'abc' });
  assert.deepEqual(parseEndpoint('abc/all'), { kind: 'all', id: 'abc' });
  assert.deepEqual(parseEndpoint('abc/1-2'), { kind: 'message', id: 'abc', mid: '1-2' });
  assert.deepEqual(parseEndpoint('abc/1-2/'), { kind: 'message', id: 'abc', mid: '1-2' });
  assert.deepEqual(parseEndpoint('abc/007-00/reply'), { kind: 'reply', id: 'abc', mid: '7-0' });
  assert.deepEqual(parseEndpoint('abc/1-2/reply/'), { kind: 'reply', id: 'abc', mid: '1-2' });
  assert.deepEqual(parseEndpoint('abc/1-2/reply/poll'), { kind: 'replyPoll', id: 'abc', mid: '1-2' });
  assert.deepEqual(parseEndpoint('a%2Db'), { kind: 'tunnel', id: 'a-b' });
  for (const bad of ['', '/', 'a.b', 'a b', 'abc/poll/', 'abc/len/', 'abc/all/', 'abc/1-2/reply/poll/', 'abc/1', 'abc/1-', 'abc/x-1', 'abc/12345678901234567-1', 'abc/1-2/x', 'abc/1-2/reply/x', 'abc//', 'a%zz', 'x'.repeat(1025), 'é']) {
    assert.equal(parseEndpoint(bad), null, bad);
  }
  assert.deepEqual(parseEndpoint('x'.repeat(1024)), { kind: 'tunnel', id: 'x'.repeat(1024) });
});

test('parseEndpoint: accepted ids are exactly [-A-Za-z0-9_]{1,1024}', () => {
  fc.assert(
    fc.property(fc.string({ maxLength: 30 }), (s) => {
      const e = parseEndpoint(s.replace(/[/%]/g, ''));
      const ok = /^[-A-Za-z0-9_]{1,1024}$/.test(s.replace(/[/%]/g, ''));
      assert.equal(e !== null, ok);
    }),
    { numRuns: 2000 },
  );
});

test('query parameters: pending flag, timeout and limit, first wins', () => {
  assert.deepEqual(parseQuery(''), { pending: false, timeout: undefined, limit: undefined });
  assert.deepEqual(parseQuery('pending'), { pending: true, timeout: undefined, limit: undefined });
  assert.deepEqual(parseQuery('timeout=5&pending=&limit=3&limit=9'), { pending: true, timeout: '5', limit: '3' });
  assert.equal(luaNumber('10'), 10);
  assert.equal(luaNumber(' 1.5 '), 1.5);
  assert.equal(luaNumber('0x10'), 16);
  assert.equal(luaNumber('-3'), -3);
  assert.equal(luaNumber('abc'), undefined);
  assert.equal(luaNumber(''), undefined);
  assert.equal(pollTimeoutMs(undefined, 30, 60), 30_000);
  assert.equal(pollTimeoutMs('5', 30, 60), 5000);
  assert.equal(pollTimeoutMs('999', 30, 60), 60_000);
  assert.equal(pollTimeoutMs('0', 30, 60), 0);
  assert.equal(pollTimeoutMs('-1', 30, 60), 0);
  assert.equal(pollTimeoutMs('zz', 30, 60), 30_000);
  assert.deepEqual(backpressure(undefined, 1000, true), { on: true, limit: 1000 });
  assert.deepEqual(backpressure(undefined, 1000, false), { on: false });
  assert.deepEqual(backpressure('10', 1000, false), { on: true, limit: 10 });
  assert.deepEqual(backpressure('1000', 1000, true), { on: true, limit: 1000 });
  assert.equal(backpressure('1001', 1000, true), null);
  assert.deepEqual(backpressure('0', 1000, true), { on: false });
  assert.deepEqual(backpressure('-5', 1000, true), { on: false });
});

test('auth: open without configuration; public ids, bearer token, HMAC (never an empty body); per request', () => {
  const open = makeAuth('', '', new Set());
  assert.equal(authorized(open, 'x', undefined, undefined, Buffer.alloc(0)), true);
  const a = makeAuth('tok', 'sec', new Set(['pub']));
  const body = Buffer.from('hello');
  assert.equal(authorized(a, 'pub', undefined, undefined, Buffer.alloc(0)), true);
  assert.equal(authorized(a, 'x', undefined, undefined, body), false);
  assert.equal(authorized(a, 'x', 'Bearer tok', undefined, body), true);
  assert.equal(authorized(a, 'x', 'bearer tok', undefined, body), true);
  assert.equal(authorized(a, 'x', 'Bearer tok2', undefined, body), false);
  assert.equal(authorized(a, 'x', 'Basic tok', undefined, body), false);
  assert.equal(authorized(a, 'x', undefined, signBody('sec', body), body), true);
  assert.equal(authorized(a, 'x', undefined, signBody('sec', body).toUpperCase().replace('SHA256', 'sha256'), body), true);
  assert.equal(authorized(a, 'x', undefined, signBody('other', body), body), false);
  assert.equal(authorized(a, 'x', undefined, signBody('sec', ''), Buffer.alloc(0)), false);
  assert.equal(authorized(a, 'x', undefined, 'sha256=zz', body), false);
  // A previous success changes nothing for the next request.
  assert.equal(authorized(a, 'x', undefined, undefined, body), false);
  const tokenOnly = makeAuth('tok', '', new Set());
  assert.equal(authorized(tokenOnly, 'x', undefined, signBody('', body), body), false);
});

test('asUnavailable: connection errors become StoreUnavailable, script errors stay', () => {
  assert.equal(asUnavailable(new Error("Stream isn't writeable and enableOfflineQueue options is false")).name, 'StoreUnavailable');
  const reply = Object.assign(new Error('ERR Error running script'), { name: 'ReplyError' });
  assert.equal(asUnavailable(reply), reply);
  assert.equal(asUnavailable(Object.assign(new Error('LOADING Redis is loading'), { name: 'ReplyError' })).name, 'StoreUnavailable');
});

const ON = (limit: number) => ({ on: true as const, limit });
const OFF = { on: false as const };
const b = (s: string): Buffer => Buffer.from(s);

function mem(o: { maxlen?: number; maxBytes?: number; replyTtlMs?: number; now?: () => number } = {}): MemoryStore {
  return new MemoryStore(newMemoryData(), { maxlen: o.maxlen ?? 1000, maxBytes: o.maxBytes ?? 1 << 30, replyTtlMs: o.replyTtlMs ?? 3_600_000, now: o.now });
}

test('memory store: FIFO, ids strictly increasing within one millisecond, empty tunnels freed', () => {
  const s = mem({ now: () => 1000 });
  const ids: string[] = [];
  for (let i = 0; i < 5; i++) {
    const r = s.produceSync('t', b(`m${i}`), '', ON(1000));
    assert.ok(r.ok);
    ids.push(r.id);
    assert.equal(r.size, i + 1);
  }
  assert.deepEqual(ids, ['1000-0', '1000-1', '1000-2', '1000-3', '1000-4']);
  for (let i = 0; i < 5; i++) assert.equal(s.consumeSync('t', false)?.body.toString(), `m${i}`);
  assert.equal(s.consumeSync('t', false), null);
  assert.equal(s.data.tunnels.size, 0);
  assert.equal(s.data.bytes, 0);
  assert.equal(s.data.messages, 0);
});

test('memory store: backpressure 507 at the limit, trimming without it', () => {
  const s = mem({ maxlen: 3 });
  for (let i = 0; i < 2; i++) assert.ok(s.produceSync('t', b(`${i}`), '', ON(2)).ok);
  assert.deepEqual(s.produceSync('t', b('x'), '', ON(2)), { ok: false, reason: 'full', size: 2 });
  for (let i = 2; i < 6; i++) assert.ok(s.produceSync('t', b(`${i}`), '', OFF).ok);
  assert.equal(s.data.messages, 3);
  assert.deepEqual([0, 1, 2].map(() => s.consumeSync('t', false)?.body.toString()), ['3', '4', '5']);
});

test('memory store: pending, re-delivery, ack, state 201/202/204, reply once', () => {
  const s = mem();
  const a = s.produceSync('t', b('a'), 'text/x', ON(10));
  const c = s.produceSync('t', b('c'), '', ON(10));
  assert.ok(a.ok && c.ok);
  assert.equal(s.stateSync('t', a.id), 201);
  const m1 = s.consumeSync('t', true)!;
  assert.equal(m1.id, a.id);
  assert.equal(m1.ct, 'text/x');
  assert.equal(s.stateSync('t', a.id), 202);
  assert.equal(s.consumeSync('t', true)!.id, a.id, 'unacked pending is handed out again');
  assert.equal(s.consumeSync('t', false)!.id, c.id, 'a plain read takes the next new one');
  assert.equal(s.stateSync('t', c.id), 204);
  assert.equal(s.replySync('t', c.id, b('r'), ''), 'none');
  assert.equal(s.replySync('t', a.id, b('answer'), 'text/a'), 'stored');
  assert.equal(s.replySync('t', a.id, b('again'), ''), 'none');
  assert.equal(s.stateSync('t', a.id), 204);
  assert.deepEqual(s.readReplySync('t', a.id), { body: b('answer'), ct: 'text/a' });
  assert.equal(s.readReplySync('t', a.id), null);
  assert.equal(s.data.tunnels.size, 0);
  assert.equal(s.data.bytes, 0);
});

test('memory store: ack deletes queued and pending messages; clear empties', async () => {
  const s = mem();
  const ids = [0, 1, 2, 3].map((i) => {
    const r = s.produceSync('t', b(`${i}`), '', ON(10));
    assert.ok(r.ok);
    return r.id;
  });
  await s.ack('t', ids[2]!);
  assert.equal(s.stateSync('t', ids[2]!), 204);
  assert.equal(s.consumeSync('t', true)!.id, ids[0]);
  await s.ack('t', ids[0]!);
  assert.equal(await s.length('t'), 2);
  await s.ack('t', '99-99');
  await s.clear('t');
  assert.equal(await s.length('t'), 0);
  assert.equal(s.data.tunnels.size, 0);
  assert.equal(s.data.bytes, 0);
});

test('memory store: replies expire after the TTL', () => {
  let now = 1000;
  const s = mem({ replyTtlMs: 500, now: () => now });
  const r = s.produceSync('t', b('q'), '', ON(10));
  assert.ok(r.ok);
  s.consumeSync('t', true);
  assert.equal(s.replySync('t', r.id, b('a'), ''), 'stored');
  now += 600;
  assert.equal(s.readReplySync('t', r.id), null);
  s.sweep(now);
  assert.equal(s.data.replies.size, 0);
  assert.equal(s.data.bytes, 0);
});

test('memory store: the global cap bounds a flood of distinct tunnel ids (and reads create nothing)', () => {
  const cap = 1024 * 1024;
  const s = mem({ maxBytes: cap });
  let refused = 0;
  for (let i = 0; i < 200_000; i++) {
    const r = s.produceSync(`tunnel-${i}`, Buffer.alloc(0), '', ON(1000));
    if (!r.ok) {
      assert.equal(r.reason, 'cap');
      refused++;
    }
    assert.equal(s.consumeSync(`other-${i}`, false), null);
  }
  assert.ok(s.data.bytes <= cap, `${s.data.bytes} <= ${cap}`);
  const per = TUNNEL_OVERHEAD + MSG_OVERHEAD;
  assert.ok(s.data.tunnels.size <= cap / per, `${s.data.tunnels.size} tunnels`);
  assert.ok(refused > 190_000);
  // Consuming frees room again.
  s.consumeSync('tunnel-0', false);
  assert.ok(s.produceSync('fresh', Buffer.alloc(0), '', ON(10)).ok);
});

test('memory store: a waiting poll gets the next message; a cancelled one leaves nothing behind', async () => {
  const s = mem();
  const g = new ClientGone();
  const p = s.poll('t', false, 5000, g);
  assert.equal(s.data.waiting, 1);
  const r = s.produceSync('t', b('hi'), '', ON(10));
  assert.ok(r.ok);
  assert.equal(r.size, 1, 'X-Queue-Size is the length after the add');
  assert.equal((await p)?.body.toString(), 'hi');
  assert.equal(s.data.waiting, 0);
  assert.equal(s.data.tunnels.size, 0);
  const g2 = new ClientGone();
  const p2 = s.poll('u', false, 5000, g2);
  g2.fire();
  assert.equal(await p2, null);
  assert.equal(s.data.waiting, 0);
  assert.equal(s.data.tunnels.size, 0);
  const p3 = s.poll('v', false, 20, new ClientGone());
  assert.equal(await p3, null);
  const q = s.produceSync('v', b('q'), '', ON(10));
  assert.ok(q.ok);
  s.consumeSync('v', true);
  const other = new ClientGone();
  const rpOther = s.pollReply('v', '1-1', 5000, other);
  const rp = s.pollReply('v', q.id, 5000, new ClientGone());
  assert.equal(s.data.waiting, 2);
  assert.equal(s.replySync('v', q.id, b('ans'), 'text/r'), 'stored');
  assert.deepEqual(await rp, { body: b('ans'), ct: 'text/r' });
  assert.equal(s.data.replies.size, 0, 'handed to the waiting reader, not stored');
  other.fire();
  assert.equal(await rpOther, null);
  assert.equal(s.data.waiting, 0);
  // A client gone before the poll starts: answered at once, nothing waits.
  const g3 = new ClientGone();
  g3.fire();
  assert.equal(await s.poll('w', false, 5000, g3), null);
  assert.equal(s.data.waiting, 0);
});

test('ClientGone: calls the waiting poll back once; a cleared callback is not called', () => {
  const g = new ClientGone();
  let n = 0;
  g.set(() => n++);
  g.fire();
  g.fire();
  assert.equal(n, 1);
  assert.equal(g.gone, true);
  const h = new ClientGone();
  h.set(() => n++);
  h.set(null);
  h.fire();
  assert.equal(n, 1);
  assert.equal(h.gone, true);
});
