// SPDX-License-Identifier: LGPL-3.0-or-later
/**
 * Issue 20 point 11, against a real redis-server:
 * - a service's answer over Redis's pub/sub output buffer limit makes Redis
 *   drop the gateway's subscriber: the other requests in flight stay pending
 *   across the resubscribe and get their answers, the oversized one gets 408
 *   at its own timeout, none gets 503;
 * - the subscriber killed (`CLIENT KILL`) while Redis is slow to
 *   take it back (`CLIENT PAUSE`): requests in flight and requests sent
 *   meanwhile are answered, not 503;
 * - Redis gone for good still gives 503 at once (no waiting for timeouts);
 * - an answer with two different X-Socket-ID headers is a 502 at once,
 *   whichever of them is first.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Redis } from 'ioredis';
import { startBundled } from './helpers/bundled.ts';
import { admin, waitUntil, type Hrmr } from './helpers/hrmr.ts';
import { startRedis, type RedisServer } from './helpers/redis.ts';
import { call, type Reply } from './helpers/rhttp-client.ts';
import { startService, type Service } from './helpers/rhttp-service.ts';
import { responseIds } from '../modules_src/rhttp/response.ts';

const FAST = ['--set', 'rhttp.heartbeat_interval=0.2', '--set', 'rhttp.dead_server_beats=5'];

function joined(h: Hrmr, service: string): Promise<unknown> {
  return h.waitForLog((l) => l.msg === 'rhttp service joined' && l.service === service, 15_000);
}

/** The gateway's subscriber as Redis lists it: its id and how many channels it is subscribed to. */
async function gatewaySub(probe: Redis): Promise<{ id: string; sub: number } | null> {
  const list = String(await probe.call('CLIENT', 'LIST'));
  const line = list.split('\n').find((l) => /\bname=hrmr-rhttp-sub\b/.test(l));
  if (line === undefined) return null;
  return { id: /\bid=(\d+)/.exec(line)![1]!, sub: Number(/\bsub=(\d+)/.exec(line)![1]) };
}

/** Waits until the gateway has a subscriber other than `before`, subscribed to its three channels. */
async function resubscribed(probe: Redis, before: string): Promise<void> {
  await waitUntil(
    async () => {
      const s = await gatewaySub(probe);
      return s !== null && s.id !== before && s.sub === 3;
    },
    'the gateway subscribed again on a new connection',
    15_000,
  );
}

function rhttpStatus(reply: string): Record<string, unknown> {
  const all = JSON.parse(reply.slice(3)) as { modules: Array<{ name: string; status?: Record<string, unknown> }> };
  return all.modules.find((x) => x.name === 'rhttp')!.status!;
}

interface Rig {
  redis: RedisServer;
  probe: Redis;
  svc: Service;
  h: Hrmr;
  release: () => void;
  close(): Promise<void>;
}

/** Redis, a service whose `/slow` answers wait for `release()`, and hrmr's rhttp with `timeout` seconds. */
async function rig(timeout: number, extra: Record<string, () => { type?: string; body: string } | null> = {}): Promise<Rig> {
  const redis = await startRedis();
  const probe = new Redis(redis.url);
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  const svc = await startService(redis.url, 'svc', {
    'GET /slow': async (req) => {
      await gate;
      return { type: 'text/plain', body: `slow ${req.headers['X-N'] ?? '?'}` };
    },
    'GET /ping': () => ({ type: 'text/plain', body: 'pong' }),
    ...extra,
  });
  const h = await startBundled(['rhttp'], { args: ['--redis', redis.url, ...FAST, '--set', `rhttp.timeout=${timeout}`] });
  await joined(h, 'svc');
  return {
    redis,
    probe,
    svc,
    h,
    release,
    async close() {
      probe.disconnect();
      await h.kill();
      await svc.stop();
      await redis.stop();
    },
  };
}

function slowCalls(r: Rig, n: number): Promise<Reply>[] {
  const out: Promise<Reply>[] = [];
  for (let i = 1; i <= n; i++) out.push(call(r.h.port, 'GET', '/api/slow', { headers: { 'X-N': String(i) }, timeoutMs: 60_000 }));
  return out;
}

