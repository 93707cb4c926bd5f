// SPDX-License-Identifier: LGPL-3.0-or-later
/**
 * Source text of the modules the soak loads. Each is one self-contained .mjs
 * file (as the build produces), so one reload is one import. `tag` is baked
 * into the text so a rewrite with a new tag really changes the module.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * The everyday module:
 * - `PING <n>` -> `PONG <n> <tag>` (message route, line framing)
 * - `STRM ...`: stream route echoing every byte back (the client sees its own lines)
 * - `ECHO <text>` -> `<text>` (message route; replies as big as the request)
 * - `HOLD`: stream route that keeps the socket and does nothing (idle connections)
 * - `HI`: stream route answering `HELLO` and closing (connection rate)
 * - `SLOWPREFIX-THAT-NEVER-COMPLETES`: only there so a slow client's bytes stay a partial prefix
 * setup awaits a short timer so a reload has a real window.
 */
export function coreModule(tag, setupMs = 5) {
  return `// soak core module, tag ${tag}
const TAG = ${JSON.stringify(tag)};
export default {
  name: 'core',
  async setup() { await new Promise((r) => setTimeout(r, ${setupMs})); },
  routes: [
    { prefix: 'PING', message: (m) => 'PONG' + m.toString('latin1', 4) + ' ' + TAG + '\\n' },
    { prefix: 'ECHO ', message: (m) => Buffer.concat([m.subarray(5), Buffer.from('\\n')]) },
    { prefix: 'STRM', connection(s) { s.on('data', (d) => s.write(d)); } },
    { prefix: 'HOLD', connection(s) { s.on('error', () => {}); s.resume(); } },
    { prefix: 'HI', connection(s) { s.end('HELLO\\n'); } },
    { prefix: 'SLOWPREFIX-THAT-NEVER-COMPLETES', connection(s) { s.end('SLOW\\n'); } },
  ],
};
`;
}

/** A small module for the memory-across-reloads section; `content` changes every reload. */
export function smallModule(i, content) {
  return `// soak small module ${i}
const CONTENT = ${JSON.stringify(content)};
const table = new Map([[1, CONTENT], [2, CONTENT + '!']]);
export default {
  name: 'small${i}',
  routes: [{ prefix: 'S${i} ', message: (m) => 'S${i} ' + table.get(1) + ' ' + m.length + '\\n' }],
};
`;
}

/** A pool module (reloaded like the small ones): `PMEM` answers the worker's heapUsed after a GC. */
export function poolModule(content) {
  return `// soak pool module
const CONTENT = ${JSON.stringify(content)};
export default {
  name: 'poolmem',
  routes: [{ prefix: 'PMEM', pool: true, message: () => {
    globalThis.gc?.();
    const m = process.memoryUsage();
    return JSON.stringify({ heapUsed: m.heapUsed, content: CONTENT, gc: typeof globalThis.gc === 'function' }) + '\\n';
  } }],
};
`;
}

/** Main-thread memory probe (never reloaded): `MEM` answers memoryUsage after a GC. */
export const PROBE_MODULE = `// soak memory probe
export default {
  name: 'probe',
  routes: [{ prefix: 'MEM', message: () => {
    globalThis.gc?.();
    globalThis.gc?.();
    const m = process.memoryUsage();
    return JSON.stringify({ rss: m.rss, heapUsed: m.heapUsed, external: m.external, gc: typeof globalThis.gc === 'function' }) + '\\n';
  } }],
};
`;

/** A temp modules folder with these files; returns { dir, write(name, src), remove() }. */
export function modulesDir(files) {
  const dir = mkdtempSync(join(tmpdir(), 'hrmr-soak-'));
  mkdirSync(dir, { recursive: true });
  const write = (name, src) => writeFileSync(join(dir, `${name}.mjs`), src);
  for (const [n, s] of Object.entries(files)) write(n, s);
  return { dir, write, remove: () => rmSync(dir, { recursive: true, force: true }) };
}
