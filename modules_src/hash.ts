// SPDX-License-Identifier: MIT
/**
 * Example module: a line protocol that hashes text.
 *
 *   HASH sha256 hello        -> 2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824
 *   HASH md5 hello           -> 5d41402abc4b2a76b9719d911017c592
 *   HASH scrypt hello        -> (64 hex chars; deliberately slow, runs on the worker pool)
 *
 * Two routes show longest-prefix routing: `HASH scrypt ` is longer than
 * `HASH `, so scrypt requests go to the pool route and the rest stay on the
 * main thread, where a fast hash costs less than a hop to a worker.
 * Copy this file to start a module of your own.
 */
import { createHash, getHashes, scryptSync } from 'node:crypto';
import { defineModule, lineRoute, splitWord } from '../shared/index.ts';

const FAST = new Set(getHashes().filter((h) => /^(md5|sha1|sha256|sha384|sha512|sha3-256|sha3-512)$/.test(h)));
// A fixed salt keeps the example deterministic; a real password hash would use a random one.
const SALT = 'hrmr-example';

export default defineModule({
  routes: [
    // CPU-heavy: ~50 ms of scrypt per line. On the pool it never stalls other connections.
    lineRoute('HASH scrypt ', (line) => scryptSync(line.slice('HASH scrypt '.length), SALT, 32, { N: 1 << 15, r: 8, p: 1, maxmem: 64 << 20 }).toString('hex'), { pool: true }),
    lineRoute('HASH ', (line) => {
      const [algo, text] = splitWord(line.slice('HASH '.length));
      if (!FAST.has(algo)) return `ERR unknown algorithm ${algo} (try: ${[...FAST, 'scrypt'].join(', ')})`;
      return createHash(algo).update(text).digest('hex');
    }),
  ],
});
