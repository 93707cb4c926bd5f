// SPDX-License-Identifier: LGPL-3.0-or-later
/**
 * shared/redis.ts (keptRedis) with a real redis-server and the real server:
 * a module subscribes through a kept client; after a RELOAD the same
 * connection carries on (one client in CLIENT LIST) and only the new
 * version's handlers run, for messages and for a reconnect after an outage.
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { Redis } from 'ioredis';
import { repoTempDir } from './helpers/bundled.ts';
import { buildModule } from './helpers/build-module.ts';
import { admin, ROOT, startHrmr, type Hrmr, type LogLine } from './helpers/hrmr.ts';
import { startRedis, type RedisServer } from './helpers/redis.ts';

const source = (tag: string): string => `
import { defineModule, keptRedis, lineRoute } from ${JSON.stringify(join(ROOT, 'shared', 'index.ts'))};
export default defineModule({
  name: 'kr',
  routes: [lineRoute('KR ', () => '${tag}')],
  setup(ctx) {
    if (ctx.thread !== 'main') return;
    const sub = keptRedis(ctx, 'sub', ctx.config.redis, {
      ready: () => {
        ctx.log.info({ tag: '${tag}' }, 'kr ready');
        void sub.subscribe('kr').catch(() => undefined);
      },
      message: (channel, text) => ctx.log.info({ tag: '${tag}', text }, 'kr message'),
    }, { connectionName: 'hrmr-kit-test' });
    if (sub.status === 'ready') void sub.subscribe('kr');
  },
});
`;

let redis: RedisServer;
let h: Hrmr;
let dir: string;
let pub: Redis;

async function build(tag: string): Promise<void> {
  const src = join(dir, 'src', 'kr.ts');
  const { mkdirSync } = await import('node:fs');
  mkdirSync(join(dir, 'src'), { recursive: true });
  writeFileSync(src, source(tag));
  await buildModule(src, join(dir, 'modules'));
}

before(async () => {
  redis = await startRedis();
  dir = repoTempDir('kit-redis-');
  await build('v1');
  h = await startHrmr({ dir: join(dir, 'modules'), args: ['--redis', redis.url] });
  pub = new Redis(redis.url, { maxRetriesPerRequest: 1, retryStrategy: (n) => Math.min(50 * n, 500) });
  pub.on('error', () => undefined);
});
after(async () => {
  pub?.disconnect();
  await h?.kill();
  await redis?.stop();
  const { rmSync } = await import('node:fs');
  if (dir) rmSync(dir, { recursive: true, force: true });
});

const tagged = (msg: string, text?: string) => (l: LogLine): boolean => l.msg === msg && (text === undefined || l.text === text);

/** Publishes until a subscriber logs it (the subscription may still be on its way). */
async function publishUntilSeen(text: string): Promise<LogLine> {
  const seen = h.waitForLog(tagged('kr message', text), 20_000);
  let done = false;
  void seen.finally(() => (done = true));
  while (!done) {
    await pub.publish('kr', text).catch(() => 0);
    await Promise.race([seen, new Promise((r) => setTimeout(r, 200))]);
  }
  return seen;
}

async function hrmrClients(): Promise<number> {
  const list = (await pub.client('LIST')) as string;
  return list.split('\n').filter((l) => l.includes('name=hrmr-kit-test')).length;
}

test('after a RELOAD only the new version handles messages, on the same connection', { timeout: 120_000 }, async () => {
  await h.waitForLog(tagged('kr ready'), 20_000);
  assert.equal((await publishUntilSeen('one')).tag, 'v1');
  assert.equal(await hrmrClients(), 1);

  await build('v2');
  assert.match(await admin(h.port, 'RELOAD'), /^OK /);
  // Kept: no new connection, and the subscription made by v1 still delivers, to v2's handler only.
  const line = await publishUntilSeen('two');
  assert.equal(line.tag, 'v2');
  // Let a duplicate (v1's handler, if it were still attached) arrive before counting.
  await pub.publish('kr', 'three');
  await h.waitForLog(tagged('kr message', 'three'), 20_000);
  await new Promise((r) => setTimeout(r, 300));
  const msgs = h.logs.filter((l) => l.msg === 'kr message' && (l.text === 'two' || l.text === 'three'));
  assert.ok(msgs.length >= 2, JSON.stringify(msgs));
  assert.deepEqual([...new Set(msgs.map((l) => l.tag))], ['v2']);
  assert.equal(msgs.filter((l) => l.text === 'three').length, 1);
  assert.equal(await hrmrClients(), 1);
});

