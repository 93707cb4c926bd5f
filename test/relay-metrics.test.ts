// SPDX-License-Identifier: LGPL-3.0-or-later
// The relay's outcome counters on /metrics (memory store, real sockets):
// every produce and consume is counted once by what was answered (201 stored,
// 507 full, anything else refused; 200 message, 204 empty), stored bytes add
// up, requests that are neither (len, OPTIONS, DELETE) are not counted, and
// the counts go on across a RELOAD of the module.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { startBundled } from './helpers/bundled.ts';
import { admin, ROOT, type Hrmr } from './helpers/hrmr.ts';
import { scrape, value } from './helpers/metrics.ts';
import { relayClient } from './helpers/relay-client.ts';

let h: Hrmr;

before(async () => {
  h = await startBundled(['relay'], { args: ['--set', 'relay.tunnel_maxlen=2', '--set', 'relay.max_body=64'] });
});
after(async () => {
  await h?.kill();
});

async function counts(): Promise<Record<string, number>> {
  const { samples } = await scrape(h.port);
  return {
    stored: value(samples, 'hrmr_relay_produce_total', { result: 'stored' }),
    full: value(samples, 'hrmr_relay_produce_total', { result: 'full' }),
    pRefused: value(samples, 'hrmr_relay_produce_total', { result: 'refused' }),
    message: value(samples, 'hrmr_relay_consume_total', { result: 'message' }),
    empty: value(samples, 'hrmr_relay_consume_total', { result: 'empty' }),
    cRefused: value(samples, 'hrmr_relay_consume_total', { result: 'refused' }),
    messages: value(samples, 'hrmr_relay_messages_stored_total'),
    bytes: value(samples, 'hrmr_relay_message_bytes_stored_total'),
  };
}

test('produce and consume outcomes are counted once each, by the answer given', async () => {
  const c = relayClient(h.port);
  const before = await counts();
  assert.equal((await c.post('/t/m?limit=2', 'abc')).status, 201);
  assert.equal((await c.post('/t/m?limit=2', 'defgh')).status, 201);
  assert.equal((await c.post('/t/m?limit=2', 'x')).status, 507);
  assert.equal((await c.post('/t/m?limit=5', 'x')).status, 400, 'limit over tunnel_maxlen');
  assert.equal((await c.post('/t/m', 'y'.repeat(100))).status, 413);
  // Not produces or consumes: not counted.
  assert.equal((await c.get('/t/m/len')).status, 204);
  assert.equal((await c.options('/t/m')).status, 204);
  assert.equal((await c.get('/t/m')).status, 200);
  assert.equal((await c.get('/t/m/poll?timeout=0')).status, 200);
  assert.equal((await c.get('/t/m')).status, 204);
  // A long poll woken by a produce: one message, one stored.
  const poll = c.get('/t/w/poll?timeout=20', { timeoutMs: 30_000 });
  for (;;) {
    const st = JSON.parse((await admin(h.port, 'STATUS')).slice(3)) as { modules: Array<{ name: string; status: { waiting: number } }> };
    if (st.modules.find((m) => m.name === 'relay')!.status.waiting > 0) break;
    await new Promise((r) => setTimeout(r, 20));
  }
  assert.equal((await c.post('/t/w', 'wake')).status, 201);
  assert.equal((await poll).text, 'wake');
  const d = await counts();
  const delta = Object.fromEntries(Object.entries(d).map(([k, v]) => [k, v - before[k]!]));
  assert.deepEqual(delta, { stored: 3, full: 1, pRefused: 2, message: 3, empty: 1, cRefused: 0, messages: 3, bytes: 3 + 5 + 4 });
});

test('the counts go on across a RELOAD', async () => {
  const c = relayClient(h.port);
  assert.equal((await c.post('/t/r', 'one')).status, 201);
  const before = await counts();
  h.writeModule('relay', `${readFileSync(join(ROOT, 'modules', 'relay.mjs'), 'utf8')}\n// reload 1\n`);
  assert.match(await admin(h.port, 'RELOAD'), /^OK reloaded/);
  assert.deepEqual(await counts(), before, 'nothing lost by the reload');
  assert.equal((await c.post('/t/r', 'two')).status, 201);
  assert.equal((await c.get('/t/r')).status, 200);
  const d = await counts();
  assert.equal(d.stored - before.stored, 1);
  assert.equal(d.message - before.message, 1);
  assert.equal(d.bytes - before.bytes, 3);
});
