// SPDX-License-Identifier: LGPL-3.0-or-later
// The Redis store's wake-up path, on a real redis-server: a produce on the
// server where a poll waits hands the message to that poll in the same
// script (one round trip, no consume after the PUBLISH); the semantics stay
// those of a produce followed by a consume (plain polls, ?pending polls,
// polls waiting on two servers: exactly one of them gets each message).
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { Redis } from 'ioredis';
import { startBundled } from './helpers/bundled.ts';
import { waitUntil, type Hrmr } from './helpers/hrmr.ts';
import { startRedis, type RedisServer } from './helpers/redis.ts';
import { relayClient } from './helpers/relay-client.ts';

async function scripts(r: Redis): Promise<number> {
  const info = await r.info('commandstats');
  let n = 0;
  // Runs that did something: a first EVALSHA fails with NOSCRIPT and is sent again as EVAL.
  for (const name of ['evalsha', 'eval']) {
    const m = new RegExp(`cmdstat_${name}:calls=(\\d+),.*failed_calls=(\\d+)`).exec(info);
    if (m) n += Number(m[1]) - Number(m[2]);
  }
  return n;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

describe('relay, Redis store: waking a long poll', () => {
  let redis: RedisServer;
  let A: Hrmr;
  let B: Hrmr;
  let probe: Redis;

  before(async () => {
    redis = await startRedis();
    const args = ['--redis', redis.url];
    [A, B] = await Promise.all([startBundled(['relay'], { args }), startBundled(['relay'], { args })]);
    probe = new Redis(redis.url, { maxRetriesPerRequest: 1 });
  });
  after(async () => {
    probe?.disconnect();
    await Promise.all([A?.kill(), B?.kill()]);
    await redis?.stop();
  });

  /** Starts a poll on `port` and resolves once its first (empty) read has run and it waits subscribed. */
  async function waitingPoll(c: ReturnType<typeof relayClient>, path: string, channel: string) {
    const before = await scripts(probe);
    const reply = c.get(path, { timeoutMs: 20_000 });
    await waitUntil(async () => (await scripts(probe)) > before && Number((await probe.pubsub('NUMSUB', channel))[1]) >= 1, 'the poll read and subscribed');
    // The read that follows a fresh subscription: wait until no script ran for 300 ms.
    for (let n = await scripts(probe), m = -1; n !== m; ) {
      await sleep(300);
      m = n;
      n = await scripts(probe);
    }
    return { reply }; // wrapped: an async function returning the promise would wait for it
  }

  test('a produce on the polling server wakes the poll in the same script: one script run per wake-up', async () => {
    const a = relayClient(A.port);
    const t = `same-${process.pid}`;
    const ch = `t:${t}:n`;
    // A first wake-up, not counted: the subscription it makes lingers, so later polls read once and wait.
    const warm = (await waitingPoll(a, `/t/${t}/poll?timeout=10`, ch)).reply;
    assert.equal((await a.post(`/t/${t}`, 'warm')).status, 201);
    assert.equal((await warm).text, 'warm');
    for (let i = 0; i < 5; i++) {
      const w = (await waitingPoll(a, `/t/${t}/poll?timeout=10`, ch)).reply;
      const c0 = await scripts(probe);
      const p = await a.post(`/t/${t}`, `m${i}`, { headers: { 'Content-Type': 'text/x' } });
      assert.equal(p.status, 201);
      const got = await w;
      assert.equal(got.status, 200);
      assert.equal(got.text, `m${i}`);
      assert.equal(got.headers['content-type'], 'text/x');
      assert.equal(got.headers['x-message-id'], p.headers['x-message-id']);
      await sleep(100); // anything the wake-up would still send
      assert.equal((await scripts(probe)) - c0, 1, `wake-up ${i}: the produce only, no consume after it`);
      // Consumed: nothing is left in the stream.
      assert.equal(await probe.xlen(`t:${t}:s`), 0);
    }
  });

  test('waking a poll on an empty tunnel skips the group read and leaves what a consume leaves', async () => {
    const a = relayClient(A.port);
    const t = `fast-${process.pid}`;
    const ch = `t:${t}:n`;
    const s = `t:${t}:s`;
    const reads = async (): Promise<number> => Number(/cmdstat_xreadgroup:calls=(\d+)/.exec(await probe.info('commandstats'))?.[1] ?? 0);
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) {
      const w = (await waitingPoll(a, `/t/${t}/poll?timeout=10`, ch)).reply;
      const r0 = await reads();
      const p = await a.post(`/t/${t}`, `f${i}`);
      assert.equal(p.status, 201);
      const got = await w;
      assert.equal(got.text, `f${i}`);
      assert.equal(got.headers['x-message-id'], p.headers['x-message-id']);
      ids.push(String(p.headers['x-message-id']));
      assert.equal(await reads(), r0, `wake-up ${i}: the message is handed over without an XREADGROUP`);
      // What a consume leaves: an empty stream with the idle expiry, its group, and its last id.
      assert.equal(await probe.xlen(s), 0);
      assert.ok((await probe.pttl(s)) > 0, 'the emptied stream expires when idle');
      const groups = (await probe.xinfo('GROUPS', s)) as unknown[][];
      assert.equal(groups.length, 1);
    }
    // Ids keep increasing, and a message produced with no poll waiting is read through the group as before.
    const q = await a.post(`/t/${t}`, 'queued');
    ids.push(String(q.headers['x-message-id']));
    const cmp = (x: string, y: string): number => {
      const [xm, xs] = x.split('-').map(BigInt);
      const [ym, ys] = y.split('-').map(BigInt);
      return xm !== ym ? (xm! < ym! ? -1 : 1) : xs! < ys! ? -1 : xs === ys ? 0 : 1;
    };
    for (let i = 1; i < ids.length; i++) assert.equal(cmp(ids[i - 1]!, ids[i]!), -1, `ids increase: ${ids.join(' ')}`);
    assert.equal((await probe.pttl(s)), -1, 'a queued message lifts the idle expiry');
    const got = await a.get(`/t/${t}`);
    assert.equal(got.status, 200);
    assert.equal(got.text, 'queued');
    assert.equal((await a.get(`/t/${t}`)).status, 204);
  });

  test('a ?pending poll woken by a produce keeps the message pending until acked', async () => {
    const a = relayClient(A.port);
    const t = `pend-${process.pid}`;
    const w = (await waitingPoll(a, `/t/${t}/poll?timeout=10&pending`, `t:${t}:n`)).reply;
    const p = await a.post(`/t/${t}`, 'keep me');
    const got = await w;
    assert.equal(got.text, 'keep me');
    const mid = String(p.headers['x-message-id']);
    assert.equal(got.headers['x-message-id'], mid);
    assert.equal((await a.get(`/t/${t}/${mid}`)).status, 202, 'pending, not acked');
    assert.equal((await a.get(`/t/${t}`)).status, 204, 'plain reads do not see it');
    assert.equal((await a.get(`/t/${t}?pending`)).headers['x-message-id'], mid, 'handed out again to ?pending');
    assert.equal((await a.del(`/t/${t}/${mid}`)).status, 204);
    assert.equal((await a.get(`/t/${t}/${mid}`)).status, 204);
  });

  test('polls waiting on both servers: each message goes to exactly one of them, in order', async () => {
    const a = relayClient(A.port);
    const b = relayClient(B.port);
    const t = `both-${process.pid}`;
    const ch = `t:${t}:n`;
    const polls = [(await waitingPoll(a, `/t/${t}/poll?timeout=15`, ch)).reply, (await waitingPoll(b, `/t/${t}/poll?timeout=15`, ch)).reply];
    await waitUntil(async () => Number((await probe.pubsub('NUMSUB', ch))[1]) === 2, 'both servers subscribed');
    polls.push((await waitingPoll(a, `/t/${t}/poll?timeout=15`, ch)).reply, (await waitingPoll(b, `/t/${t}/poll?timeout=15`, ch)).reply);
    const sent: string[] = [];
    for (let i = 0; i < 6; i++) {
      const via = i % 2 === 0 ? a : b;
      assert.equal((await via.post(`/t/${t}`, `x${i}`)).status, 201);
      sent.push(`x${i}`);
    }
    const got = (await Promise.all(polls)).map((r) => r.text);
    // Four polls took four distinct messages; the other two stay queued.
    assert.equal(new Set(got).size, 4, JSON.stringify(got));
    const rest: string[] = [];
    for (let r = await a.get(`/t/${t}`); r.status === 200; r = await a.get(`/t/${t}`)) rest.push(r.text);
    assert.deepEqual([...got, ...rest].sort(), sent.sort(), 'every message delivered once');
  });
});
