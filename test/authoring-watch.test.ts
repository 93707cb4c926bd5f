// SPDX-License-Identifier: LGPL-3.0-or-later
// Watch mode as a module author lives in it: --watch implies graceful reloads
// (a pool route in use sees no 503 across saves), each save logs one info
// line naming module, version, ms and the changed file, and a save that
// changes nothing served says so.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { admin, exchange, ROOT, sleep, startHrmr, tempDir, type Hrmr, type LogLine } from './helpers/hrmr.ts';

const API = JSON.stringify(join(ROOT, 'shared', 'index.ts'));
/** A module with a main-thread route `M` and a pool route `P`, both answering `reply`; `extra` goes at the end. */
const mod = (reply: string, extra = ''): string =>
  [
    `import { defineModule } from ${API};`,
    'export default defineModule({',
    '  routes: [',
    `    { prefix: 'M ', message: () => ${JSON.stringify(`${reply}\n`)} },`,
    `    { prefix: 'P ', pool: true, message: () => ${JSON.stringify(`${reply}\n`)} },`,
    '  ],',
    '});',
    extra,
  ].join('\n');

async function startWatching(t: { after(fn: () => Promise<void> | void): void }, args: string[] = []): Promise<{ h: Hrmr; src: string }> {
  const root = tempDir('hrmr-awatch-');
  const src = join(root, 'modules_src');
  const out = join(root, 'modules');
  mkdirSync(src);
  mkdirSync(out);
  writeFileSync(join(src, 'pm.ts'), mod('v0'));
  const h = await startHrmr({ dir: out, cwd: root, args: ['--watch', '--src', src, ...args], env: { HRMR_TYPECHECK: '0' } });
  t.after(async () => {
    await h.kill();
    rmSync(root, { recursive: true, force: true });
  });
  await h.waitForLog((l) => l.msg === 'watching module sources');
  return { h, src };
}

async function waitForReply(h: Hrmr, line: string, want: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = '';
  while (Date.now() < deadline) {
    last = await exchange(h.port, `${line}\n`, { end: true }).catch((e: Error) => e.message);
    if (last === want) return;
    await sleep(20);
  }
  assert.fail(`${line} never answered ${JSON.stringify(want)}; last ${JSON.stringify(last)}`);
}

