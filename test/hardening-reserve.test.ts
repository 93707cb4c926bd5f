// SPDX-License-Identifier: LGPL-3.0-or-later
// Issue 16, points 4 and 5: a server at --max-connections keeps a reserve of
// admin sessions for its operator, and refuses everyone else in their own
// protocol (HTTP gets a 503), with bounded work per refused connection.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { connect, exchange, LineClient, startHrmr, type Hrmr } from './helpers/hrmr.ts';

// HOLD connections stay open: they fill the server up to its limit.
const HOLD = `export default { routes: [
  { prefix: 'HOLD', connection(s) { s.write('held\\n'); s.on('data', () => {}); } },
  { prefix: 'PING', message: () => 'PONG\\n' },
] };`;
const MAX = 4;

async function fill(h: Hrmr, t: { after(fn: () => void): void }): Promise<void> {
  for (let i = 0; i < MAX; i++) {
    const c = await LineClient.open(h.port);
    t.after(() => c.close());
    assert.equal(await c.request('HOLD'), 'held');
  }
}

function statusOf(line: string | null): Record<string, any> {
  assert.match(line ?? '', /^OK \{/);
  return JSON.parse(line!.slice(3)) as Record<string, any>;
}

test('at --max-connections an operator still gets STATUS and SHUTDOWN (admin reserve of 16)', async (t) => {
  const h = await startHrmr({ modules: { hold: HOLD }, args: ['--max-connections', String(MAX), '--drain-timeout', '1000'] });
  t.after(() => h.kill());
  await fill(h, t);
  assert.equal(await exchange(h.port, 'PING\n'), 'ERR busy\n');

  // 16 sessions of the reserve, all answered and kept open; the 17th admin connection is refused.
  const sessions: LineClient[] = [];
  t.after(() => sessions.forEach((s) => s.close()));
  for (let i = 0; i < 16; i++) {
    const s = await LineClient.open(h.port);
    sessions.push(s);
    const st = statusOf(await s.request('STATUS'));
    assert.equal(st.connections, MAX);
    assert.equal(st.adminSessions, i + 1);
    assert.deepEqual(st.adminReserve, { size: 16, inUse: i + 1 });
  }
  assert.equal(await exchange(h.port, 'STATUS\n'), 'ERR busy\n');
  // A reserve session is a full admin session.
  assert.equal(await sessions[0]!.request('FOO'), 'ERR unknown command "FOO" (RELOAD, STATUS, CLOSE, SHUTDOWN, AUTH)');
  sessions[1]!.close();
  const again = await LineClient.open(h.port);
  sessions.push(again);
  assert.equal(statusOf(await again.request('STATUS')).adminReserve.inUse, 16);

  assert.equal(await sessions[2]!.request('SHUTDOWN'), 'OK shutting down');
  assert.equal(await h.exited, 0);
});

test('with --admin-token the reserve needs AUTH as the first command', async (t) => {
  const h = await startHrmr({ modules: { hold: HOLD }, args: ['--max-connections', String(MAX), '--admin-token', 'tok'] });
  t.after(() => h.kill());
  await fill(h, t);
  const a = await LineClient.open(h.port);
  t.after(() => a.close());
  assert.equal(await a.request('AUTH tok'), 'OK');
  assert.equal(statusOf(await a.request('STATUS')).adminReserve.inUse, 1);
  // Not authorized by its first command: forbidden, and the slot is given back.
  assert.equal(await exchange(h.port, 'STATUS\n'), 'ERR forbidden\n');
  assert.equal(await exchange(h.port, 'AUTH wrong\nSTATUS\n'), 'ERR forbidden\n');
});

test('refused connections are answered in their protocol: HTTP gets a 503, others ERR busy', async (t) => {
  // A long --peek-timeout: refused clients must be answered sooner than that anyway.
  const h = await startHrmr({ modules: { hold: HOLD }, args: ['--max-connections', String(MAX), '--peek-timeout', '60000'] });
  t.after(() => h.kill());
  await fill(h, t);

  const res = await exchange(h.port, 'GET /x HTTP/1.1\r\nHost: localhost\r\n\r\n', { timeoutMs: 10_000 });
  const [head, body] = res.split('\r\n\r\n');
  const lines = head!.split('\r\n');
  assert.equal(lines[0], 'HTTP/1.1 503 Service Unavailable');
  const headers = new Map(lines.slice(1).map((l) => [l.slice(0, l.indexOf(':')).toLowerCase(), l.slice(l.indexOf(':') + 1).trim()]));
  assert.equal(headers.get('retry-after'), '1');
  assert.equal(headers.get('connection'), 'close');
  assert.equal(Number(headers.get('content-length')), Buffer.byteLength(body!));
  // The request arriving in pieces is still recognised.
  assert.match(await exchange(h.port, ['PO', 'ST /form HTTP/1.1\r\n\r\n'], { gapMs: 50, timeoutMs: 10_000 }), /^HTTP\/1\.1 503 Service Unavailable\r\n/);

  assert.equal(await exchange(h.port, 'PING\n', { timeoutMs: 10_000 }), 'ERR busy\n');
  assert.equal(await exchange(h.port, Buffer.from([0x16, 0x03, 0x01, 0x00]), { timeoutMs: 10_000 }), 'ERR busy\n');
  // A client that sends nothing is told busy within a bounded time (not the 60 s peek timeout).
  assert.equal(await exchange(h.port, [], { timeoutMs: 10_000 }), 'ERR busy\n');

  const a = await LineClient.open(h.port);
  const st = statusOf(await a.request('STATUS'));
  a.close();
  assert.equal(st.rejected.maxConnections, 5);
});

test('the number of refused connections handled at once is bounded', async (t) => {
  const h = await startHrmr({ modules: { hold: HOLD }, args: ['--max-connections', String(MAX)] });
  t.after(() => h.kill());
  await fill(h, t);
  // 300 silent clients over the limit: at most 256 are held (peeked) at once, the rest closed at once without an answer.
  const socks: net.Socket[] = [];
  t.after(() => socks.forEach((s) => s.destroy()));
  const answers = await Promise.all(
    Array.from({ length: 300 }, async () => {
      const s = await connect(h.port);
      socks.push(s);
      let got = '';
      s.setEncoding('utf8');
      s.on('data', (d: string) => (got += d));
      s.on('error', () => undefined);
      return new Promise<string>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error('a refused client was not closed within 10 s')), 10_000);
        s.on('close', () => {
          clearTimeout(timer);
          resolve(got);
        });
      });
    }),
  );
  const busy = answers.filter((a) => a === 'ERR busy\n').length;
  const silent = answers.filter((a) => a === '').length;
  assert.equal(busy + silent, 300);
  assert.ok(busy <= 256 && busy >= 200, `busy ${busy}`);
  const a = await LineClient.open(h.port);
  const st = statusOf(await a.request('STATUS'));
  a.close();
  assert.equal(st.overLimit.unanswered, silent);
  assert.equal(st.rejected.maxConnections, 300);
});
