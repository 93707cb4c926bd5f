// SPDX-License-Identifier: LGPL-3.0-or-later
// The example module modules_src/hash.ts promises "scrypt on the worker
// pool, fast digests on the main thread". Checked from outside, without
// touching the module: every scrypt line is a completed pool task in STATUS
// (fast digests are not), and the main thread answers a fast digest while a
// batch of scrypt lines is still being worked on (scrypt on the main thread
// would hold the event loop for the whole batch).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, scryptSync } from 'node:crypto';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { buildModule } from './helpers/build-module.ts';
import { admin, LineClient, ROOT, startHrmr, tempDir } from './helpers/hrmr.ts';

async function completed(port: number): Promise<number> {
  const r = await admin(port, 'STATUS');
  assert.match(r, /^OK \{/);
  return (JSON.parse(r.slice(3)) as { pool: { completed: number } }).pool.completed;
}

test('hash: scrypt runs as pool tasks, off the main thread; fast digests stay on the main thread', async (t) => {
  const dir = tempDir();
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  await buildModule(join(ROOT, 'modules_src', 'hash.ts'), dir);
  const h = await startHrmr({ dir, args: ['--threads', '2'] });
  t.after(() => h.kill());
  const expected = scryptSync('pw', 'hrmr-example', 32, { N: 1 << 15, r: 8, p: 1, maxmem: 64 << 20 }).toString('hex');

  // Fast digests: no pool task.
  const c0 = await completed(h.port);
  const fast = await LineClient.open(h.port);
  assert.equal(await fast.request('HASH sha256 a'), createHash('sha256').update('a').digest('hex'));
  assert.equal(await fast.request('HASH md5 b'), createHash('md5').update('b').digest('hex'));
  assert.equal(await completed(h.port), c0, 'fast digests did not go through the pool');

  // A batch of scrypt lines (each ~50 ms of CPU): every one is a pool task.
  const N = 12;
  const slow = await LineClient.open(h.port);
  const order: string[] = [];
  slow.socket.write('HASH scrypt pw\n'.repeat(N));
  const replies = (async () => {
    for (let i = 0; i < N; i++) {
      assert.equal(await slow.read(30_000), expected, `scrypt reply ${i}`);
      order.push('scrypt');
    }
  })();
  // Sent right after the batch: the main thread answers it before the batch is done.
  assert.equal(await fast.request('HASH sha1 c'), createHash('sha1').update('c').digest('hex'));
  order.push('fast');
  await replies;
  assert.ok(order.indexOf('fast') < N, `the fast digest waited for the whole scrypt batch: ${order.join(',')}`);
  assert.equal((await completed(h.port)) - c0, N, 'each scrypt line was a completed pool task');
  fast.close();
  slow.close();
});
