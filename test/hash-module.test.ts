// SPDX-License-Identifier: LGPL-3.0-or-later
// The example module modules_src/hash.ts, built and served for real.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, scryptSync } from 'node:crypto';
import { join } from 'node:path';
import { buildModule } from './helpers/build-module.ts';
import { LineClient, ROOT, startHrmr, tempDir } from './helpers/hrmr.ts';

test('hash: fast digests on the main thread, scrypt on the pool', async (t) => {
  const dir = tempDir();
  await buildModule(join(ROOT, 'modules_src', 'hash.ts'), dir);
  const h = await startHrmr({ dir });
  t.after(() => h.kill());

  const c = await LineClient.open(h.port);
  assert.equal(await c.request('HASH sha256 hello'), createHash('sha256').update('hello').digest('hex'));
  assert.equal(await c.request('HASH md5 hello world'), createHash('md5').update('hello world').digest('hex'));
  assert.match((await c.request('HASH nope x'))!, /^ERR unknown algorithm nope/);
  c.close();

  const p = await LineClient.open(h.port);
  const expected = scryptSync('pw', 'hrmr-example', 32, { N: 1 << 15, r: 8, p: 1, maxmem: 64 << 20 }).toString('hex');
  p.socket.write('HASH scrypt pw\nHASH scrypt pw\n');
  assert.equal(await p.read(), expected);
  assert.equal(await p.read(), expected);
  p.close();
});
