// SPDX-License-Identifier: LGPL-3.0-or-later
// Issue 16, point 6: pool work for clients that have gone is dropped. A queued
// task whose connection closed never runs; a connection whose client has gone
// (a reset, or a FIN and then a failed write) is closed, which drops the rest.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { admin, connect, LineClient, startHrmr, waitUntil, type Hrmr } from './helpers/hrmr.ts';

// 100 ms of CPU per task on the pool: 2 threads run 20 tasks a second at most.
const SLOW = `export default { routes: [
  { prefix: 'SLOW', pool: true, message(m) { const end = Date.now() + 100; while (Date.now() < end); return 'done ' + m.toString().trim() + '\\n'; } },
  { prefix: 'PING', message: () => 'PONG\\n' },
] };`;

interface PoolStatus {
  queued: number;
  running: number;
  completed: number;
  dropped: number;
  timeouts: number;
}

async function status(h: Hrmr): Promise<{ connections: number; pool: PoolStatus }> {
  const st = await admin(h.port, 'STATUS');
  assert.match(st, /^OK \{/);
  return JSON.parse(st.slice(3)) as { connections: number; pool: PoolStatus };
}

/** Opens `n` connections that each queue `lines` SLOW tasks; resolves once all are sent and the pool has them. */
async function flood(h: Hrmr, n: number, lines: number): Promise<net.Socket[]> {
  const socks = await Promise.all(Array.from({ length: n }, () => connect(h.port)));
  for (const [i, s] of socks.entries()) {
    s.on('error', () => undefined);
    s.on('data', () => undefined);
    s.write(Array.from({ length: lines }, (_, k) => `SLOW ${i}.${k}\n`).join(''));
  }
  await waitUntil(async () => (await status(h)).pool.queued >= n * lines - 20, 'the tasks queued', 10_000);
  return socks;
}

test('queued pool tasks of connections reset by their clients are dropped at once', async (t) => {
  const h = await startHrmr({ modules: { slow: SLOW }, args: ['--threads', '2'] });
  t.after(() => h.kill());
  const before = await status(h);
  const base = before.connections;
  const socks = await flood(h, 20, 20); // 400 tasks: 20 s of work
  for (const s of socks) s.resetAndDestroy();
  // Dropped as the resets arrive, not run for nobody (the running ones finish).
  await waitUntil(async () => (await status(h)).pool.queued === 0, 'STATUS pool.queued back to 0', 2000);
  // Every task is accounted for, ran or dropped. A batch already in a worker settles its skipped members when the
  // worker hands the batch back, which can be a moment after `running` reads 0: wait for the count, not just for 0.
  let last: { connections: number; pool: PoolStatus } | null = null;
  const st = await waitUntil(async () => {
    const s = (last = await status(h));
    return s.pool.running === 0 && s.connections === base && s.pool.dropped + s.pool.completed - before.pool.completed === 400 ? s : null;
  }, 'running tasks finished, connections closed, and 400 tasks ran or dropped', 10_000).catch((err: Error) => {
    throw new Error(`${err.message}; last STATUS pool: ${JSON.stringify(last?.pool)}, completed before: ${before.pool.completed}`);
  });
  const ran = st.pool.completed - before.pool.completed;
  assert.equal(st.pool.dropped + ran, 400);
  assert.ok(ran <= 40, `${ran} tasks ran for clients that had gone`);
  // The pool serves new clients at once.
  const c = await LineClient.open(h.port);
  assert.equal(await c.request('SLOW x'), 'done SLOW x');
  c.close();
});

test('clients that give up waiting and close (FIN) have their queued tasks dropped', async (t) => {
  const h = await startHrmr({ modules: { slow: SLOW }, args: ['--threads', '2'] });
  t.after(() => h.kill());
  const before = await status(h);
  const base = before.connections;
  const socks = await flood(h, 10, 20); // 200 tasks: 10 s of work
  // The clients wait a while for replies (none come: the pool is busy), then close: a FIN, no reset.
  await new Promise((r) => setTimeout(r, 500));
  for (const s of socks) s.destroy();
  await waitUntil(async () => (await status(h)).pool.queued === 0, 'STATUS pool.queued back to 0', 2000);
  // As above: wait until every task is accounted for (a batch in a worker settles its skipped members late).
  let last: { connections: number; pool: PoolStatus } | null = null;
  const st = await waitUntil(async () => {
    const s = (last = await status(h));
    return s.pool.running === 0 && s.connections === base && s.pool.dropped + s.pool.completed - before.pool.completed === 200 ? s : null;
  }, 'every gone connection closed, and 200 tasks ran or dropped', 10_000).catch((err: Error) => {
    throw new Error(`${err.message}; last STATUS pool: ${JSON.stringify(last?.pool)}, completed before: ${before.pool.completed}`);
  });
  const ran = st.pool.completed - before.pool.completed;
  assert.equal(st.pool.dropped + ran, 200);
  // After a FIN a connection's tasks run one at a time, each after a zero-byte write found the client
  // there; a closed client answers the reply before with a reset, so that write fails and the rest are
  // dropped. Without the fix all 200 tasks run.
  assert.ok(ran <= 30, `${ran} tasks ran for 10 clients that had gone`);
  assert.ok((st.pool as PoolStatus & { abandoned: number }).abandoned >= 9);
});

test('a client that half-closes still gets every reply (the queue is not dropped on FIN alone)', async (t) => {
  const h = await startHrmr({ modules: { slow: SLOW }, args: ['--threads', '2'] });
  t.after(() => h.kill());
  const s = await connect(h.port);
  let got = '';
  s.setEncoding('utf8');
  s.on('data', (d: string) => (got += d));
  s.end(Array.from({ length: 6 }, (_, k) => `SLOW ${k}\n`).join(''));
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no close within 15 s; got ${JSON.stringify(got)}`)), 15_000);
    s.on('close', () => {
      clearTimeout(timer);
      resolve();
    });
  });
  assert.equal(got, Array.from({ length: 6 }, (_, k) => `done SLOW ${k}\n`).join(''));
});

test('a client that sends and half-closes at once (nc -N) on a backed-up pool still gets its reply', async (t) => {
  const h = await startHrmr({ modules: { slow: SLOW }, args: ['--threads', '2'] });
  t.after(() => h.kill());
  // Two other connections queue 2 s of work: the pool is backed up by more than a round.
  const busy = await Promise.all([connect(h.port), connect(h.port)]);
  for (const [i, s] of busy.entries()) {
    s.on('error', () => undefined);
    s.on('data', () => undefined);
    s.write(Array.from({ length: 10 }, (_, k) => `SLOW b${i}.${k}\n`).join(''));
  }
  await waitUntil(async () => (await status(h)).pool.queued >= 10, 'the pool backed up', 5000);
  const s = await connect(h.port);
  let got = '';
  s.setEncoding('utf8');
  s.on('data', (d: string) => (got += d));
  s.end('SLOW nc\n');
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no close within 15 s; got ${JSON.stringify(got)}`)), 15_000);
    s.on('close', () => {
      clearTimeout(timer);
      resolve();
    });
  });
  assert.equal(got, 'done SLOW nc\n');
  for (const b of busy) b.destroy();
});
