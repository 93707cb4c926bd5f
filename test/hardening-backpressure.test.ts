// SPDX-License-Identifier: LGPL-3.0-or-later
// Clients that never read their replies must not make the server buffer
// without bound: the server stops reading from them (the client's own
// write buffer then fills up), on message routes and on the admin session.
// Also: hostile input (random bytes, resets mid-message) leaves the server
// up and answering.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import type net from 'node:net';
import { admin, connect, exchange, LineClient, sleep, startHrmr, type Hrmr } from './helpers/hrmr.ts';

const MODULE = `export default { routes: [
  { prefix: 'PING', message: (m) => 'PONG' + m.toString().slice(4) + '\\n' },
  { prefix: 'ECHO ', message: (m) => Buffer.concat([m.subarray(5), Buffer.from('\\n')]) },
  { prefix: 'SLOW ', message: (m) => new Promise((r) => setTimeout(() => r(m.subarray(5).toString() + '\\n'), 1)) },
] };`;

const MB = 1024 * 1024;
/** What the kernel's socket buffers can hold on loopback, with room: the server must take less than this. */
const BOUND = 48 * MB;

let h: Hrmr;
before(async () => {
  h = await startHrmr({ modules: { m: MODULE } });
});
after(async () => {
  await h?.kill();
});

async function rss(): Promise<number> {
  const r = await admin(h.port, 'STATUS');
  return (JSON.parse(r.slice(3)) as { memory: { rssBytes: number } }).memory.rssBytes;
}

/**
 * Writes `unit` without ever reading until the client's own write buffer
 * holds `stalledAt` bytes the server did not take (it stopped reading), or
 * until `maxBytes` have been pushed. Returns the bytes the server side took.
 */
async function floodWithoutReading(s: net.Socket, unit: Buffer, stalledAt: number, maxBytes: number): Promise<{ taken: number; stalled: boolean }> {
  s.pause();
  let pushed = 0;
  const deadline = Date.now() + 20_000;
  while (pushed < maxBytes && Date.now() < deadline) {
    if (s.writableLength >= stalledAt) {
      // Give the server a moment to take more, if it is still reading.
      await sleep(300);
      if (s.writableLength >= stalledAt) return { taken: pushed - s.writableLength, stalled: true };
      continue;
    }
    for (let k = 0; k < 256; k++) {
      s.write(unit);
      pushed += unit.length;
    }
    await new Promise((r) => setImmediate(r));
  }
  return { taken: pushed - s.writableLength, stalled: false };
}

for (const [name, unit] of [
  ['a message route', Buffer.from(`ECHO ${'e'.repeat(1000)}\n`)],
  ['a message route with async handlers', Buffer.from(`SLOW ${'s'.repeat(1000)}\n`)],
  ['the admin session (STATUS flood)', Buffer.from('STATUS\n'.repeat(8))],
] as const) {
  test(`a client that never reads on ${name}: the server stops reading, its memory stays bounded`, async () => {
    const before = await rss();
    const s = await connect(h.port);
    s.on('error', () => undefined);
    const r = await floodWithoutReading(s, unit, 4 * MB, 400 * MB);
    const during = await rss();
    s.destroy();
    assert.equal(r.stalled, true, `the server kept reading: it took ${Math.round(r.taken / MB)} MiB`);
    assert.ok(r.taken < BOUND, `server took ${Math.round(r.taken / MB)} MiB`);
    assert.ok(during - before < BOUND, `server RSS grew by ${Math.round((during - before) / MB)} MiB`);
    // Still serving.
    assert.equal(await exchange(h.port, 'PING 1\n', { end: true }), 'PONG 1\n');
  });
}

test('admin session: many commands sent at once are all answered, in order (reading resumes after back-pressure)', async () => {
  const c = await LineClient.open(h.port);
  c.socket.write('STATUS\n'.repeat(300) + 'CLOSE\n');
  for (let i = 0; i < 300; i++) {
    const line = await c.read(10_000);
    assert.match(line ?? '(closed)', /^OK \{/, `reply ${i}`);
  }
  assert.equal(await c.read(10_000), 'OK bye');
  c.close();
});

test('random bytes and resets mid-message leave the server up and answering', async () => {
  const jobs: Promise<unknown>[] = [];
  for (let i = 0; i < 40; i++) {
    // Garbage that cannot match a route (first byte >= 0x80): the server must answer ERR no route and close
    // the connection itself, whether or not the client half-closed (a hang fails the exchange's deadline).
    const garbage = randomBytes(1 + i * 97);
    garbage[0] = 0x80 | garbage[0]!;
    jobs.push(exchange(h.port, garbage, { end: i % 2 === 0, timeoutMs: 10_000 }).then((got) => assert.equal(got, 'ERR no route\n', `garbage connection ${i}`)));
    jobs.push(
      connect(h.port).then(async (s) => {
        s.on('error', () => undefined);
        s.write(['PING 1\nPING 2\nPI', `ECHO ${'y'.repeat(40_000)}\nECHO `, 'STATUS\nSTATUS\nSTA'][i % 3]!);
        await sleep(i % 3);
        s.resetAndDestroy();
      }),
    );
  }
  await Promise.all(jobs);
  assert.equal(h.proc.exitCode, null);
  assert.equal(await exchange(h.port, 'PING ok\n', { end: true }), 'PONG ok\n');
});
