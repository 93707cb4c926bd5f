// SPDX-License-Identifier: LGPL-3.0-or-later
/**
 * lhttp limits: a subscriber that does not read is closed with 1008 at
 * lhttp.max_buffered while fast ones keep receiving everything; frames over
 * max_frame are ignored and counted, over max_payload close (1009); channels
 * per header and subscriptions per connection are capped.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { Socket } from 'node:net';
import { startBundled } from './helpers/bundled.ts';
import type { Hrmr } from './helpers/hrmr.ts';
import { frame, httpRequest, LhttpClient, lhttpStatus, parseFrame, subscribed, sync } from './helpers/lhttp-client.ts';

let h: Hrmr;
before(async () => {
  h = await startBundled(['lhttp'], {
    args: ['--set', 'lhttp.max_buffered=64k', '--set', 'lhttp.max_frame=20000', '--set', 'lhttp.max_payload=64k', '--set', 'lhttp.max_channels=4', '--set', 'lhttp.max_subscriptions=5'],
  });
});
after(async () => {
  await h?.kill();
});

test('a slow consumer is closed with 1008 at max_buffered; fast subscribers get every message', async () => {
  const fast = await subscribed(h.port, 'flood', 2);
  const [slow] = await subscribed(h.port, 'flood');
  (slow!.ws as unknown as { _socket: Socket })._socket.pause();
  const pub = await LhttpClient.open(h.port);
  const body = 'f'.repeat(16_000);
  let sent = 0;
  let dropped = false;
  // Publish in batches until the server has given up on the slow one (bounded: 4000 x 16 KB).
  while (!dropped && sent < 4000) {
    for (let i = 0; i < 50; i++) pub.send(frame('m', { publish: 'flood', n: String(++sent) }, body));
    await sync(pub);
    dropped = (await lhttpStatus(h.port)).droppedSlowConsumers >= 1;
  }
  assert.ok(dropped, `slow consumer still open after ${sent} messages`);
  // Fast subscribers keep receiving, in order, everything published (including after the drop).
  for (let i = 0; i < 10; i++) pub.send(frame('m', { publish: 'flood', n: String(++sent) }, 'tail'));
  for (const f of fast) {
    await f.waitFrames(sent, 60_000);
    assert.deepEqual(
      f.frames.map((x) => Number(parseFrame(x).headers.n)),
      Array.from({ length: sent }, (_, i) => i + 1),
    );
    assert.equal(f.closeCode, null);
  }
  (slow!.ws as unknown as { _socket: Socket })._socket.resume();
  assert.equal(await slow!.waitClose(20_000), 1008);
  assert.ok(slow!.frames.length < sent, 'the slow consumer did not get everything');
  await h.waitForLog((l) => /slow consumer closed/.test(l.msg) && l.limit === 65536);
  for (const c of [...fast, pub]) c.close();
});

test('frames over max_frame are ignored and counted; over max_payload the connection closes with 1009', async () => {
  const [sub] = await subscribed(h.port, 'big');
  const c = await LhttpClient.open(h.port);
  const head = frame('m', { publish: 'big' });
  const before = (await lhttpStatus(h.port)).ignoredFrames.oversized as number;
  c.send(head + 'x'.repeat(20_000 - head.length + 1)); // 20001 bytes: ignored
  c.send(head + 'y'.repeat(20_000 - head.length)); // 20000 bytes: published
  const got = await sub!.next();
  assert.equal(got.length, 20_000);
  assert.ok(got.endsWith('y'));
  assert.equal((await lhttpStatus(h.port)).ignoredFrames.oversized, before + 1);
  c.send(head + 'z'.repeat(70_000));
  assert.equal(await c.waitClose(), 1009);
  // The others carry on.
  const d = await LhttpClient.open(h.port);
  d.send(frame('m', { publish: 'big' }, 'ok'));
  assert.equal(parseFrame(await sub!.next()).body, 'ok');
  sub!.close();
  d.close();
});

test('channels per header and subscriptions per connection are capped', async () => {
  const x = await LhttpClient.open(h.port);
  x.send(frame('m', { subscribe: 'c1 c2 c3 c4 c5 c6' })); // c1..c4 (4 per header)
  x.send(frame('m', { subscribe: 'd1 d2' })); // d1 is the 5th subscription, d2 over the cap
  const pub = await LhttpClient.open(h.port);
  await sync(pub);
  x.send(frame('m', { publish: 'c1' }, 'x ready')); // x's frames are handled in order: its subscriptions are in place
  assert.equal(parseFrame(await x.next()).body, 'x ready');
  for (const ch of ['c4', 'c5', 'd1', 'd2', 'c1']) pub.send(frame('m', { publish: ch }, ch));
  assert.deepEqual([await x.next(), await x.next(), await x.next()].map((f) => parseFrame(f).body), ['c4', 'd1', 'c1']);
  const s = await lhttpStatus(h.port);
  assert.ok(s.cappedChannels >= 1 && s.cappedSubscriptions >= 1, JSON.stringify(s));
  // A publish header over the cap publishes to the first 4 only.
  pub.send(frame('m', { publish: 'e1 e2 e3 e4 c1' }, 'fifth'));
  pub.send(frame('m', { publish: 'c1' }, 'end'));
  assert.equal(parseFrame(await x.next()).body, 'end');
  x.close();
  pub.close();
});

test('lhttp.origins: only the listed Origin values may connect (any by default); lhttp.publish_path moves HTTP publish', async () => {
  const h2 = await startBundled(['lhttp'], { args: ['--set', 'lhttp.origins=http://good.example', '--set', 'lhttp.publish_path=/pub2'] });
  try {
    const ok = await LhttpClient.open(h2.port, '/lhttp', { Origin: 'http://good.example' });
    await sync(ok, 'moved');
    assert.equal((await httpRequest(h2.port, '/pub2', 'POST', 'LHTTP/1.0 c\r\npublish:moved\r\n\r\nvia /pub2')).status, 200);
    assert.equal(parseFrame(await ok.next()).body, 'via /pub2');
    assert.equal((await httpRequest(h2.port, '/publish', 'POST', 'LHTTP/1.0 c\r\npublish:moved\r\n\r\nx')).status, 404);
    await assert.rejects(LhttpClient.open(h2.port, '/lhttp', { Origin: 'null' }), /403/);
    await assert.rejects(LhttpClient.open(h2.port, '/lhttp'), /403/);
    ok.close();
  } finally {
    await h2.kill();
  }
  // The server of the other tests has no origins setting: Origin null is accepted.
  const any = await LhttpClient.open(h.port, '/lhttp', { Origin: 'null' });
  any.close();
});
