// SPDX-License-Identifier: LGPL-3.0-or-later
// Issue 20, point 1: admin sessions time out. A session that has not
// completed a command within 5 s is closed (AUTH without a newline held a
// --max-connections slot forever), and an authenticated session obeys
// --idle-timeout like any other connection.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type net from 'node:net';
import { admin, connect, LineClient, sleep, startHrmr, waitUntil } from './helpers/hrmr.ts';

const MODULE = `export default { routes: [{ prefix: 'PING', message: () => 'PONG\\n' }] };`;

interface Watched {
  socket: net.Socket;
  got: string;
  closedAt: number | null;
}

async function open(port: number, first: string): Promise<Watched> {
  const socket = await connect(port);
  const w: Watched = { socket, got: '', closedAt: null };
  socket.on('data', (d: Buffer) => (w.got += d.toString('utf8')));
  socket.on('error', () => undefined);
  socket.on('close', () => (w.closedAt = Date.now()));
  socket.write(first);
  return w;
}

function statusOf(line: string): Record<string, any> {
  assert.match(line, /^OK \{/);
  return JSON.parse(line.slice(3)) as Record<string, any>;
}

test('admin sessions that never complete a command are closed after 5 s, freeing their slots', async (t) => {
  const h = await startHrmr({ modules: { m: MODULE }, args: ['--admin-token', 'sek', '--max-connections', '40'] });
  t.after(() => h.kill());
  const started = Date.now();
  // 30 unfinished AUTH lines, plus one session that only ever got ERR forbidden (never authorized).
  const held: Watched[] = [];
  for (let i = 0; i < 30; i++) held.push(await open(h.port, 'AUTH sek'));
  const forbidden = await open(h.port, 'STATUS\n');
  t.after(() => [...held, forbidden].forEach((w) => w.socket.destroy()));
  await waitUntil(() => forbidden.got.includes('\n'), 'the forbidden reply');
  assert.equal(forbidden.got, 'ERR forbidden\n');

  await waitUntil(() => held.every((w) => w.closedAt !== null) && forbidden.closedAt !== null, 'every unfinished admin session to be closed', 20_000);
  for (const w of held) {
    // Not before the 5 s rule (some scheduling slack below it is impossible: the timer starts after accept).
    assert.ok(w.closedAt! - started >= 4900, `closed too early: ${w.closedAt! - started} ms`);
    assert.equal(w.got, 'ERR timeout\n');
  }
  assert.equal(forbidden.got, 'ERR forbidden\nERR timeout\n');

  // The slots are free again: an operator gets in and sees no admin session but its own.
  const a = await LineClient.open(h.port);
  t.after(() => a.close());
  assert.equal(await a.request('AUTH sek'), 'OK');
  const st = statusOf((await a.request('STATUS'))!);
  assert.equal(st.adminSessions, 1);
  assert.equal(st.connections, 0);
});

test('an authenticated admin session obeys --idle-timeout; an active one outlives the 5 s rule', async (t) => {
  const h = await startHrmr({ modules: { m: MODULE }, args: ['--admin-token', 'sek', '--idle-timeout', '1500'] });
  t.after(() => h.kill());

  const quiet = await LineClient.open(h.port);
  t.after(() => quiet.close());
  assert.equal(await quiet.request('AUTH sek'), 'OK');
  const t0 = Date.now();
  assert.equal(await quiet.read(10_000), null, 'the quiet session is closed');
  assert.ok(Date.now() - t0 >= 1400, `closed after ${Date.now() - t0} ms, before the idle timeout`);

  // Busy past 5 s: authorized and active, so neither rule closes it.
  const busy = await LineClient.open(h.port);
  t.after(() => busy.close());
  assert.equal(await busy.request('AUTH sek'), 'OK');
  const until = Date.now() + 6000;
  while (Date.now() < until) {
    assert.match((await busy.request('STATUS'))!, /^OK \{/);
    await sleep(100);
  }
  assert.equal(busy.closed, false);

  // Without a token, a loopback session is authorized from the start: it too goes idle.
  const h2 = await startHrmr({ modules: { m: MODULE }, args: ['--idle-timeout', '500'] });
  t.after(() => h2.kill());
  const local = await LineClient.open(h2.port);
  t.after(() => local.close());
  assert.match((await local.request('STATUS'))!, /^OK \{/);
  assert.equal(await local.read(10_000), null);
  // The server is fine afterwards.
  assert.match(await admin(h2.port, 'STATUS'), /^OK \{/);
});

test('a first command that runs past 5 s (a slow RELOAD) is answered, not cut by the 5 s rule or the idle timeout', async (t) => {
  const h = await startHrmr({ modules: { m: MODULE }, args: ['--idle-timeout', '1000'] });
  t.after(() => h.kill());
  h.writeModule('slow', `export default { routes: [{ prefix: 'SLOW', message: () => 'ok\\n' }], async setup() { await new Promise((r) => setTimeout(r, 6000)); } };`);
  const c = await LineClient.open(h.port);
  t.after(() => c.close());
  assert.match((await c.request('RELOAD', 30_000))!, /^OK reloaded 2 modules/);
  assert.match((await c.request('STATUS'))!, /^OK \{/);
});
