// SPDX-License-Identifier: MIT
/**
 * Example module: a line protocol that hashes text.
 *
 *   HASH sha256 hello        -> 2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824
 *   HASH md5 hello           -> 5d41402abc4b2a76b9719d911017c592
 *   HASH scrypt hello        -> (64 hex chars; deliberately slow, runs on the worker pool)
 *   HASH nope hello          -> ERR unknown algorithm nope (try: md5, sha1, ...)
 *   HASH sha256              -> ERR usage: HASH <algorithm> <text>
 *
 * Two routes show longest-prefix routing: `HASH scrypt ` is longer than
 * `HASH `, so scrypt requests go to the pool route and the rest stay on the
 * main thread, where a fast hash costs less than a hop to a worker. hrmr
 * sends each line of a connection to the longest-matching route of this
 * module, and a line that matches none gets `ERR no route`.
 *
 * Handle every line in full: both handlers parse the whole line with the
 * same function instead of trusting the prefix that routed it (never cut a
 * fixed length off a line), so each line gets the hash it names or an `ERR`
 * that says why, never a wrong hash.
 * Copy this file to start a module of your own.
 */
import { createHash, getHashes, scryptSync } from 'node:crypto';
import { defineModule, lineRoute } from '../shared/index.ts';

const FAST = new Set(getHashes().filter((h) => /^(md5|sha1|sha256|sha384|sha512|sha3-256|sha3-512)$/.test(h)));
const ALGORITHMS = [...FAST, 'scrypt'].join(', ');
const USAGE = 'ERR usage: HASH <algorithm> <text>';
// A fixed salt keeps the example deterministic; a real password hash would use a random one.
const SALT = 'hrmr-example';

/** ~50 ms of CPU: on the pool it never stalls other connections. */
function scrypt(text: string): string {
  return scryptSync(text, SALT, 32, { N: 1 << 15, r: 8, p: 1, maxmem: 64 << 20 }).toString('hex');
}

/**
 * The reply to one line: `HASH <algorithm> <text>` (the algorithm as listed,
 * lower case; the text is everything after the second space, possibly empty).
 */
export function hashLine(line: string): string {
  if (!line.startsWith('HASH ')) return USAGE;
  const rest = line.slice('HASH '.length);
  const sp = rest.indexOf(' ');
  if (sp <= 0) return USAGE;
  const algo = rest.slice(0, sp);
  const text = rest.slice(sp + 1);
  if (algo === 'scrypt') return scrypt(text);
  if (FAST.has(algo)) return createHash(algo).update(text).digest('hex');
  return `ERR unknown algorithm ${algo.slice(0, 32)} (try: ${ALGORITHMS})`;
}

export default defineModule({
  routes: [
    // CPU-heavy scrypt on the pool; the same parser as the main-thread route, so any line it is given is answered right.
    lineRoute('HASH scrypt ', hashLine, { pool: true }),
    lineRoute('HASH ', hashLine),
  ],
});
