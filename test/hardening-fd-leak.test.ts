// SPDX-License-Identifier: LGPL-3.0-or-later
// Issue 16, point 2: a stream route that answers and ends without reading its
// input (the peeked bytes are given back and never read) must not keep the
// connection, and its file descriptor, open after the client has closed.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import net from 'node:net';
import { admin, startHrmr, waitUntil, type Hrmr } from './helpers/hrmr.ts';

const RATE = `export default { routes: [
  { prefix: 'HI', connection(s) { s.end('HELLO\\n'); } },
] };`;

function fds(h: Hrmr): number {
  return readdirSync(`/proc/${h.proc.pid}/fd`).length;
}

async function statusConnections(h: Hrmr): Promise<number> {
  const st = await admin(h.port, 'STATUS');
  assert.match(st, /^OK \{/);
  return (JSON.parse(st.slice(3)) as { connections: number }).connections;
}

/** connect, send HI, read HELLO, close (FIN); resolves with what was read. */
function hiHello(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = net.connect(port, '127.0.0.1');
    let got = '';
    const t = setTimeout(() => {
      s.destroy();
      reject(new Error(`no HELLO within 10 s (got ${JSON.stringify(got)})`));
    }, 10_000);
    s.setEncoding('utf8');
    s.on('error', reject);
    s.on('connect', () => s.write('HI\n'));
    s.on('data', (d: string) => {
      got += d;
      if (got.includes('\n')) s.end();
    });
    s.on('close', () => {
      clearTimeout(t);
      resolve(got);
    });
  });
}

test('5,000 answered-and-closed stream connections leave no descriptor or connection behind', async (t) => {
  const h = await startHrmr({ modules: { rate: RATE } });
  t.after(() => h.kill());
  // Warm up (first connection, first STATUS), then take the baseline with nothing open.
  assert.equal(await hiHello(h.port), 'HELLO\n');
  const baseConns = await statusConnections(h);
  const baseFds = await waitUntil(() => fds(h), 'a descriptor count');

  let left = 5000;
  let wrong = 0;
  const loop = async (): Promise<void> => {
    while (left > 0) {
      left--;
      if ((await hiHello(h.port)) !== 'HELLO\n') wrong++;
    }
  };
  await Promise.all(Array.from({ length: 32 }, loop));
  assert.equal(wrong, 0);

  // Every connection is gone once its client closed (not just after some timeout of ours).
  await waitUntil(() => fds(h) <= baseFds, `descriptors back to ${baseFds} (now ${fds(h)})`, 15_000);
  assert.equal(await statusConnections(h), baseConns);
});

test('a client that sends more and never closes is cut off after the route ended its side', async (t) => {
  const h = await startHrmr({ modules: { rate: RATE } });
  t.after(() => h.kill());
  const baseConns = await statusConnections(h);
  const baseFds = fds(h);
  const sockets: net.Socket[] = [];
  t.after(() => sockets.forEach((s) => s.destroy()));
  const hellos = Array.from({ length: 20 }, () => {
    // allowHalfOpen: this client does not close when the server's FIN arrives.
    const s = net.connect({ port: h.port, host: '127.0.0.1', allowHalfOpen: true });
    sockets.push(s);
    let got = '';
    s.setEncoding('utf8');
    s.on('error', () => undefined);
    s.on('connect', () => s.write('HI\nand more bytes nobody will read\n'));
    return new Promise<string>((resolve) => {
      s.on('data', (d: string) => (got += d));
      s.on('end', () => resolve(got));
    });
  });
  assert.deepEqual(await Promise.all(hellos), Array(20).fill('HELLO\n'));
  // The server cuts these connections off by itself, a bounded time after its FIN.
  await waitUntil(async () => (await statusConnections(h)) === baseConns, 'STATUS connections back to baseline', 15_000);
  await waitUntil(() => fds(h) <= baseFds, `descriptors back to ${baseFds}`, 5000);
});
