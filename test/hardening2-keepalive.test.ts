// SPDX-License-Identifier: LGPL-3.0-or-later
// Issue 20, point 6 (core): accepted sockets have TCP keep-alive on, so a
// peer that vanished without a FIN is found out by the kernel. Checked on the
// real socket: `ss -tnoe` shows a keepalive timer for it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { LineClient, startHrmr, waitUntil } from './helpers/hrmr.ts';

const MODULE = `export default { routes: [
  { prefix: 'HOLD', connection(s) { s.write('held\\n'); s.on('data', () => {}); } },
  { prefix: 'PING', message: () => 'PONG\\n' },
] };`;

/** `ss` lines of the server's side of established connections to `port` from `clientPort`. */
function serverSide(port: number, clientPort: number): string {
  return execFileSync('ss', ['-tnoe', 'state', 'established', `( sport = :${port} and dport = :${clientPort} )`], { encoding: 'utf8' });
}

for (const workers of [null, '2']) {
  test(`accepted sockets have TCP keep-alive enabled (stream and message routes)${workers ? ' with --workers ' + workers : ''}`, async (t) => {
    const h = await startHrmr({ modules: { m: MODULE }, args: workers ? ['--workers', workers] : [] });
    t.after(() => h.kill());
    for (const [line, reply] of [
      ['HOLD', 'held'],
      ['PING', 'PONG'],
    ] as const) {
      const c = await LineClient.open(h.port);
      t.after(() => c.close());
      assert.equal(await c.request(line), reply);
      const out = await waitUntil(() => {
        const o = serverSide(h.port, c.socket.localPort!);
        return o.includes(`:${c.socket.localPort}`) ? o : null;
      }, 'the connection in ss');
      assert.match(out, /timer:\(keepalive,/, `no keepalive timer on the server's socket (${line}):\n${out}`);
      // The client's own socket has none: the timer seen is the server's.
      const mine = execFileSync('ss', ['-tnoe', 'state', 'established', `( sport = :${c.socket.localPort} )`], { encoding: 'utf8' });
      assert.doesNotMatch(mine, /keepalive/);
    }
  });
}
