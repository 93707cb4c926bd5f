// SPDX-License-Identifier: LGPL-3.0-or-later
/**
 * The Redis bus: two hrmr servers sharing one real redis-server reach each
 * other (exact channels, wildcards, HTTP publish) without duplicates; when
 * Redis goes down local delivery keeps working, cross-server messages are
 * dropped and counted, the outage is logged once, and every live channel is
 * re-subscribed when it is back.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { Redis } from 'ioredis';
import { startBundled } from './helpers/bundled.ts';
import { waitUntil, type Hrmr } from './helpers/hrmr.ts';
import { frame, httpRequest, LhttpClient, lhttpStatus, parseFrame, subscribed, sync } from './helpers/lhttp-client.ts';
import { startRedis, type RedisServer } from './helpers/redis.ts';

let redis: RedisServer;
let a: Hrmr;
let b: Hrmr;
let probe: Redis;

before(async () => {
  redis = await startRedis();
  [a, b] = await Promise.all([startBundled(['lhttp'], { args: ['--redis', redis.url] }), startBundled(['lhttp'], { args: ['--set', `lhttp.redis=${redis.url}`] })]);
  probe = new Redis(redis.url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => 200 });
  probe.on('error', () => undefined);
  await probe.connect();
  for (const h of [a, b]) await waitUntil(async () => (await lhttpStatus(h.port)).bus.up, 'redis bus up');
});

after(async () => {
  probe?.disconnect();
  await Promise.all([a?.kill(), b?.kill()]);
  await redis?.stop();
});

/** Waits until Redis has `n` subscribers on channel `ch` (lhttp: prefix) or `n` patterns in all. */
async function redisSubscribers(ch: string, n: number): Promise<void> {
  await waitUntil(async () => {
    const r = (await probe.pubsub('NUMSUB', `lhttp:${ch}`)) as [string, number];
    return Number(r[1]) >= n;
  }, `${n} redis subscribers on ${ch}`);
}

async function redisPatterns(n: number): Promise<void> {
  await waitUntil(async () => Number(await probe.pubsub('NUMPAT')) >= n, `${n} redis patterns`);
}

test('two servers on one Redis: exact channels, wildcards, HTTP publish, no duplicates', async () => {
  const [onA] = await subscribed(a.port, 'x room.*');
  const [onB] = await subscribed(b.port, 'x');
  await redisSubscribers('x', 2);
  await redisPatterns(1);
  const pubB = await LhttpClient.open(b.port);
  pubB.send(frame('chat', { publish: 'x' }, 'from B'));
  assert.equal(await onA!.next(), 'LHTTP/1.0 chat\r\npublish:x\r\n\r\nfrom B');
  assert.equal(await onB!.next(), 'LHTTP/1.0 chat\r\npublish:x\r\n\r\nfrom B');
  pubB.send(frame('chat', { publish: 'room.7 room.7.deep' }, 'wild'));
  assert.equal(parseFrame(await onA!.next()).body, 'wild');
  const r = await httpRequest(b.port, '/publish', 'POST', 'LHTTP/1.0 c\r\npublish:x\r\n\r\nhttp from B');
  assert.equal(r.status, 200);
  assert.equal(parseFrame(await onA!.next()).body, 'http from B');
  assert.equal(parseFrame(await onB!.next()).body, 'http from B');
  const pubA = await LhttpClient.open(a.port);
  pubA.send(frame('chat', { publish: 'x' }, 'from A'));
  assert.equal(parseFrame(await onB!.next()).body, 'from A');
  assert.equal(parseFrame(await onA!.next()).body, 'from A');
  // Nothing more: one delivery each (local ones do not come back through Redis), room.7.deep not matched by room.*.
  await sync(pubA);
  await sync(pubB);
  await sync(onA!);
  await sync(onB!);
  for (const c of [onA!, onB!, pubA, pubB]) c.close();
});

test('Redis down: local delivery works, cross-server messages are dropped and counted, logged once; back: re-subscribed', async () => {
  const [onA] = await subscribed(a.port, 'o room.*');
  const [onB] = await subscribed(b.port, 'o');
  await redisSubscribers('o', 2);
  const pubA = await LhttpClient.open(a.port);
  const pubB = await LhttpClient.open(b.port);

  await redis.stop();
  await a.waitForLog((l) => /redis bus down/.test(l.msg));
  await b.waitForLog((l) => /redis bus down/.test(l.msg));
  const droppedBefore = (await lhttpStatus(b.port)).bus.dropped as number;
  for (let i = 0; i < 20; i++) pubB.send(frame('m', { publish: 'o room.1' }, `during outage ${i}`));
  // Local delivery on B goes on.
  for (let i = 0; i < 20; i++) assert.equal(parseFrame(await onB!.next()).body, `during outage ${i}`);
  const sB = await lhttpStatus(b.port);
  assert.equal(sB.bus.up, false);
  assert.equal(sB.bus.dropped - droppedBefore, 40); // 20 messages x 2 channels
  // A keeps delivering locally too, and a subscription made during the outage is caught up later.
  const [lateOnA] = await subscribed(a.port, 'late');
  pubA.send(frame('m', { publish: 'o' }, 'local on A'));
  assert.equal(parseFrame(await onA!.next()).body, 'local on A');

  await redis.restart();
  await a.waitForLog((l) => /redis bus back/.test(l.msg), 15_000);
  await b.waitForLog((l) => /redis bus back/.test(l.msg), 15_000);
  await redisSubscribers('o', 2);
  await redisSubscribers('late', 1);
  await redisPatterns(1);
  pubB.send(frame('m', { publish: 'o late room.2' }, 'after outage'));
  // The messages dropped meanwhile never arrive: the next frame on A is the new one.
  assert.equal(parseFrame(await onA!.next()).body, 'after outage');
  assert.equal(parseFrame(await onA!.next()).body, 'after outage');
  assert.equal(parseFrame(await lateOnA!.next()).body, 'after outage');
  // The outage was logged once per server, not per message or per reconnect attempt.
  for (const h of [a, b]) {
    assert.equal(h.logs.filter((l) => /redis bus down/.test(l.msg)).length, 1);
    assert.equal(h.logs.filter((l) => /redis bus back/.test(l.msg)).length, 1);
  }
  const back = b.logs.find((l) => /redis bus back/.test(l.msg))!;
  assert.equal(back.droppedDuringOutage, 40);
  for (const c of [onA!, onB!, pubA, pubB, lateOnA!]) c.close();
});
