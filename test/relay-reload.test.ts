// SPDX-License-Identifier: LGPL-3.0-or-later
// The relay across RELOAD (memory store: queued messages, replies and a
// waiting long poll survive; Redis store: the kept clients are reused, no
// connection leak per reload), the memory cap over HTTP, STATUS fields.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { Redis } from 'ioredis';
import { startBundled } from './helpers/bundled.ts';
import { admin, ROOT, type Hrmr } from './helpers/hrmr.ts';
import { startRedis } from './helpers/redis.ts';
import { relayClient } from './helpers/relay-client.ts';

const RELOAD_OK = /^OK reloaded (\d+) modules in \d+ ms$/;
const SOURCE = (): string => readFileSync(join(ROOT, 'modules', 'relay.mjs'), 'utf8');

interface RelayStatus {
  store: string;
  tunnels?: number;
  messages?: number;
  pending?: number;
  bytes?: number;
  waiting: number;
  [k: string]: unknown;
}

async function relayStatus(h: Hrmr): Promise<{ version: number; status: RelayStatus }> {
  const st = JSON.parse((await admin(h.port, 'STATUS')).slice(3)) as { modules: Array<{ name: string; version: number; status: RelayStatus }> };
  const m = st.modules.find((x) => x.name === 'relay')!;
  return { version: m.version, status: m.status };
}

/** Writes a changed copy of the module (a new hash) and reloads. */
async function reload(h: Hrmr, n: number): Promise<void> {
  h.writeModule('relay', `${SOURCE()}\n// reload ${n}\n`);
  assert.match(await admin(h.port, 'RELOAD'), RELOAD_OK);
}

test('memory store across RELOAD: queued messages, pending state, replies and a waiting long poll survive', async (t) => {
  const h = await startBundled(['relay']);
  t.after(() => h.kill());
  const c = relayClient(h.port);
  for (const m of ['one', 'two', 'three']) assert.equal((await c.post('/t/keep', m)).status, 201);
  const pid = String((await c.post('/t/ask', 'question')).headers['x-message-id']);
  assert.equal((await c.get('/t/ask?pending')).headers['x-message-id'], pid);
  const rid = String((await c.post('/t/ask', 'q2')).headers['x-message-id']);
  assert.equal((await c.get('/t/ask?pending')).headers['x-message-id'], pid, 'still the oldest pending');
  // A poll waiting across the reload, and a reply poll.
  const waiting = c.get('/t/across/poll?timeout=20', { timeoutMs: 30_000 });
  const replyWaiting = c.get(`/t/ask/${pid}/reply/poll?timeout=20`, { timeoutMs: 30_000 });
  await new Promise((r) => setTimeout(r, 150));
  const before = await relayStatus(h);
  assert.equal(before.version, 1);
  assert.equal(before.status.waiting, 2);
  await reload(h, 1);
  const afterReload = await relayStatus(h);
  assert.equal(afterReload.version, 2);
  assert.equal(afterReload.status.store, 'memory');
  assert.equal(afterReload.status.messages, 5);
  assert.equal(afterReload.status.pending, 1);
  assert.equal(afterReload.status.waiting, 2);
  // Produced on version 2, delivered to the poll that started on version 1.
  const p = await c.post('/t/across', 'after reload');
  assert.equal(p.status, 201);
  const got = await waiting;
  assert.equal(got.status, 200);
  assert.equal(got.text, 'after reload');
  assert.equal(got.headers['x-message-id'], p.headers['x-message-id']);
  assert.deepEqual([(await c.get('/t/keep')).text, (await c.get('/t/keep')).text, (await c.get('/t/keep')).text], ['one', 'two', 'three']);
  assert.equal((await c.get(`/t/ask/${pid}`)).status, 202);
  assert.equal((await c.get(`/t/ask/${rid}`)).status, 201);
  assert.equal((await c.post(`/t/ask/${pid}/reply`, 'answer')).status, 201);
  assert.equal((await replyWaiting).text, 'answer');
  // Ids keep increasing across the reload.
  const later = String((await c.post('/t/keep', 'x')).headers['x-message-id']);
  const [a, b] = [pid, later].map((s) => s.split('-').map(Number) as [number, number]);
  assert.ok(b[0] > a[0] || (b[0] === a[0] && b[1] > a[1]));
  await reload(h, 2);
  assert.equal((await c.get('/t/keep')).text, 'x');
  assert.equal((await c.get(`/t/ask?pending`)).headers['x-message-id'], rid);
  const end = await relayStatus(h);
  assert.equal(end.status.waiting, 0);
  assert.equal(end.status.tunnels, 1);
});

