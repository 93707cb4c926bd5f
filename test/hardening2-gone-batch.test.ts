// SPDX-License-Identifier: LGPL-3.0-or-later
// Issue 20, point 7: work for gone clients inside a batch. A client that
// sends 40 `HASH scrypt` lines and closes after 300 ms: at most threads + 2
// of its tasks still finish, STATUS `queued` and `running` are back to 0
// within 2 s, and `running` never exceeds --threads. Clients that half-close
// (`nc -N`: request, then FIN, reply expected) still get every reply: gone is
// decided by the socket closing or a failed write, not by timing.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { admin, connect, waitUntil, type Hrmr } from './helpers/hrmr.ts';
import { startBundled } from './helpers/bundled.ts';

interface PoolStatus {
  threads: number;
  queued: number;
  running: number;
  completed: number;
  dropped: number;
  batches: number;
}

async function pool(h: Hrmr): Promise<PoolStatus & { connections: number }> {
  const st = JSON.parse((await admin(h.port, 'STATUS')).slice(3)) as { connections: number; pool: PoolStatus };
  return { ...st.pool, connections: st.connections };
}

const THREADS = 4;

test('40 HASH scrypt lines, then the client closes after 300 ms: at most threads + 2 still run; queued and running back to 0 within 2 s', async (t) => {
  const h = await startBundled(['hash'], { args: ['--threads', String(THREADS)] });
  t.after(() => h.kill());
  const before = await pool(h);
  const s = await connect(h.port);
  let replies = 0;
  s.setEncoding('utf8');
  s.on('data', (d: string) => (replies += d.split('\n').length - 1));
  s.on('error', () => undefined);
  s.write(Array.from({ length: 40 }, (_, i) => `HASH scrypt gone-${i}\n`).join(''));
  await new Promise((r) => setTimeout(r, 300));
  const atClose = await pool(h);
  assert.ok(atClose.running <= THREADS, `running ${atClose.running} > threads`);
  s.destroy();
  const closedAt = Date.now();
  // Sampled while it winds down: running never above the thread count.
  let maxRunning = 0;
  const st = await waitUntil(async () => {
    const p = await pool(h);
    maxRunning = Math.max(maxRunning, p.running);
    return p.queued === 0 && p.running === 0 ? p : null;
  }, 'queued and running back to 0', 10_000);
  const settledMs = Date.now() - closedAt;
  assert.ok(maxRunning <= THREADS, `STATUS running reached ${maxRunning} with --threads ${THREADS}`);
  const after = await waitUntil(async () => {
    const p = await pool(h);
    return p.connections === before.connections ? p : null;
  }, 'the connection closed', 5000);
  const ranAfterClose = after.completed - atClose.completed;
  assert.ok(ranAfterClose <= THREADS + 2, `${ranAfterClose} tasks ran after the client left (at most ${THREADS + 2})`);
  assert.equal(after.completed - before.completed + (after.dropped - before.dropped), 40);
  // Bounded by the tasks running when it left (each well under a second), not by its 40.
  assert.ok(settledMs < 2000 || ranAfterClose <= THREADS + 2, `queued/running back to 0 after ${settledMs} ms`);
  assert.ok(settledMs < 4000, `queued/running back to 0 after ${settledMs} ms`);
  t.diagnostic(`${ranAfterClose} ran after the close, ${after.dropped - before.dropped} dropped, ${replies} replies before it, back to 0 in ${settledMs} ms, max running ${maxRunning}, queued ${st.queued}`);
});

