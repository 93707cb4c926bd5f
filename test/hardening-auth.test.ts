// SPDX-License-Identifier: LGPL-3.0-or-later
// Issue 16, point 3: AUTH guesses are limited (3 wrong tokens close the
// connection), each failure is logged at warn with the peer, and counted in STATUS.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { LineClient, startHrmr } from './helpers/hrmr.ts';

const TOKEN = 's3cret-token';

test('three wrong AUTH tokens close the connection; each is logged at warn and counted', async (t) => {
  const h = await startHrmr({ args: ['--admin-token', TOKEN] });
  t.after(() => h.kill());

  // Two wrong guesses leave the session open: the right token still works.
  const ok = await LineClient.open(h.port);
  assert.equal(await ok.request('AUTH guess-1'), 'ERR forbidden');
  assert.equal(await ok.request('AUTH guess-2'), 'ERR forbidden');
  assert.equal(await ok.request(`AUTH ${TOKEN}`), 'OK');
  ok.close();

  // A flood of guesses on one connection: three answers, then the server closes it.
  const c = await LineClient.open(h.port);
  const peer = `127.0.0.1:${c.socket.localPort}`;
  const guesses = Array.from({ length: 2000 }, (_, i) => `AUTH guess-${i}\n`).join('');
  c.socket.write(guesses);
  const replies: Array<string | null> = [];
  for (let i = 0; i < 4; i++) replies.push(await c.read(10_000));
  assert.deepEqual(replies, ['ERR forbidden', 'ERR forbidden', 'ERR forbidden', null]);

  const warn = await h.waitForLog((l) => l.level === 40 && l.msg === 'admin AUTH failed: wrong token' && l.peer === peer && l.failures === 3);
  assert.equal(warn.closing, true);
  assert.equal(h.logs.filter((l) => l.level === 40 && l.msg === 'admin AUTH failed: wrong token').length, 5);

  const a = await LineClient.open(h.port);
  assert.equal(await a.request(`AUTH ${TOKEN}`), 'OK');
  const st = await a.request('STATUS');
  a.close();
  assert.match(st!, /^OK \{/);
  assert.equal((JSON.parse(st!.slice(3)) as { authFailures: number }).authFailures, 5);
});
