// SPDX-License-Identifier: LGPL-3.0-or-later
/**
 * Every bundled module reads its `--set` values through the shared settings
 * helpers: one bad value per module fails that module's load with the one
 * format (`NAME: bad setting KEY=VALUE: expected ...`), in the log line at
 * start-up and in the RELOAD reply; the other modules keep serving.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { startBundled } from './helpers/bundled.ts';
import { admin, exchange } from './helpers/hrmr.ts';

const BAD: ReadonlyArray<[module: string, key: string, value: string, expected: RegExp]> = [
  // 5k is a size, not a duration (lhttp used to read it as 5120 ms).
  ['lhttp', 'upstream_timeout', '5k', /expected a duration from 1ms to 10m/],
  ['relay', 'tunnel_maxlen', 'lots', /expected a whole number from 1 to 10000000/],
  ['rhttp', 'timeout', 'soon', /expected a duration from 10ms to 24h \(seconds, or with a unit/],
  ['db', 'readonly', 'maybe', /expected one of 1, true, yes, on, 0, false, no, off/],
  ['http', 'cache-size', '12q', /expected a size from 0 to 16g/],
];

test('a bad value for each bundled module: the one error format, in the log and the RELOAD reply', { timeout: 120_000 }, async () => {
  const args = BAD.flatMap(([m, k, v]) => ['--set', `${m}.${k}=${v}`]);
  const h = await startBundled(['hash', ...BAD.map(([m]) => m)], { args });
  try {
    // The module without settings still loads and serves.
    assert.equal(await exchange(h.port, 'HASH md5 hello\n', { end: true, timeoutMs: 10_000 }), '5d41402abc4b2a76b9719d911017c592\n');
    for (const [m, k, v, expected] of BAD) {
      const line = await h.waitForLog((l) => l.level >= 50 && l.module === m, 30_000);
      const text = `${m}: bad setting ${k}=${v}: expected`;
      assert.ok(line.msg.includes(text), `${m}: ${line.msg}`);
      assert.match(line.msg, expected);
      assert.match(line.msg, /not loaded$/);
    }
    const status = JSON.parse((await admin(h.port, 'STATUS')).slice(3)) as { modules: Array<{ name: string }> };
    assert.deepEqual(
      status.modules.map((x) => x.name),
      ['hash'],
    );
    // A RELOAD tries them again and names every failure in the same words.
    const reply = await admin(h.port, 'RELOAD');
    assert.match(reply, /^ERR reload failed for 5 modules: /);
    for (const [m, k, v, expected] of BAD) {
      assert.ok(reply.includes(`${m}: bad setting ${k}=${v}: expected`), reply);
      assert.match(reply, expected);
    }
  } finally {
    await h.kill();
  }
});
