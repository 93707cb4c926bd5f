// SPDX-License-Identifier: LGPL-3.0-or-later
// Connection limits over real sockets: --max-connections, per-route
// maxConnections, --idle-timeout and its per-route override, all counted
// in STATUS.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import type net from 'node:net';
import { admin, connect, exchange, LineClient, startHrmr, waitUntil, type Hrmr } from './helpers/hrmr.ts';

const MODULE = `export default { routes: [
  { prefix: 'PING', message: (m) => 'PONG' + m.toString().slice(4) + '\\n' },
  { prefix: 'HOLD', connection: (s) => { s.on('error', () => {}); s.resume(); } },
  { prefix: 'ONE', maxConnections: 1, connection: (s) => { s.on('data', (d) => s.write(d)); } },
  { prefix: 'FOREVER', idleTimeout: 0, message: () => 'ok\\n' },
  { prefix: 'QUICK', idleTimeout: 150, message: () => 'ok\\n' },
] };`;

let limited: Hrmr; // --max-connections 3
let idle: Hrmr; // --idle-timeout 200
let plain: Hrmr; // no global idle timeout

before(async () => {
  [limited, idle, plain] = await Promise.all([
    startHrmr({ modules: { m: MODULE }, args: ['--max-connections', '3'] }),
    startHrmr({ modules: { m: MODULE }, args: ['--idle-timeout', '200'] }),
    startHrmr({ modules: { m: MODULE } }),
  ]);
});
after(async () => {
  await Promise.all([limited?.kill(), idle?.kill(), plain?.kill()]);
});

async function status(port: number): Promise<{ connections: number; rejected: Record<string, number>; limits: Record<string, number> }> {
  const r = await admin(port, 'STATUS');
  assert.match(r, /^OK \{/);
  return JSON.parse(r.slice(3)) as { connections: number; rejected: Record<string, number>; limits: Record<string, number> };
}

async function held(port: number, line: string): Promise<net.Socket> {
  const s = await connect(port);
  s.on('error', () => undefined);
  s.write(line);
  return s;
}

test('--max-connections: the connection over the limit gets ERR busy; existing ones keep working', async () => {
  const st0 = await status(limited.port);
  assert.equal(st0.limits.maxConnections, 3);
  const a = await held(limited.port, 'HOLD\n');
  const b = await held(limited.port, 'HOLD\n');
  const c = await LineClient.open(limited.port);
  assert.equal(await c.request('PING 1'), 'PONG 1');
  // Three open: the fourth is told and closed.
  assert.equal(await exchange(limited.port, 'PING 2\n'), 'ERR busy\n');
  // The existing connection is unaffected.
  assert.equal(await c.request('PING 3'), 'PONG 3');
  a.destroy();
  // A slot frees up: STATUS itself (one connection) fits again.
  const st = await waitUntil(async () => {
    const r = await admin(limited.port, 'STATUS');
    return r.startsWith('OK ') ? (JSON.parse(r.slice(3)) as { rejected: Record<string, number> }) : null;
  }, 'a free slot');
  assert.ok(st.rejected.maxConnections! >= 1);
  b.destroy();
  c.close();
});

test('per-route maxConnections: a second connection to a route limited to 1 gets ERR busy, then fits once the first closes', async () => {
  const first = await LineClient.open(plain.port);
  assert.equal(await first.request('ONE a'), 'ONE a');
  assert.equal(await exchange(plain.port, 'ONE b\n'), 'ERR busy\n');
  // Other routes are not affected by this route's limit.
  assert.equal(await exchange(plain.port, 'PING 1\n', { end: true }), 'PONG 1\n');
  const st = await status(plain.port);
  assert.equal(st.rejected.routeMaxConnections, 1);
  first.close();
  const again = await waitUntil(async () => {
    const c = await LineClient.open(plain.port);
    const r = await c.request('ONE c');
    c.close();
    return r === 'ONE c' ? r : null;
  }, 'the route slot to free up');
  assert.equal(again, 'ONE c');
});

test('--idle-timeout closes a routed connection that goes quiet', async () => {
  const c = await LineClient.open(idle.port);
  assert.equal(await c.request('PING 1'), 'PONG 1');
  // No more traffic: the server closes it.
  assert.equal(await c.read(5000), null);
  assert.equal(c.closed, true);
});

test('per-route idleTimeout 0 overrides --idle-timeout (never closed for idleness)', async () => {
  const c = await LineClient.open(idle.port);
  assert.equal(await c.request('FOREVER'), 'ok');
  // A witness on a route without an override goes quiet after c did: once the global 200 ms has closed it,
  // c has been idle longer than that and must still be open (no fixed sleep: the witness's close is the event).
  const witness = await LineClient.open(idle.port);
  assert.equal(await witness.request('PING w'), 'PONG w');
  assert.equal(await witness.read(5000), null, 'the witness is closed by --idle-timeout');
  assert.equal(c.closed, false);
  assert.equal(await c.request('FOREVER'), 'ok');
  c.close();
});

test('per-route idleTimeout applies without a global --idle-timeout', async () => {
  // p (no idle timeout anywhere) goes quiet first; q (QUICK, 150 ms) after it.
  const p = await LineClient.open(plain.port);
  assert.equal(await p.request('PING 1'), 'PONG 1');
  const q = await LineClient.open(plain.port);
  assert.equal(await q.request('QUICK'), 'ok');
  assert.equal(await q.read(5000), null, 'QUICK is closed by its own idleTimeout');
  // p has been idle longer than q was when q closed: it stays open and serving.
  assert.equal(p.closed, false);
  assert.equal(await p.request('PING 2'), 'PONG 2');
  p.close();
});
