// SPDX-License-Identifier: LGPL-3.0-or-later
// The worker pool: `pool: true` message routes run off the main thread, in
// order, hot-reloaded per connection, with timeouts, back-pressure and drain.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { admin, LineClient, startHrmr, tempDir, waitUntil } from './helpers/hrmr.ts';

async function poolStatus(port: number): Promise<{ running: number; queued: number; generations: number }> {
  const r = await admin(port, 'STATUS');
  assert.match(r, /^OK \{/);
  return (JSON.parse(r.slice(3)) as { pool: { running: number; queued: number; generations: number } }).pool;
}

/** A pool module; `tag` shows which version answered; `markers` is a folder for setup/dispose marker files. */
function poolModule(tag: string, markers: string): string {
  return `
import { threadId } from 'node:worker_threads';
import { writeFileSync } from 'node:fs';
const burn = (ms) => { const end = Date.now() + ms; while (Date.now() < end); };
export default {
  routes: [
    { prefix: 'TID', pool: true, message: (m, ctx) => 'TID ' + threadId + ' ' + ctx.threadId + ' ${tag}\\n' },
    { prefix: 'SLEEP ', pool: true, message: async (m) => { const ms = Number(m.toString().slice(6)); await new Promise((r) => setTimeout(r, ms)); return 'SLEPT ' + ms + '\\n'; } },
    { prefix: 'BURN ', pool: true, message: (m) => { burn(Number(m.toString().slice(5))); return 'BURNT\\n'; } },
    { prefix: 'THROW', pool: true, message: () => { throw new Error('boom in worker'); } },
    { prefix: 'VER', pool: true, message: (m, ctx) => 'VER ${tag} v' + ctx.version + '\\n' },
    { prefix: 'PING', message: () => 'PONG ' + threadId + '\\n' },
  ],
  setup(ctx) { writeFileSync(${JSON.stringify(markers)} + '/setup-${tag}-' + ctx.thread + '-' + ctx.threadId, ''); },
  dispose() { writeFileSync(${JSON.stringify(markers)} + '/dispose-${tag}-' + threadId, ''); },
};
`;
}

async function withServer(args: string[], fn: (h: Awaited<ReturnType<typeof startHrmr>>, markers: string) => Promise<void>): Promise<void> {
  const markers = tempDir('hrmr-markers-');
  const h = await startHrmr({ modules: { work: poolModule('one', markers) }, args: ['--threads', '2', ...args] });
  try {
    await fn(h, markers);
  } finally {
    await h.kill();
  }
}

test('pool routes run on a worker thread, main routes on the main thread', async () => {
  await withServer([], async (h) => {
    const c = await LineClient.open(h.port);
    const tid = (await c.request('TID'))!.split(' ');
    assert.equal(tid[0], 'TID');
    assert.notEqual(Number(tid[1]), 0, 'worker threadId must differ from the main thread (0)');
    assert.equal(tid[1], tid[2], 'ctx.threadId is the worker thread id');
    c.close();
    const m = await LineClient.open(h.port);
    assert.equal(await m.request('PING'), 'PONG 0');
    m.close();
  });
});

test('replies keep message order when pool tasks finish out of order', async () => {
  await withServer(['--threads', '3'], async (h) => {
    const c = await LineClient.open(h.port);
    c.socket.write('SLEEP 300\nSLEEP 10\nSLEEP 150\nSLEEP 1\n');
    assert.equal(await c.read(), 'SLEPT 300');
    assert.equal(await c.read(), 'SLEPT 10');
    assert.equal(await c.read(), 'SLEPT 150');
    assert.equal(await c.read(), 'SLEPT 1');
    c.close();
  });
});

test('after RELOAD new connections run new code, old connections keep the old code; setup and dispose run in workers', async () => {
  await withServer(['--drain-timeout', '10000'], async (h, markers) => {
    const old = await LineClient.open(h.port);
    assert.equal(await old.request('VER'), 'VER one v1');
    h.writeModule('work', poolModule('two', markers));
    assert.match(await admin(h.port, 'RELOAD'), /^OK reloaded 1 modules in \d+ ms$/);
    const fresh = await LineClient.open(h.port);
    assert.equal(await fresh.request('VER'), 'VER two v2');
    assert.equal(await old.request('VER'), 'VER one v1', 'old connection keeps the old version');
    const setups = readdirSync(markers).filter((f) => f.startsWith('setup-one-worker-'));
    assert.ok(setups.length >= 1, `setup ran in a worker: ${readdirSync(markers).join(',')}`);
    old.close();
    // The old generation's workers dispose version one once its last connection is gone.
    await waitUntil(() => readdirSync(markers).some((f) => f.startsWith('dispose-one-') && !f.endsWith('-0')), `dispose in a worker (markers: ${readdirSync(markers).join(',')})`, 10_000);
    assert.ok(existsSync(join(markers, 'dispose-one-0')), 'dispose ran on the main thread');
    assert.equal(await fresh.request('VER'), 'VER two v2');
    fresh.close();
  });
});

test('a task that throws closes only its connection with ERR; the pool stays healthy', async () => {
  await withServer([], async (h) => {
    const c = await LineClient.open(h.port);
    assert.equal(await c.request('THROW'), 'ERR boom in worker');
    assert.equal(await c.read(), null, 'connection closed after the error');
    const d = await LineClient.open(h.port);
    assert.match((await d.request('TID'))!, /^TID \d+ \d+ one$/);
    d.close();
  });
});

test('a task past --task-timeout gets ERR timeout and the stuck worker is replaced', async () => {
  // The timeout leaves room for a loaded machine: the replacement worker starts and imports the module within
  // the next task's own timeout (300 ms once made that TID time out too: 2 timeouts, not 1).
  await withServer(['--task-timeout', '2500', '--threads', '1'], async (h) => {
    const c = await LineClient.open(h.port);
    const before = (await c.request('TID'))!.split(' ')[1];
    const stuck = await LineClient.open(h.port);
    assert.equal(await stuck.request('BURN 15000', 30_000), 'ERR timeout');
    assert.equal(await stuck.read(), null);
    // The stuck worker is gone and its replacement is up before the next task's timeout starts.
    await waitUntil(async () => ((await poolStatus(h.port)) as unknown as { liveThreads: number }).liveThreads === 1, 'the replacement worker', 15_000);
    const d = await LineClient.open(h.port);
    const after = (await d.request('TID'))!.split(' ')[1];
    assert.notEqual(after, before, 'a new worker replaced the stuck one');
    const status = JSON.parse((await admin(h.port, 'STATUS')).slice(3)) as { pool: { timeouts: number } };
    assert.equal(status.pool.timeouts, 1);
    c.close();
    d.close();
  });
});

test('a full queue answers ERR busy instead of growing without bound', async () => {
  await withServer(['--threads', '1', '--max-queue', '2'], async (h) => {
    const clients = await Promise.all(Array.from({ length: 8 }, () => LineClient.open(h.port)));
    for (const c of clients) c.send('SLEEP 400');
    const replies = await Promise.all(clients.map((c) => c.read(5000)));
    assert.ok(replies.includes('ERR busy'), `some got busy: ${replies.join(',')}`);
    assert.ok(replies.includes('SLEPT 400'), `some were served: ${replies.join(',')}`);
    assert.ok(replies.every((r) => r === 'ERR busy' || r === 'SLEPT 400'), replies.join(','));
    for (const c of clients) c.close();
  });
});

test('the main event loop stays responsive while pool tasks burn CPU', async () => {
  await withServer(['--threads', '2'], async (h) => {
    const burners = await Promise.all([LineClient.open(h.port), LineClient.open(h.port)]);
    const order: string[] = [];
    const burnt = burners.map(async (b) => {
      assert.equal(await b.request('BURN 500'), 'BURNT');
      order.push('burn');
    });
    // Both tasks are running on the workers before the ping is sent.
    await waitUntil(async () => (await poolStatus(h.port)).running === 2, 'both burns to be running', 5000);
    const p = await LineClient.open(h.port);
    assert.equal(await p.request('PING'), 'PONG 0');
    order.push('ping');
    await Promise.all(burnt);
    assert.deepEqual(order, ['ping', 'burn', 'burn'], 'the ping is answered before the burning tasks finish');
    for (const c of [...burners, p]) c.close();
  });
});

test('SHUTDOWN waits for a running pool task, then exits 0', async () => {
  await withServer([], async (h, markers) => {
    const c = await LineClient.open(h.port);
    c.send('SLEEP 600');
    await waitUntil(async () => (await poolStatus(h.port)).running === 1, 'the task to be running', 5000);
    assert.equal(await admin(h.port, 'SHUTDOWN'), 'OK shutting down');
    assert.equal(await c.read(), 'SLEPT 600');
    assert.equal(await h.exited, 0);
    assert.ok(readdirSync(markers).some((f) => f.startsWith('dispose-one-') && !f.endsWith('-0')), 'workers disposed on shutdown');
  });
});

test('timers in worker-side module code run between tasks', async () => {
  const markers = tempDir('hrmr-ticks-');
  const h = await startHrmr({
    modules: {
      ticker: `
import { writeFileSync } from 'node:fs';
let ticks = 0;
let timer;
export default {
  routes: [{ prefix: 'TICKS', pool: true, message: () => ticks + '\\n' }],
  // Twenty ticks with no task sent at all: the worker's timers run while it waits for work.
  setup(ctx) { if (ctx.thread === 'worker') timer = setInterval(() => { if (++ticks === 20) writeFileSync(${JSON.stringify(markers)} + '/ticked-' + ctx.threadId, ''); }, 10); },
  dispose() { clearInterval(timer); },
};`,
    },
    args: ['--threads', '1'],
  });
  try {
    // No traffic to the worker while waiting: only its own timer can write the marker.
    await waitUntil(() => readdirSync(markers).some((f) => f.startsWith('ticked-')), 'the idle worker to tick 20 times', 10_000);
    const c = await LineClient.open(h.port);
    const n = Number(await c.request('TICKS'));
    assert.ok(n >= 20, `ticks ${n}`);
    c.close();
  } finally {
    await h.kill();
    rmSync(markers, { recursive: true, force: true });
  }
});