test('an answer over the pub/sub output buffer limit drops the subscriber: the other requests in flight get their answers, it gets 408, none 503', async () => {
  const r = await rig(8, { 'GET /big': () => ({ type: 'application/octet-stream', body: 'x'.repeat(4 * 1024 * 1024) }) });
  try {
    // A small limit stands in for the default 32 MB (the 50 MB answer).
    await r.probe.config('SET', 'client-output-buffer-limit', 'pubsub 1mb 1mb 0');
    const before = (await gatewaySub(r.probe))!.id;
    const slow = slowCalls(r, 4);
    await waitUntil(() => r.svc.received.filter((q) => q.path === '/slow').length === 4, 'the service holding four /slow requests');
    const t0 = Date.now();
    const big = call(r.h.port, 'GET', '/api/big', { timeoutMs: 60_000 });
    // The requests right behind it.
    const next = [1, 2, 3].map(() => call(r.h.port, 'GET', '/api/ping', { timeoutMs: 60_000 }));
    await resubscribed(r.probe, before);
    // Sent after the subscriber is back: answered.
    const after = await call(r.h.port, 'GET', '/api/ping', { timeoutMs: 30_000 });
    assert.equal(after.status, 200, after.text);
    assert.equal(after.text, 'pong');
    // The service answers the held requests only now, after the resubscribe.
    r.release();
    const answers = await Promise.all(slow);
    assert.deepEqual(
      answers.map((x) => [x.status, x.text]),
      [1, 2, 3, 4].map((n) => [200, `slow ${n}`]),
    );
    // The oversized answer never arrived: 408 at its own timeout (8 s), not 503 at the drop.
    const b = await big;
    assert.equal(b.status, 408, b.text);
    assert.equal(b.text, '{"err":"Request timeout"}');
    assert.ok(Date.now() - t0 >= 7000, `408 after ${Date.now() - t0} ms`);
    // The requests right behind it were answered before Redis dropped the subscriber, or while it was
    // gone (that answer is lost: 408 at their timeout); never 503.
    for (const p of next) {
      const x = await p;
      assert.ok((x.status === 200 && x.text === 'pong') || (x.status === 408 && x.text === '{"err":"Request timeout"}'), `${x.status} ${x.text}`);
    }
    const st = rhttpStatus(await admin(r.h.port, 'STATUS'));
    assert.equal(st.brokerUnavailable, 0);
    assert.equal(st.broker, 'connected');
    assert.equal((await call(r.h.port, 'GET', '/api/ping')).text, 'pong');
    // Logged as a blip, not as Redis being unavailable.
    assert.ok(r.h.logs.some((l) => l.msg === 'rhttp: Redis dropped the subscriber connection: resubscribing (requests in flight stay pending)'));
    assert.ok(!r.h.logs.some((l) => /Redis unavailable/.test(l.msg)));
  } finally {
    await r.close();
  }
});

test('the subscriber killed (CLIENT KILL) while Redis is paused: requests in flight and requests sent meanwhile are answered', async () => {
  const r = await rig(20);
  try {
    const before = (await gatewaySub(r.probe))!.id;
    const slow = slowCalls(r, 3);
    await waitUntil(() => r.svc.received.filter((q) => q.path === '/slow').length === 3, 'the service holding three /slow requests');
    const mark = r.h.logs.length;
    // Kill the gateway's subscriber (by id: the service's own subscriber, killed too, might come back after
    // the gateway's and miss the held requests), then hold every client's commands for 1 s: the gateway's
    // new connection cannot be ready (nor subscribed) during that second, though Redis is reachable.
    const killer = new Redis(r.redis.url);
    try {
      await killer.call('CLIENT', 'KILL', 'ID', before);
      await killer.call('CLIENT', 'PAUSE', '1000', 'ALL');
    } finally {
      killer.disconnect();
    }
    await r.h.waitForLog((l) => r.h.logs.indexOf(l) >= mark && l.msg === 'rhttp: Redis dropped the subscriber connection: resubscribing (requests in flight stay pending)');
    // Sent while the gateway has no subscription: held, then published once it is back.
    const during = [1, 2, 3].map(() => call(r.h.port, 'GET', '/api/ping', { timeoutMs: 30_000 }));
    await resubscribed(r.probe, before);
    const got = await Promise.all(during);
    assert.deepEqual(
      got.map((x) => [x.status, x.text]),
      [1, 2, 3].map(() => [200, 'pong']),
    );
    r.release();
    const answers = await Promise.all(slow);
    assert.deepEqual(
      answers.map((x) => [x.status, x.text]),
      [1, 2, 3].map((n) => [200, `slow ${n}`]),
    );
    assert.equal(rhttpStatus(await admin(r.h.port, 'STATUS')).brokerUnavailable, 0);
  } finally {
    await r.close();
  }
});