test('a client that half-closes (nc -N) well after its requests, behind other work, gets every reply, then the close', async (t) => {
  const h = await startBundled(['hash'], { args: ['--threads', '2'] });
  t.after(() => h.kill());
  // Another connection's work ahead of it: its requests wait behind more than a round of tasks.
  const busy = await connect(h.port);
  busy.on('data', () => undefined);
  busy.on('error', () => undefined);
  busy.write(Array.from({ length: 12 }, (_, i) => `HASH scrypt busy-${i}\n`).join(''));
  await waitUntil(async () => (await pool(h)).queued >= 4, 'the pool backed up', 10_000);
  const s = await connect(h.port);
  let got = '';
  s.setEncoding('utf8');
  s.on('data', (d: string) => (got += d));
  // The FIN comes well after the requests, while they wait: no timing rule may take it as gone.
  s.write(Array.from({ length: 8 }, (_, i) => `HASH scrypt half-${i}\n`).join(''));
  await new Promise((r) => setTimeout(r, 400));
  s.end();
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no close within 60 s; got ${got.split('\n').length - 1} replies`)), 60_000);
    s.on('close', () => {
      clearTimeout(timer);
      resolve();
    });
  });
  const lines = got.split('\n').filter((l) => l !== '');
  assert.equal(lines.length, 8);
  for (const l of lines) assert.match(l, /^[0-9a-f]{64}$/);
  busy.destroy();
});

test('nc -N on a backed-up pool: the request and FIN together still get the reply', async (t) => {
  const h = await startBundled(['hash'], { args: ['--threads', '2'] });
  t.after(() => h.kill());
  const busy = await connect(h.port);
  busy.on('data', () => undefined);
  busy.on('error', () => undefined);
  busy.write(Array.from({ length: 16 }, (_, i) => `HASH scrypt busy-${i}\n`).join(''));
  await waitUntil(async () => (await pool(h)).queued >= 4, 'the pool backed up', 10_000);
  const replies = await Promise.all(
    [0, 1, 2].map(async (i) => {
      const s = await connect(h.port);
      let got = '';
      s.setEncoding('utf8');
      s.on('data', (d: string) => (got += d));
      s.end(`HASH scrypt nc-${i}\n`);
      await new Promise<void>((resolve) => s.on('close', () => resolve()));
      return got;
    }),
  );
  for (const r of replies) assert.match(r, /^[0-9a-f]{64}\n$/);
  busy.destroy();
});

test('mixed: in shared batches, clients that close lose their work, clients that half-close get every reply in order', async (t) => {
  const SLOW = `export default { routes: [
    { prefix: 'SLOW', pool: true, message(m) { const end = Date.now() + 40; while (Date.now() < end); return 'done ' + m.toString().trim() + '\\n'; } },
  ] };`;
  const { startHrmr } = await import('./helpers/hrmr.ts');
  const h = await startHrmr({ modules: { slow: SLOW }, args: ['--threads', '2'] });
  t.after(() => h.kill());
  const before = await pool(h);
  const socks = await Promise.all(Array.from({ length: 10 }, () => connect(h.port)));
  const got = socks.map(() => '');
  for (const [i, s] of socks.entries()) {
    s.setEncoding('utf8');
    s.on('data', (d: string) => (got[i] += d));
    s.on('error', () => undefined);
    s.write(Array.from({ length: 10 }, (_, k) => `SLOW ${i}.${k}\n`).join(''));
  }
  await waitUntil(async () => (await pool(h)).batches > before.batches, 'batches on the workers', 10_000);
  const closed = socks.map((s) => new Promise<void>((r) => s.once('close', () => r())));
  // Even ones close (gone), odd ones half-close (waiting for their replies).
  for (const [i, s] of socks.entries()) {
    if (i % 2 === 0) s.destroy();
    else s.end();
  }
  await Promise.race([Promise.all(closed.filter((_, i) => i % 2 === 1)), new Promise((_, rej) => setTimeout(() => rej(new Error(`half-closed clients not answered: ${JSON.stringify(got)}`)), 60_000))]);
  for (let i = 1; i < 10; i += 2) assert.equal(got[i], Array.from({ length: 10 }, (_, k) => `done SLOW ${i}.${k}\n`).join(''), `client ${i}`);
  const st = await waitUntil(async () => {
    const p = await pool(h);
    return p.queued === 0 && p.running === 0 && p.connections === before.connections ? p : null;
  }, 'the pool idle and every connection closed', 20_000);
  // The 50 tasks of the half-closed clients ran; of the closed ones' 50, those already done or running when they left and a few more.
  const ran = st.completed - before.completed;
  const dropped = st.dropped - before.dropped;
  assert.equal(ran + dropped, 100);
  assert.ok(dropped >= 20, `only ${dropped} tasks of the 5 closed clients were dropped`);
  t.diagnostic(`${ran} ran, ${dropped} dropped`);
});
