// SPDX-License-Identifier: LGPL-3.0-or-later
// Reload modes over real sockets: a new connection arriving while a module
// is being swapped gets a 503 by default, and the old version's reply with
// --reload-mode graceful. The swap window is held open by a slow setup and
// observed through STATUS (no timing assumptions).
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { admin, exchange, LineClient, startHrmr, waitUntil, type Hrmr } from './helpers/hrmr.ts';

const version = (tag: string, setupMs: number): string => `export default {
  async setup() { await new Promise((r) => setTimeout(r, ${setupMs})); },
  routes: [{ prefix: 'PING', message: () => 'PONG ${tag}\\n' }],
};`;

let def: Hrmr;
let graceful: Hrmr;

before(async () => {
  [def, graceful] = await Promise.all([
    startHrmr({ modules: { m: version('v1', 0) } }),
    startHrmr({ modules: { m: version('v1', 0) }, args: ['--reload-mode', 'graceful'] }),
  ]);
});
after(async () => {
  await Promise.all([def?.kill(), graceful?.kill()]);
});

/** Starts a RELOAD to v2 (whose setup takes 1.5 s) and resolves once STATUS shows the module swapping. */
async function startSlowReload(h: Hrmr, tag: string): Promise<{ reply: Promise<string> }> {
  h.writeModule('m', version(tag, 1500));
  const reply = admin(h.port, 'RELOAD');
  await waitUntil(async () => {
    const r = await admin(h.port, 'STATUS');
    const st = JSON.parse(r.slice(3)) as { modules: Array<{ name: string; swapping: boolean }> };
    return st.modules.find((m) => m.name === 'm')?.swapping === true;
  }, 'the module to be swapping');
  // Wrapped: an async function returning the bare promise would wait for it.
  return { reply };
}

test('default reload mode: a new connection during the swap gets 503; an existing one keeps the old version', async () => {
  const existing = await LineClient.open(def.port);
  assert.equal(await existing.request('PING'), 'PONG v1');
  const { reply: reloaded } = await startSlowReload(def, 'v2');
  const during = await exchange(def.port, 'PING\n');
  assert.match(during, /^HTTP\/1\.1 503 /);
  assert.equal(await existing.request('PING'), 'PONG v1');
  assert.match(await reloaded, /^OK reloaded 1 modules/);
  assert.equal(await exchange(def.port, 'PING\n', { end: true }), 'PONG v2\n');
  existing.close();
});

test('--reload-mode graceful: a new connection during the swap is served by the old version, never 503', async () => {
  const { reply: reloaded } = await startSlowReload(graceful, 'v2');
  const replies = await Promise.all([1, 2, 3].map(() => exchange(graceful.port, 'PING\n', { end: true })));
  assert.deepEqual(replies, ['PONG v1\n', 'PONG v1\n', 'PONG v1\n']);
  assert.match(await reloaded, /^OK reloaded 1 modules/);
  assert.equal(await exchange(graceful.port, 'PING\n', { end: true }), 'PONG v2\n');
  const st = JSON.parse((await admin(graceful.port, 'STATUS')).slice(3)) as { rejected: { reloading: number }; reloadMode: string };
  assert.equal(st.reloadMode, 'graceful');
  assert.equal(st.rejected.reloading, 0);
});
