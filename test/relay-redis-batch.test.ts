// SPDX-License-Identifier: LGPL-3.0-or-later
// The Redis store's batched script calls, on a real redis-server: many
// produces at once (so one event-loop turn sends many scripts in one write)
// each get their own answer, and every body and content type comes back
// byte for byte, whether it travelled as a string (ASCII) or as bytes
// (binary, latin1 content type).
import assert from 'node:assert/strict';
import http from 'node:http';
import { after, before, test } from 'node:test';
import { startBundled } from './helpers/bundled.ts';
import type { Hrmr } from './helpers/hrmr.ts';
import { startRedis, type RedisServer } from './helpers/redis.ts';
import { relayClient } from './helpers/relay-client.ts';

let redis: RedisServer;
let h: Hrmr;

before(async () => {
  redis = await startRedis();
  h = await startBundled(['relay'], { args: ['--redis', redis.url] });
});
after(async () => {
  await h?.kill();
  await redis?.stop();
});

function body(i: number): Buffer {
  // Every third one binary (bytes over 0x7f, a NUL, CR LF), the others ASCII text of varying length.
  if (i % 3 === 0) return Buffer.from([0xff, 0x00, i & 0xff, 0x0d, 0x0a, 0x80, 0xfe]);
  return Buffer.from(`message ${i} ${'x'.repeat(i % 50)}\r\n{"i":${i}}`);
}
const TYPES = ['text/plain', 'application/json', 'application/x-caf\u00e9', ''];

test('200 produces at once: each answered with its own id; bodies and types round-trip exactly', async () => {
  const c = relayClient(h.port);
  const agent = new http.Agent({ keepAlive: true, maxSockets: 50 });
  try {
    const n = 200;
    const ids = await Promise.all(
      Array.from({ length: n }, async (_, i) => {
        const ct = TYPES[i % TYPES.length]!;
        const headers: Record<string, string> = ct === '' ? {} : { 'Content-Type': ct };
        const r = await c.post('/t/batch', body(i), { headers, agent, timeoutMs: 30_000 });
        assert.equal(r.status, 201, `produce ${i}: ${r.text}`);
        return { i, id: String(r.headers['x-message-id']) };
      }),
    );
    assert.equal(new Set(ids.map((x) => x.id)).size, n, 'distinct ids');
    const byId = new Map(ids.map((x) => [x.id, x.i]));
    const seen = new Set<number>();
    for (let k = 0; k < n; k++) {
      const r = await c.get('/t/batch', { agent });
      assert.equal(r.status, 200, `consume ${k}`);
      const i = byId.get(String(r.headers['x-message-id']));
      assert.ok(i !== undefined, `consumed id ${String(r.headers['x-message-id'])} was answered to a produce`);
      assert.ok(!seen.has(i), `message ${i} delivered once`);
      seen.add(i);
      assert.deepEqual(r.body, body(i), `body of message ${i}`);
      const ct = TYPES[i % TYPES.length]!;
      // A message sent without a type is answered with the default type.
      assert.equal(Buffer.from(String(r.headers['content-type']), 'latin1').toString('latin1'), ct === '' ? 'text/plain' : ct, `type of message ${i}`);
    }
    assert.equal((await c.get('/t/batch', { agent })).status, 204, 'nothing left');
  } finally {
    agent.destroy();
  }
});