test('a reconnect after an outage runs the new version\'s ready handler, not the old one\'s', { timeout: 120_000 }, async () => {
  const before = h.logs.length;
  await redis.stop();
  await redis.restart();
  await h.waitForLog((l) => l.msg === 'kr ready' && h.logs.indexOf(l) >= before, 30_000);
  // Subscribed again by v2's handler: messages flow.
  assert.equal((await publishUntilSeen('four')).tag, 'v2');
  const readies = h.logs.slice(before).filter((l) => l.msg === 'kr ready');
  assert.deepEqual([...new Set(readies.map((l) => l.tag))], ['v2']);
});

test('keptRedis by itself: one client per key, handlers swapped, a changed URL gets a new client', { timeout: 60_000 }, async () => {
  const { keptRedis } = await import('../shared/index.ts');
  const store = new Map<string, { value: unknown; dispose?: (v: never) => unknown }>();
  const keep = <T>(key: string, init: () => T, dispose?: (v: T) => unknown): T => {
    if (!store.has(key)) store.set(key, { value: init(), dispose: dispose as ((v: never) => unknown) | undefined });
    return store.get(key)!.value as T;
  };
  const ctx = { keep: keep as import('../shared/index.ts').Keep };
  try {
    const calls: string[] = [];
    const ready = (c: { status: string; once(e: string, f: () => void): unknown }): Promise<void> => (c.status === 'ready' ? Promise.resolve() : new Promise((r) => c.once('ready', () => r())));
    const a = keptRedis(ctx, 'k', redis.url, { ready: () => calls.push('first ready') });
    await ready(a);
    const b = keptRedis(ctx, 'k', redis.url, { close: () => calls.push('second close') });
    assert.equal(b, a);
    // Only the second call's handlers are attached, plus the no-op error handler.
    assert.equal(a.listenerCount('ready'), 0);
    assert.equal(a.listenerCount('close'), 1);
    assert.equal(a.listenerCount('error'), 1);
    const c = keptRedis(ctx, 'k', `${redis.url}/1`, { ready: () => calls.push('third ready') });
    assert.notEqual(c, a);
    assert.equal(a.listenerCount('close'), 0);
    await ready(c);
    assert.equal(a.status, 'end');
    assert.equal(await c.ping(), 'PONG');
    // Offline policy: a command on a client that is not connected fails at once.
    await assert.rejects(a.ping());
    assert.deepEqual(calls, ['first ready', 'third ready']);
  } finally {
    for (const { value, dispose } of store.values()) await dispose?.(value as never);
  }
});

test('dropRedis lets the client go and a later keptRedis connects again; the last unload removes the handlers before it disconnects', { timeout: 60_000 }, async () => {
  const { dropRedis, keptRedis } = await import('../shared/index.ts');
  const store = new Map<string, { value: unknown; dispose?: (v: never) => unknown }>();
  const keep = <T>(key: string, init: () => T, dispose?: (v: T) => unknown): T => {
    if (!store.has(key)) store.set(key, { value: init(), dispose: dispose as ((v: never) => unknown) | undefined });
    return store.get(key)!.value as T;
  };
  const ctx = { keep: keep as import('../shared/index.ts').Keep };
  const ready = (c: { status: string; once(e: string, f: () => void): unknown }): Promise<void> => (c.status === 'ready' ? Promise.resolve() : new Promise((r) => c.once('ready', () => r())));
  const ended = (c: { status: string; once(e: string, f: () => void): unknown }): Promise<void> => (c.status === 'end' ? Promise.resolve() : new Promise((r) => c.once('end', () => r())));
  const calls: string[] = [];
  const a = keptRedis(ctx, 'd', redis.url, { close: () => calls.push('a close') });
  await ready(a);
  dropRedis(ctx, 'd');
  await ended(a);
  // Its handlers went before the disconnect.
  assert.equal(calls.join(), '');
  assert.equal(a.listenerCount('close'), 0);
  const b = keptRedis(ctx, 'd', redis.url, { close: () => calls.push('b close') });
  await ready(b);
  assert.equal(await b.ping(), 'PONG');
  // The last unload: the kept values are disposed; no version's handler hears the close.
  for (const { value, dispose } of store.values()) await dispose?.(value as never);
  await ended(b);
  await new Promise((r) => setTimeout(r, 100));
  assert.equal(calls.join(), '');
  assert.equal(b.listenerCount('close'), 0);
});
