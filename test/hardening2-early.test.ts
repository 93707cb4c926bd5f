// SPDX-License-Identifier: LGPL-3.0-or-later
// Issue 20, point 2: connections that arrive while the modules load (the
// port is bound first) count against --max-connections and their peek
// timeout runs from accept; they used to wait, uncounted, for the load.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { admin, sleep, startHrmr, waitUntil, type Hrmr } from './helpers/hrmr.ts';

/** A module whose setup takes `ms`. */
function slowModule(ms: number): string {
  return `export default {
  routes: [{ prefix: 'PING', message: () => 'PONG\\n' }],
  async setup() { await new Promise((r) => setTimeout(r, ${ms})); },
};`;
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const p = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(p));
    });
  });
}

interface Client {
  got: string;
  closedAt: number | null;
  socket: net.Socket;
}

/** Connects once the port is bound (retrying while it is not). */
async function dial(port: number, send: string | null, deadline: number): Promise<Client> {
  for (;;) {
    try {
      const socket = await new Promise<net.Socket>((resolve, reject) => {
        const s = net.connect({ port, host: '127.0.0.1' }, () => resolve(s));
        s.once('error', reject);
      });
      const c: Client = { got: '', closedAt: null, socket };
      socket.on('data', (d: Buffer) => (c.got += d.toString('utf8')));
      socket.on('error', () => undefined);
      socket.on('close', () => (c.closedAt = Date.now()));
      if (send !== null) socket.write(send);
      return c;
    } catch (err) {
      if (Date.now() > deadline) throw err;
      await sleep(20);
    }
  }
}

/** Starts hrmr on a fixed port without waiting for it to listen; `ready` resolves (with the time) once it logs 'listening'. */
async function startSlow(setupMs: number, args: string[]): Promise<{ port: number; ready: Promise<{ h: Hrmr; at: number }> }> {
  const port = await freePort();
  const ready = startHrmr({ modules: { slow: slowModule(setupMs) }, args: ['--port', String(port), ...args] }).then((h) => ({ h, at: Date.now() }));
  return { port, ready };
}

test('connections during a slow start-up: their peek timeout runs from accept, and --max-connections holds', async (t) => {
  const { port, ready } = await startSlow(7000, ['--max-connections', '20', '--peek-timeout', '1500']);
  let h: Hrmr | null = null;
  t.after(async () => (h ?? (await ready).h).kill());
  const clients: Client[] = [];
  t.after(() => clients.forEach((c) => c.socket.destroy()));
  clients.push(await dial(port, null, Date.now() + 20_000));
  // All at once, so no slot is freed (by a peek timeout) before the last arrives.
  clients.push(...(await Promise.all(Array.from({ length: 99 }, () => dial(port, null, Date.now() + 5000)))));

  // All of them are closed by the server well before the modules are loaded.
  await waitUntil(() => clients.every((c) => c.closedAt !== null), 'every silent connection to be closed', 20_000);
  const { h: server, at: listening } = await ready;
  h = server;
  const last = Math.max(...clients.map((c) => c.closedAt!));
  assert.ok(last < listening, `the last silent connection closed ${last - listening} ms after listening: its peek timeout did not run during the load`);
  // At most 20 were taken in (and timed out); the rest were refused as over the limit.
  const refused = clients.filter((c) => c.got === 'ERR busy\n').length;
  assert.ok(refused >= 80, `only ${refused} of 100 refused as busy`);
  const st = JSON.parse((await admin(h.port, 'STATUS')).slice(3)) as { rejected: Record<string, number> };
  assert.ok(st.rejected.maxConnections! >= 80, JSON.stringify(st.rejected));
  assert.ok(st.rejected.peekTimeout! >= 1 && st.rejected.peekTimeout! <= 20, JSON.stringify(st.rejected));
});

test('connections within the limit during start-up are served once the modules load; the rest get ERR busy at once', async (t) => {
  const { port, ready } = await startSlow(3000, ['--max-connections', '5', '--peek-timeout', '30000']);
  let h: Hrmr | null = null;
  t.after(async () => (h ?? (await ready).h).kill());
  let loaded = false;
  void ready.then(() => (loaded = true));
  const clients: Client[] = [];
  t.after(() => clients.forEach((c) => c.socket.destroy()));
  clients.push(await dial(port, 'PING\n', Date.now() + 20_000));
  for (let i = 0; i < 14; i++) clients.push(await dial(port, 'PING\n', Date.now() + 5000));

  // The ten over the limit are answered before the load is over.
  await waitUntil(() => clients.filter((c) => c.got === 'ERR busy\n').length === 10, 'ten ERR busy replies', 15_000);
  assert.equal(loaded, false, 'the modules were already loaded: the refusals did not happen during the load');
  const r = await ready;
  h = r.h;
  await waitUntil(() => clients.filter((c) => c.got === 'PONG\n').length === 5, 'five PONG replies', 15_000);
  // Nobody got anything else.
  assert.equal(clients.filter((c) => c.got !== 'PONG\n' && c.got !== 'ERR busy\n').length, 0);
});

test('a client that sends its line and half-closes while the modules load still gets its reply', async (t) => {
  const { port, ready } = await startSlow(2500, ['--peek-timeout', '30000']);
  let h: Hrmr | null = null;
  t.after(async () => (h ?? (await ready).h).kill());
  const c = await dial(port, 'PING\n', Date.now() + 20_000);
  c.socket.end();
  t.after(() => c.socket.destroy());
  h = (await ready).h;
  await waitUntil(() => c.closedAt !== null, 'the half-closed client to be answered and closed', 15_000);
  assert.equal(c.got, 'PONG\n');
});
