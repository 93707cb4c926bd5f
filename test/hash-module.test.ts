// SPDX-License-Identifier: LGPL-3.0-or-later
// The example module modules_src/hash.ts, built and served for real.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, scryptSync } from 'node:crypto';
import { join } from 'node:path';
import { buildModule } from './helpers/build-module.ts';
import { LineClient, ROOT, startHrmr, tempDir, type Hrmr } from './helpers/hrmr.ts';

const scrypt = (text: string): string => scryptSync(text, 'hrmr-example', 32, { N: 1 << 15, r: 8, p: 1, maxmem: 64 << 20 }).toString('hex');
const digest = (algo: string, text: string): string => createHash(algo).update(text).digest('hex');

async function serve(t: { after(fn: () => Promise<void>): void }): Promise<Hrmr> {
  const dir = tempDir();
  await buildModule(join(ROOT, 'modules_src', 'hash.ts'), dir);
  const h = await startHrmr({ dir });
  t.after(() => h.kill());
  return h;
}

/** Sends all lines at once on one connection and reads one reply per line. */
async function batch(h: Hrmr, lines: string[]): Promise<Array<string | null>> {
  const c = await LineClient.open(h.port);
  try {
    c.socket.write(lines.map((l) => `${l}\n`).join(''));
    const out: Array<string | null> = [];
    for (let i = 0; i < lines.length; i++) out.push(await c.read());
    return out;
  } finally {
    c.close();
  }
}

test('hash: fast digests on the main thread, scrypt on the pool', async (t) => {
  const h = await serve(t);
  const c = await LineClient.open(h.port);
  assert.equal(await c.request('HASH sha256 hello'), digest('sha256', 'hello'));
  assert.equal(await c.request('HASH md5 hello world'), digest('md5', 'hello world'));
  assert.match((await c.request('HASH nope x'))!, /^ERR unknown algorithm nope \(try: .*sha256.*scrypt\)$/);
  c.close();

  const p = await LineClient.open(h.port);
  const expected = scrypt('pw');
  p.socket.write('HASH scrypt pw\nHASH scrypt pw\n');
  assert.equal(await p.read(), expected);
  assert.equal(await p.read(), expected);
  p.close();
});

test('hash: every line of a connection gets the hash it names, whatever the first line was', async (t) => {
  const h = await serve(t);
  // Opened by a scrypt line (the pool route), then fast hashes, then scrypt again.
  assert.deepEqual(await batch(h, ['HASH scrypt x', 'HASH sha256 x', 'HASH md5 hello', 'HASH scrypt y', 'HASH sha1 ']), [
    scrypt('x'),
    digest('sha256', 'x'),
    digest('md5', 'hello'),
    scrypt('y'),
    digest('sha1', ''),
  ]);
  // Opened by a fast hash (the main-thread route), then scrypt.
  assert.deepEqual(await batch(h, ['HASH sha512 a b c', 'HASH scrypt a b c', 'HASH sha3-256 a']), [digest('sha512', 'a b c'), scrypt('a b c'), digest('sha3-256', 'a')]);
});

test('hash: a line that names no hash gets an ERR saying why, and later lines are still answered', async (t) => {
  const h = await serve(t);
  const replies = await batch(h, ['HASH sha256 x', 'HASH sha256', 'HASH  x', 'HASH SHA256 x', 'HASH md5 ok']);
  // The list of algorithms follows the OpenSSL build's order.
  assert.match(replies[3]!, /^ERR unknown algorithm SHA256 \(try: (md5|sha1|sha256|sha384|sha512|sha3-256|sha3-512)(, (md5|sha1|sha256|sha384|sha512|sha3-256|sha3-512))+, scrypt\)$/);
  assert.deepEqual(replies, [digest('sha256', 'x'), 'ERR usage: HASH <algorithm> <text>', 'ERR usage: HASH <algorithm> <text>', replies[3], digest('md5', 'ok')]);
  // A line outside the module's routes is not taken for a hash (the core answers it).
  const c = await LineClient.open(h.port);
  c.socket.write('HASH sha256 x\nSTATUS\n');
  assert.equal(await c.read(), digest('sha256', 'x'));
  const second = await c.read();
  assert.equal(second, 'ERR no route');
  c.close();
});
