// SPDX-License-Identifier: LGPL-3.0-or-later
/**
 * lhttp delivery in one tick (issue 26): a connection's first frame in a tick
 * is written at once and the rest of a burst is corked until the tick's
 * flush. A burst (many publishes read in one go) arrives complete and in
 * order, and a lone publish after it is not left behind in a corked socket.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Socket } from 'node:net';
import { startBundled } from './helpers/bundled.ts';
import { frame, LhttpClient, subscribed } from './helpers/lhttp-client.ts';

test('a burst of publishes read in one tick reaches every subscriber in order; a lone publish after it arrives too', async (t) => {
  const h = await startBundled(['lhttp']);
  t.after(() => h.kill());
  const subs = await subscribed(h.port, 'burst', 3);
  const pub = await LhttpClient.open(h.port);
  t.after(() => [...subs, pub].forEach((c) => c.close()));
  const N = 300;
  // Corked on the client: the frames leave in one write, so the server reads (and delivers) many in one tick.
  const sock = (pub.ws as unknown as { _socket: Socket })._socket;
  sock.cork();
  for (let i = 0; i < N; i++) pub.send(frame('b', { publish: 'burst' }, `m${i}`));
  sock.uncork();
  for (const s of subs) {
    await s.waitFrames(N, 30_000);
    const bodies = s.frames.splice(0, N).map((f) => f.slice(f.indexOf('\r\n\r\n') + 4));
    assert.deepEqual(bodies, Array.from({ length: N }, (_, i) => `m${i}`));
  }
  // One message on its own, twice: each arrives without any later traffic to push it out.
  for (const body of ['lone1', 'lone2']) {
    pub.send(frame('b', { publish: 'burst' }, body));
    for (const s of subs) assert.ok((await s.next(10_000)).endsWith(`\r\n\r\n${body}`));
  }
});
