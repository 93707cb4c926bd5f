// SPDX-License-Identifier: LGPL-3.0-or-later
/**
 * lhttp across RELOADs: the bus and every subscription are kept when the
 * lhttp module or a processor module is reloaded; sockets opened before and
 * after a reload reach each other both ways; processors hot-reload for old
 * sockets too; an unloaded processor's command does nothing.
 */
import assert from 'node:assert/strict';
import { appendFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { startBundled } from './helpers/bundled.ts';
import { admin, type Hrmr } from './helpers/hrmr.ts';
import { frame, LhttpClient, lhttpStatus, parseFrame, processorModule, subscribed, sync } from './helpers/lhttp-client.ts';

const procs = (v: string): string => processorModule(`{ ver: { onMessage(c) { c.send('${v}'); } } }`);

let h: Hrmr;
before(async () => {
  h = await startBundled(['lhttp', 'lhttp-chat'], { modules: { 'lhttp-test-procs': procs('v1') } });
});
after(async () => {
  await h?.kill();
});

async function reload(): Promise<void> {
  const r = await admin(h.port, 'RELOAD');
  assert.match(r, /^OK /);
}

async function moduleVersion(name: string): Promise<number> {
  const line = await admin(h.port, 'STATUS');
  const s = JSON.parse(line.slice(3)) as { modules: Array<{ name: string; version: number }> };
  return s.modules.find((m) => m.name === name)!.version;
}

test('a RELOAD of lhttp keeps the bus: old and new sockets reach each other, both ways', async () => {
  const [oldSub] = await subscribed(h.port, 'r wild.*');
  const oldPub = await LhttpClient.open(h.port);
  const v1 = await moduleVersion('lhttp');
  appendFileSync(join(h.dir, 'lhttp.mjs'), '\n// reloaded by test\n');
  await reload();
  assert.equal(await moduleVersion('lhttp'), v1 + 1);

  const [newSub] = await subscribed(h.port, 'r wild.*');
  const newPub = await LhttpClient.open(h.port);
  newPub.send(frame('m', { publish: 'r' }, 'new to all'));
  assert.equal(parseFrame(await oldSub!.next()).body, 'new to all');
  assert.equal(parseFrame(await newSub!.next()).body, 'new to all');
  oldPub.send(frame('m', { publish: 'r wild.x' }, 'old to all'));
  for (const c of [oldSub!, newSub!]) {
    assert.equal(parseFrame(await c.next()).body, 'old to all');
    assert.equal(parseFrame(await c.next()).body, 'old to all');
  }
  // The old socket can still subscribe and unsubscribe (it runs the current code).
  oldSub!.send(frame('m', { unsubscribe: 'r', subscribe: 'r2' }));
  await sync(oldSub!);
  newPub.send(frame('m', { publish: 'r r2' }, 'after change'));
  assert.equal(parseFrame(await oldSub!.next()).headers.publish, 'r r2');
  await sync(oldSub!); // only once: r was dropped
  const s = await lhttpStatus(h.port);
  assert.equal(s.connections, 4);
  for (const c of [oldSub!, oldPub, newSub!, newPub]) c.close();
});

test('a processor module reloads: old sockets get the new processor; the chat processor survives an lhttp reload', async () => {
  const old = await LhttpClient.open(h.port);
  old.send(frame('ver', {}));
  assert.equal(parseFrame(await old.next()).body, 'v1');
  h.writeModule('lhttp-test-procs', procs('v2'));
  await reload();
  old.send(frame('ver', {}));
  assert.equal(parseFrame(await old.next()).body, 'v2');
  const fresh = await LhttpClient.open(h.port);
  fresh.send(frame('ver', {}));
  assert.equal(parseFrame(await fresh.next()).body, 'v2');

  appendFileSync(join(h.dir, 'lhttp.mjs'), '\n// reloaded again\n');
  await reload();
  const [sub] = await subscribed(h.port, 'room.r');
  old.send(frame('chat', { publish: 'room.r' }, 'still stamped'));
  const got = parseFrame(await sub!.next());
  assert.equal(got.body, 'still stamped');
  assert.match(got.headers.time ?? '', /^\d{13}$/);

  // Unloaded for good: the command has no processor any more (no reply), the connection carries on.
  h.removeModule('lhttp-test-procs');
  await reload();
  old.send(frame('ver', {}));
  await sync(old);
  for (const c of [old, fresh, sub!]) c.close();
});

test(
  'old sockets outlive the drain timeout of the version they upgraded on',
  async () => {
    const h2 = await startBundled(['lhttp'], { args: ['--drain-timeout', '300'] });
    try {
      const [oldSub] = await subscribed(h2.port, 'd');
      appendFileSync(join(h2.dir, 'lhttp.mjs'), '\n// reloaded by test\n');
      assert.match(await admin(h2.port, 'RELOAD'), /^OK /);
      // Past the drain timeout (the log line comes when the core closes old connections).
      await Promise.race([h2.waitForLog((l) => /drain timeout/.test(l.msg), 5000).catch(() => undefined), new Promise((r) => setTimeout(r, 1500))]);
      const pub = await LhttpClient.open(h2.port);
      pub.send(frame('m', { publish: 'd' }, 'later'));
      assert.equal(parseFrame(await oldSub!.next(3000)).body, 'later');
      oldSub!.close();
      pub.close();
    } finally {
      await h2.kill();
    }
  },
);