test('memory store: max_bytes caps a flood of distinct tunnel ids with 507; reads create nothing; room comes back', async (t) => {
  const h = await startBundled(['relay'], { args: ['--set', 'relay.max_bytes=64k'] });
  t.after(() => h.kill());
  const c = relayClient(h.port);
  const http = await import('node:http');
  const agent = new http.Agent({ keepAlive: true, maxSockets: 8 });
  t.after(() => agent.destroy());
  let created = 0;
  let refused = 0;
  for (let i = 0; i < 2000; i += 50) {
    const batch = await Promise.all(Array.from({ length: 50 }, (_, k) => c.post(`/t/flood-${i + k}`, 'x', { agent })));
    for (const r of batch) {
      if (r.status === 201) created++;
      else {
        assert.equal(r.status, 507);
        assert.equal(r.text, 'Queue limit reached, consumers are not keeping up');
        assert.equal(r.headers['x-queue-size'], '0');
        refused++;
      }
    }
  }
  await Promise.all(Array.from({ length: 500 }, (_, i) => c.get(`/t/nothing-${i}`, { agent })));
  const st = (await relayStatus(h)).status;
  assert.ok(created > 50 && refused > 1000, `created ${created}, refused ${refused}`);
  assert.equal(st.tunnels, created, 'reads created no tunnels');
  assert.ok((st.bytes as number) <= 64 * 1024, `bytes ${st.bytes}`);
  assert.equal((await c.get('/t/flood-0')).text, 'x');
  assert.equal((await c.post('/t/fresh', 'y')).status, 201);
});

test('memory store refuses to load under --workers N (each process would hold its own queues)', async () => {
  const h = await startBundled(['relay'], { args: ['--workers', '2', '--log-level', 'info'] });
  try {
    const line = await h.waitForLog((l) => l.msg === 'some modules failed to load; the rest are serving');
    assert.match(JSON.stringify(line.failed), /relay: the memory store cannot be shared by 2 server processes; give a Redis URL/);
  } finally {
    // SIGTERM first: the supervisor stops its worker processes.
    h.proc.kill('SIGTERM');
    await h.exited;
    await h.kill();
  }
});

test('Redis store across RELOAD: the kept clients are reused (no connection per reload), polls keep waiting', async (t) => {
  const redis = await startRedis();
  t.after(() => redis.stop());
  const h = await startBundled(['relay'], { args: ['--redis', redis.url] });
  t.after(() => h.kill());
  const probe = new Redis(redis.url);
  t.after(() => probe.disconnect());
  const count = async (): Promise<number> => String(await probe.client('LIST')).split('\n').filter((l) => / name=hrmr-relay/.test(l)).length;
  const c = relayClient(h.port);
  assert.equal((await c.post('/t/rk', 'before')).status, 201);
  const waiting = c.get('/t/rk-wait/poll?timeout=20', { timeoutMs: 30_000 });
  await new Promise((r) => setTimeout(r, 150));
  assert.equal(await count(), 2);
  for (let i = 1; i <= 4; i++) await reload(h, i);
  assert.equal((await relayStatus(h)).version, 5);
  assert.equal(await count(), 2, 'still two connections after 4 reloads');
  assert.equal((await c.get('/t/rk')).text, 'before');
  assert.equal((await c.post('/t/rk-wait', 'woken after reloads')).status, 201);
  assert.equal((await waiting).text, 'woken after reloads');
  const st = (await relayStatus(h)).status;
  assert.equal(st.store, 'redis');
  assert.equal(st.connected, true);
  assert.equal(st.waiting, 0);
});