/** The value of the first `reloadMode` key anywhere in STATUS. */
async function reloadMode(h: Hrmr): Promise<unknown> {
  const status = await admin(h.port, 'STATUS');
  assert.match(status, /^OK \{/);
  let found: unknown;
  JSON.parse(status.slice(3), (k, v: unknown) => {
    if (k === 'reloadMode' && found === undefined) found = v;
    return v;
  });
  return found;
}

test('--watch implies --reload-mode graceful; an explicit --reload-mode 503 (or HRMR_RELOAD_MODE) wins', async (t) => {
  const [implied, explicit] = await Promise.all([startWatching(t), startWatching(t, ['--reload-mode', '503'])]);
  assert.equal(await reloadMode(implied.h), 'graceful');
  assert.equal(await reloadMode(explicit.h), '503');
  const plain = await startHrmr({ modules: {} });
  t.after(() => plain.kill());
  assert.equal(await reloadMode(plain), '503');
});

test('watch: a pool route and a main-thread route in use across saves: no 503, every reply a whole version, versions only move forward', async (t) => {
  const { h, src } = await startWatching(t);
  await waitForReply(h, 'P x', 'v0\n');
  const replies: string[] = [];
  const perClient: string[][] = [[], [], [], []];
  let stop = false;
  const deadline = Date.now() + 45_000;
  // Four clients, each a fresh connection per request (the case a swap window hits), bounded in count and time.
  const load = Array.from({ length: 4 }, async (_, i) => {
    for (let n = 0; !stop && n < 5000 && Date.now() < deadline; n++) {
      const r = `${i % 2 ? 'M' : 'P'}:${await exchange(h.port, `${i % 2 ? 'M' : 'P'} x\n`, { end: true, timeoutMs: 10_000 }).catch((e: Error) => `error ${e.message}`)}`;
      replies.push(r);
      perClient[i]!.push(r);
    }
  });
  try {
    for (let v = 1; v <= 5; v++) {
      writeFileSync(join(src, 'pm.ts'), mod(`v${v}`));
      await waitForReply(h, 'P x', `v${v}\n`);
      await waitForReply(h, 'M x', `v${v}\n`);
    }
  } finally {
    stop = true;
    await Promise.all(load);
  }
  assert.ok(replies.length > 20, `only ${replies.length} requests made`);
  const bad = replies.filter((r) => !/^[MP]:v[0-5]\n$/.test(r));
  assert.deepEqual(bad.slice(0, 5), [], `${bad.length} of ${replies.length} replies were not a version (503s: ${bad.filter((r) => r.includes('503')).length})`);
  for (const seq of perClient) {
    const versions = seq.map((r) => Number(/v(\d)/.exec(r)![1]));
    assert.deepEqual(versions, [...versions].sort((a, b) => a - b), 'a client saw an older version after a newer one');
  }
});

test('watch: one info line per save (module, version, ms, changed file); a comment-only save says nothing changed', async (t) => {
  const { h, src } = await startWatching(t);
  await waitForReply(h, 'M x', 'v0\n');
  writeFileSync(join(src, 'pm.ts'), mod('v1'));
  const line = await h.waitForLog((l) => l.watch === 'reloaded' && l.version === 2);
  assert.equal(line.level, 30);
  assert.equal(line.module, 'pm');
  assert.equal(line.change, 'reloaded');
  assert.deepEqual(line.changed, ['modules_src/pm.ts']);
  assert.equal(typeof line.ms, 'number');
  assert.match(line.msg, /^pm v2 reloaded in \d+ ms \(modules_src\/pm\.ts changed\)$/);

  // Only a comment: esbuild drops it, the built code is the same; nothing is reloaded.
  writeFileSync(join(src, 'pm.ts'), mod('v1', '// just a note'));
  const same = await h.waitForLog((l) => l.watch === 'unchanged');
  assert.equal(same.level, 30);
  assert.equal(same.msg, 'no change to serve: modules_src/pm.ts changed, but the built code is the same');
  assert.equal(await exchange(h.port, 'M x\n', { end: true }), 'v1\n');

  // A sentinel save after both: the watcher's info lines are exactly one per save.
  writeFileSync(join(src, 'pm.ts'), mod('v2'));
  await h.waitForLog((l) => l.watch === 'reloaded' && l.version === 3);
  const ours = h.logs.filter((l) => l.level === 30 && l.watch !== undefined && Array.isArray(l.changed) && (l.changed as string[]).length > 0);
  assert.deepEqual(
    ours.map((l) => l.watch),
    ['reloaded', 'unchanged', 'reloaded'],
  );
});

test(
  'watch: a save logs one info line in the whole process (the server’s reload lines go to debug)',
  async (t) => {
    const { h, src } = await startWatching(t);
    await waitForReply(h, 'M x', 'v0\n');
    const before = h.logs.length;
    writeFileSync(join(src, 'pm.ts'), mod('v1'));
    await h.waitForLog((l) => l.watch === 'reloaded' && l.version === 2);
    await waitForReply(h, 'M x', 'v1\n');
    writeFileSync(join(src, 'pm.ts'), mod('v2'));
    await h.waitForLog((l) => l.watch === 'reloaded' && l.version === 3);
    const info = h.logs.slice(before).filter((l: LogLine) => l.level >= 30);
    assert.deepEqual(
      info.map((l) => l.msg),
      [info.find((l) => l.version === 2)?.msg, info.find((l) => l.version === 3)?.msg],
    );
  },
);
