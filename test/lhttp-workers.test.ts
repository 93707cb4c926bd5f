// SPDX-License-Identifier: LGPL-3.0-or-later
/** With --workers N > 1 the lhttp memory bus refuses to load, naming the setting; other modules serve. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { startBundled } from './helpers/bundled.ts';
import { exchange } from './helpers/hrmr.ts';

test('lhttp without Redis refuses to load under --workers 2; the hash module still serves', async () => {
  const h = await startBundled(['lhttp', 'hash'], { args: ['--workers', '2', '--log-level', 'info'] });
  try {
    const line = await h.waitForLog((l) => l.msg === 'some modules failed to load; the rest are serving');
    assert.match(JSON.stringify(line.failed), /lhttp: the memory bus cannot connect 2 server processes; give a Redis URL \(--redis URL or --set lhttp.redis=URL\)/);
    assert.match(await exchange(h.port, 'HASH md5 hello\n', { end: true }), /^5d41402abc4b2a76b9719d911017c592/);
  } finally {
    // SIGTERM first: the supervisor stops its worker processes.
    h.proc.kill('SIGTERM');
    await h.exited;
    await h.kill();
  }
});
