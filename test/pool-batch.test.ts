// SPDX-License-Identifier: LGPL-3.0-or-later
// Pool batches: tasks that queue up cross to a worker together (docs/operations.md
// "Pool batches"). Each task keeps its own reply, error, timeout and skip.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { admin, LineClient, sleep, startHrmr, tempDir, waitUntil, type Hrmr } from './helpers/hrmr.ts';

interface PoolStatus {
  queued: number;
  running: number;
  completed: number;
  dropped: number;
  timeouts: number;
  batches: number;
  batchedTasks: number;
  generation: number;
  generations: number;
}

async function pool(h: Hrmr): Promise<PoolStatus> {
  const r = await admin(h.port, 'STATUS');
  assert.match(r, /^OK \{/);
  return (JSON.parse(r.slice(3)) as { pool: PoolStatus }).pool;
}

function work(markers: string, tag = 'one'): string {
  return `
import { writeFileSync } from 'node:fs';
const burn = (ms) => { const end = Date.now() + ms; while (Date.now() < end); };
export default {
  routes: [
    { prefix: 'ECHO ', pool: true, message: (m) => '${tag} ' + m.toString().slice(5) + '\\n' },
    { prefix: 'BURN ', pool: true, message: (m) => { burn(Number(m.toString().slice(5))); return 'BURNT\\n'; } },
    { prefix: 'THROW', pool: true, message: () => { throw new Error('boom in batch'); } },
    { prefix: 'FN', pool: true, message: () => () => 1 },
    { prefix: 'MARK ', pool: true, message: (m) => { writeFileSync(${JSON.stringify(markers)} + '/' + m.toString().slice(5), ''); return 'MARKED\\n'; } },
  ],
};
`;
}

async function withServer(args: string[], fn: (h: Hrmr, markers: string) => Promise<void>): Promise<void> {
  const markers = tempDir('hrmr-batch-');
  const h = await startHrmr({ modules: { work: work(markers) }, args: ['--threads', '1', ...args] });
  try {
    await fn(h, markers);
  } finally {
    await h.kill();
  }
}

/** Occupies the only pool thread for `ms` (resolves once the task was sent and is running). */
async function occupy(h: Hrmr, ms: number): Promise<{ c: LineClient; done: Promise<string | null> }> {
  const c = await LineClient.open(h.port);
  c.send(`BURN ${ms}`);
  await waitUntil(async () => (await pool(h)).running >= 1, 'the BURN task running', 5000);
  return { c, done: c.read(ms + 10_000) };
}

test('queued tasks cross in batches: every reply right and in order on each connection', async () => {
  await withServer([], async (h) => {
    const start = await pool(h);
    const clients = await Promise.all(Array.from({ length: 8 }, () => LineClient.open(h.port)));
    // 50 pipelined messages per connection, all at once: the one thread is busy, the rest queue.
    for (const [i, c] of clients.entries()) c.socket.write(Array.from({ length: 50 }, (_, k) => `ECHO ${i}.${k}\n`).join(''));
    for (const [i, c] of clients.entries()) {
      for (let k = 0; k < 50; k++) assert.equal(await c.read(), `one ${i}.${k}`);
      c.close();
    }
    const p = await pool(h);
    assert.ok(p.batches > 0, `batches: ${p.batches}`);
    assert.ok(p.batchedTasks >= 2 * p.batches, `batchedTasks ${p.batchedTasks} over ${p.batches} batches`);
    assert.equal(p.completed - start.completed, 400);
  });
});

test('in one batch, a task that throws or returns what cannot cross fails only its own connection', async () => {
  await withServer([], async (h) => {
    const busy = await occupy(h, 300);
    const thrower = await LineClient.open(h.port);
    const fn = await LineClient.open(h.port);
    const fine = await LineClient.open(h.port);
    thrower.send('THROW');
    fn.send('FN');
    fine.send('ECHO still here');
    assert.equal(await busy.done, 'BURNT');
    assert.equal(await thrower.read(), 'ERR boom in batch');
    assert.match((await fn.read()) ?? '', /^ERR .*a pool handler must return a string, bytes or nothing/);
    assert.equal(await fine.read(), 'one still here');
    const p = await pool(h);
    assert.ok(p.batches >= 1, 'the three went as a batch');
    for (const c of [busy.c, thrower, fn, fine]) c.close();
  });
});

test('a task timing out inside a batch costs its worker; the tasks after it that had not started run on the replacement', async () => {
  // A timeout counts from when the task was given to the pool: the stuck task's
  // deadline comes at 1 s, the ECHO's (sent 850 ms later) long after it.
  await withServer(['--task-timeout', '1000'], async (h) => {
    const busy = await occupy(h, 900);
    const stuck = await LineClient.open(h.port);
    stuck.send('BURN 5000');
    await sleep(850); // queued in this order: BURN first, then the ECHO
    const after = await LineClient.open(h.port);
    after.send('ECHO after');
    assert.equal(await busy.done, 'BURNT');
    assert.equal(await stuck.read(), 'ERR timeout');
    assert.equal(await after.read(), 'one after', 'the task behind the stuck one ran');
    const p = await pool(h);
    assert.equal(p.timeouts, 1);
    assert.ok(p.batches >= 1);
    for (const c of [busy.c, stuck, after]) c.close();
  });
});

test('a batched task whose connection closes before its turn is skipped, never run', async () => {
  await withServer([], async (h, markers) => {
    const busy = await occupy(h, 300);
    const slow = await LineClient.open(h.port);
    slow.send('BURN 600');
    await sleep(30);
    const gone = await LineClient.open(h.port);
    gone.send('MARK gone');
    // Both wait; when the first BURN ends they go as one batch, BURN 600 first.
    assert.equal(await busy.done, 'BURNT');
    await waitUntil(async () => (await pool(h)).batches >= 1, 'the batch sent', 5000);
    gone.socket.resetAndDestroy();
    assert.equal(await slow.read(), 'BURNT');
    const p = await waitUntil(async () => {
      const s = await pool(h);
      return s.running === 0 && s.queued === 0 ? s : null;
    }, 'the pool idle', 5000);
    assert.ok(p.dropped >= 1, `dropped ${p.dropped}`);
    assert.equal(existsSync(join(markers, 'gone')), false, 'the skipped task never ran');
    // The pool still serves.
    const c = await LineClient.open(h.port);
    assert.equal(await c.request('MARK ok'), 'MARKED');
    assert.ok(existsSync(join(markers, 'ok')));
    for (const x of [busy.c, slow, c]) x.close();
  });
});

test('a RELOAD of a pool module in use loads into the same generation; the old version keeps serving its connection', async () => {
  const markers = tempDir('hrmr-batch-');
  const h = await startHrmr({ modules: { work: work(markers) }, args: ['--threads', '2'] });
  try {
    const old = await LineClient.open(h.port);
    assert.equal(await old.request('ECHO a'), 'one a');
    const before = await pool(h);
    h.writeModule('work', work(markers, 'two'));
    assert.match(await admin(h.port, 'RELOAD'), /^OK reloaded 1 modules/);
    const fresh = await LineClient.open(h.port);
    assert.equal(await fresh.request('ECHO b'), 'two b');
    assert.equal(await old.request('ECHO c'), 'one c', 'old connection, old version');
    const after = await pool(h);
    assert.equal(after.generation, before.generation, 'no new threads for a reload');
    assert.equal(after.generations, 1);
    old.close();
    fresh.close();
  } finally {
    await h.kill();
  }
});
