// SPDX-License-Identifier: LGPL-3.0-or-later
/**
 * A connection belongs to one module, and each of its messages goes to that
 * module's longest-matching message route (main thread or pool); a message
 * that matches none gets `ERR no route`; replies stay in order.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { LineClient, startHrmr } from './helpers/hrmr.ts';

const KV = `import { threadId } from 'node:worker_threads';
const store = new Map();
export default { routes: [
  { prefix: 'KV ', message(m) { const [, op, k, v] = m.toString().split(' '); if (op === 'SET') { store.set(k, v); return 'OK\\n'; } if (op === 'GET') return (store.get(k) ?? 'nil') + '\\n'; return 'ERR usage\\n'; } },
  { prefix: 'KV SLOWSUM ', pool: true, async message(m) { const n = Number(m.toString().slice(11)); await new Promise((r) => setTimeout(r, 50)); return 'SUM ' + (n * (n + 1)) / 2 + ' on ' + (threadId === 0 ? 'main' : 'pool') + '\\n'; } },
  { prefix: 'ZZ', message: () => 'zz\\n' },
] };
`;

test("each message of a connection goes to the module's longest-matching route; unmatched lines get ERR no route", async (t) => {
  const h = await startHrmr({ modules: { kv: KV, other: `export default { routes: [{ prefix: 'OTHER', message: () => 'other\\\\n' }] };` } });
  t.after(() => h.kill());
  const a = await LineClient.open(h.port);
  t.after(() => a.close());
  assert.equal(await a.request('KV SET a 1'), 'OK');
  assert.equal(await a.request('KV SLOWSUM 10'), 'SUM 55 on pool');
  assert.equal(await a.request('KV GET a'), '1');
  assert.equal(await a.request('ZZ'), 'zz');
  // Another module's prefix is not this connection's: it belongs to kv.
  assert.equal(await a.request('OTHER'), 'ERR no route');
  assert.equal(await a.request('KV GET a'), '1', 'the connection stays usable');

  const b = await LineClient.open(h.port);
  t.after(() => b.close());
  assert.equal(await b.request('KV SLOWSUM 3'), 'SUM 6 on pool');
  assert.equal(await b.request('KV GET a'), '1');
});

test('replies stay in order when pool and main-thread routes are mixed on one connection', async (t) => {
  const h = await startHrmr({ modules: { kv: KV } });
  t.after(() => h.kill());
  const c = await LineClient.open(h.port);
  t.after(() => c.close());
  c.socket.write('KV SLOWSUM 1\nKV SET x 9\nKV SLOWSUM 2\nKV GET x\nNOPE\nKV GET x\n');
  const got: Array<string | null> = [];
  for (let i = 0; i < 6; i++) got.push(await c.read());
  assert.deepEqual(got, ['SUM 1 on pool', 'OK', 'SUM 3 on pool', '9', 'ERR no route', '9']);
});