test('CLIENT KILL TYPE pubsub (the services lose their subscriptions too): requests in flight and right after are answered', async () => {
  const r = await rig(20);
  try {
    const before = (await gatewaySub(r.probe))!.id;
    const slow = slowCalls(r, 2);
    await waitUntil(() => r.svc.received.filter((q) => q.path === '/slow').length === 2, 'the service holding two /slow requests');
    await r.probe.call('CLIENT', 'KILL', 'TYPE', 'pubsub');
    // At once, while the gateway and the service resubscribe (in either order).
    const right = [1, 2, 3, 4, 5].map(() => call(r.h.port, 'GET', '/api/ping', { timeoutMs: 30_000 }));
    const got = await Promise.all(right);
    assert.deepEqual(
      got.map((x) => [x.status, x.text]),
      [1, 2, 3, 4, 5].map(() => [200, 'pong']),
    );
    await resubscribed(r.probe, before);
    r.release();
    const answers = await Promise.all(slow);
    assert.deepEqual(
      answers.map((x) => [x.status, x.text]),
      [1, 2].map((n) => [200, `slow ${n}`]),
    );
    const st = rhttpStatus(await admin(r.h.port, 'STATUS'));
    assert.equal(st.brokerUnavailable, 0);
    assert.equal(st.lost, 0);
  } finally {
    await r.close();
  }
});

test('Redis gone for good: requests in flight and new ones get 503 at once, not at their timeout', async () => {
  const r = await rig(30);
  try {
    const slow = slowCalls(r, 2);
    await waitUntil(() => r.svc.received.filter((q) => q.path === '/slow').length === 2, 'the service holding two /slow requests');
    const t0 = Date.now();
    await r.redis.stop();
    for (const x of await Promise.all(slow)) {
      assert.equal(x.status, 503);
      assert.equal(x.text, '{"err":"Broker unavailable"}');
    }
    const n = await call(r.h.port, 'GET', '/api/ping', { timeoutMs: 10_000 });
    assert.equal(n.status, 503);
    assert.ok(Date.now() - t0 < 10_000, `503s after ${Date.now() - t0} ms`);
    assert.equal(r.h.logs.filter((l) => l.msg === 'rhttp: Redis unavailable: requests get 503 until it is back (reconnecting)').length, 1);
  } finally {
    await r.close();
  }
});

test('an answer with two different X-Socket-ID headers is a 502 at once, whichever is first', async () => {
  const r = await rig(30, { 'GET /hang': () => null });
  try {
    for (const order of ['ours-first', 'ours-second'] as const) {
      const mark = r.svc.received.length;
      const p = call(r.h.port, 'GET', '/api/hang', { timeoutMs: 15_000 });
      const req = await waitUntil(() => r.svc.received.slice(mark).find((q) => q.path === '/hang'), 'the service receiving /hang');
      const ours = req.headers['X-Socket-ID']!;
      const ids = order === 'ours-first' ? [ours, '123456789'] : ['123456789', ours];
      await r.svc.publishRaw('RESPONSE_PIPE', `HTTP/1.1 200 OK\r\nContent-Length: 2\r\nX-Socket-ID: ${ids[0]}\r\nX-Socket-ID: ${ids[1]}\r\n\r\nok`);
      const x = await p;
      assert.equal(x.status, 502, order);
      assert.equal(x.text, '{"err":"Bad response from service"}', order);
    }
  } finally {
    await r.close();
  }
});

test('responseIds: every X-Socket-ID of the head, in order, none from the body', () => {
  assert.deepEqual(responseIds(Buffer.from('HTTP/1.1 200 OK\r\nX-Socket-ID: 1\r\nx-socket-id:2\r\n\r\nX-Socket-ID: 3')), ['1', '2']);
  assert.deepEqual(responseIds(Buffer.from('HTTP/1.1 200 OK\r\nA: b\r\n\r\n')), []);
});
