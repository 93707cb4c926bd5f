// SPDX-License-Identifier: LGPL-3.0-or-later
/**
 * Issue 26 point 4: a small cached file is sent with its head in one string
 * write (the body kept as a latin1 string beside its bytes). Every byte
 * value must come back exactly, at the edge of that size and above it,
 * whole, as a range, for HEAD and with a precompressed sibling; and the
 * cache counts both copies against `cache-size`.
 */
import assert from 'node:assert/strict';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { after, before, test } from 'node:test';
import { TEXT_MAX } from '../modules_src/http/file-store.ts';
import { buildModule } from './helpers/build-module.ts';
import { request } from './helpers/http-client.ts';
import { admin, ROOT, startHrmr, tempDir, type Hrmr } from './helpers/hrmr.ts';

let base: string;
let h: Hrmr;
const bytes = (n: number): Buffer => Buffer.from(Array.from({ length: n }, (_, i) => (i * 7 + (i >> 8)) & 0xff));
const files: Record<string, Buffer> = {
  'all.bin': bytes(256 * 3),
  'edge.bin': bytes(TEXT_MAX),
  'above.bin': bytes(TEXT_MAX + 1),
  'utf8.txt': Buffer.from('héllo wörld ✓ 𝄞\n'.repeat(20)),
};
const gzipped = gzipSync(files['utf8.txt']!);

before(async () => {
  base = tempDir('small-body-');
  const root = join(base, 'site');
  mkdirSync(root);
  for (const [n, b] of Object.entries(files)) writeFileSync(join(root, n), b);
  writeFileSync(join(root, 'utf8.txt.gz'), gzipped);
  const modules = join(base, 'modules');
  await buildModule(join(ROOT, 'modules_src', 'http.ts'), modules);
  h = await startHrmr({ dir: modules, args: ['--set', 'http.root=' + root, '--set', 'http.access-log=off'] });
});

after(async () => {
  await h?.kill();
  if (base) rmSync(base, { recursive: true, force: true });
});

test('every byte value of a small cached file comes back exactly (first read and cached hits)', async () => {
  for (const [name, want] of Object.entries(files)) {
    for (let i = 0; i < 3; i++) {
      const r = await request(h.port, `/${name}`);
      assert.equal(r.status, 200, name);
      assert.equal(Number(r.headers['content-length']), want.length, name);
      assert.ok(r.body.equals(want), `${name}, request ${i}: the bytes differ`);
    }
  }
});

test('ranges, HEAD and the gzip sibling of a small file', async () => {
  const want = files['all.bin']!;
  const part = await request(h.port, '/all.bin', { headers: { Range: 'bytes=250-260' } });
  assert.equal(part.status, 206);
  assert.ok(part.body.equals(want.subarray(250, 261)));
  const head = await request(h.port, '/all.bin', { method: 'HEAD' });
  assert.equal(head.status, 200);
  assert.equal(head.body.length, 0);
  assert.equal(Number(head.headers['content-length']), want.length);
  const gz = await request(h.port, '/utf8.txt', { headers: { 'Accept-Encoding': 'gzip' } });
  assert.equal(gz.headers['content-encoding'], 'gzip');
  assert.ok(gz.body.equals(gzipped), 'the sibling, byte for byte');
});

test('STATUS counts the string copy of small files against cache-size', async () => {
  for (const name of Object.keys(files)) await request(h.port, `/${name}`);
  const reply = await admin(h.port, 'STATUS');
  const mods = (JSON.parse(reply.slice(3)) as { modules: Array<{ name: string; status?: { cache: { bytes: number } } }> }).modules;
  const cache = mods.find((m) => m.name === 'http')!.status!.cache;
  const small = files['all.bin']!.length + files['edge.bin']!.length;
  const utf8 = files['utf8.txt']!.length + gzipped.length;
  // Small files twice (bytes and string), the one above TEXT_MAX once.
  assert.ok(cache.bytes >= 2 * small + files['above.bin']!.length + utf8, `cache bytes ${cache.bytes}`);
});
