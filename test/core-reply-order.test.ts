// SPDX-License-Identifier: LGPL-3.0-or-later
// Reply order on one connection when handlers answer some messages
// synchronously and others asynchronously, on the main thread and on the
// pool: every reply goes out in message order, whichever finishes first
// (README: "in message order even when handlers finish out of order").
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { exchange, LineClient, startHrmr, type Hrmr } from './helpers/hrmr.ts';

/** `<P> S id` sync reply; `<P> A id ms` async reply after ms; `<P> Z` null (nothing); `<P> B` bytes. */
const HANDLER = `(tag) => (m) => {
  const [, kind, id, ms] = m.toString().split(' ');
  if (kind === 'S') return tag + 'sync ' + id + '\\n';
  if (kind === 'A') return new Promise((r) => setTimeout(() => r(tag + 'async ' + id + '\\n'), Number(ms)));
  if (kind === 'Z') return null;
  if (kind === 'B') return new Uint8Array([98, 10]);
  return 'bad ' + kind + '\\n';
}`;
const MOD = `
const handler = ${HANDLER};
export default { name: 'order', routes: [
  { prefix: 'M ', message: handler('') },
  { prefix: 'P ', pool: true, message: handler('pool ') },
] };`;

let h: Hrmr;
before(async () => {
  h = await startHrmr({ modules: { order: MOD }, args: ['--threads', '2'] });
});
after(() => h?.kill());

test('a synchronous reply waits for the asynchronous replies before it (one segment)', async () => {
  assert.equal(await exchange(h.port, 'M A 1 150\nM S 2\nM A 3 0\nM S 4\nM B\nM Z\nM S 5\n', { end: true }), 'async 1\nsync 2\nasync 3\nsync 4\nb\nsync 5\n');
});

test('a synchronous reply waits for a pending asynchronous one sent in an earlier segment', async () => {
  const c = await LineClient.open(h.port);
  try {
    c.send('M A 1 300');
    // The sync line arrives while the async handler is still pending.
    await new Promise((r) => setTimeout(r, 30));
    c.send('M S 2');
    c.send('M A 3 1');
    c.send('M S 4');
    assert.equal(await c.read(), 'async 1');
    assert.equal(await c.read(), 'sync 2');
    assert.equal(await c.read(), 'async 3');
    assert.equal(await c.read(), 'sync 4');
    // Once nothing is pending, a sync reply goes straight out.
    assert.equal(await c.request('M S 5'), 'sync 5');
  } finally {
    c.close();
  }
});

test('a pool handler mixing sync and async replies keeps message order', async () => {
  assert.equal(await exchange(h.port, 'P A 1 200\nP S 2\nP A 3 50\nP Z\nP S 4\nP A 5 0\n', { end: true }), 'pool async 1\npool sync 2\npool async 3\npool sync 4\npool async 5\n');
});

test('main-thread and pool routes of one module mixed on one connection keep message order', async () => {
  assert.equal(await exchange(h.port, 'P A 1 150\nM S 2\nM A 3 30\nP S 4\nM Z\nP A 5 0\nM S 6\n', { end: true }), 'pool async 1\nsync 2\nasync 3\npool sync 4\npool async 5\nsync 6\n');
});

test('property: any mix of main-thread and pool, sync, async (random delays), null and byte replies answers in message order', async () => {
  await fc.assert(
    fc.asyncProperty(
      fc.array(fc.record({ route: fc.constantFrom('M', 'P'), kind: fc.constantFrom('S', 'A', 'Z', 'B'), ms: fc.integer({ min: 0, max: 40 }) }), { minLength: 1, maxLength: 14 }),
      async (msgs) => {
        const lines = msgs.map((m, i) => `${m.route} ${m.kind} ${i} ${m.ms}`);
        const want = msgs.map((m, i) => ({ S: `sync ${i}\n`, A: `async ${i}\n`, Z: '', B: 'b\n' })[m.kind].replace(/^(?=.)/, m.route === 'P' && m.kind !== 'B' ? 'pool ' : '')).join('');
        assert.equal(await exchange(h.port, lines.join('\n') + '\n', { end: true, timeoutMs: 10_000 }), want);
      },
    ),
    { numRuns: 30 },
  );
});
