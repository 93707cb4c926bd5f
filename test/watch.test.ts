// SPDX-License-Identifier: LGPL-3.0-or-later
// Watch mode against the real server: edits serve without a restart, a bad
// save keeps the old version, bursts coalesce, files come and go.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { admin, exchange, ROOT, startHrmr, tempDir, type Hrmr, type LogLine } from './helpers/hrmr.ts';
import { planChanges } from '../src/build/watch-plan.ts';
import { ignoredPath } from '../src/build/watch.ts';

const API = JSON.stringify(join(ROOT, 'shared', 'index.ts'));
const lineModule = (prefix: string, reply: string): string => `import { lineRoute } from ${API};\nexport default { routes: [lineRoute(${JSON.stringify(prefix)}, () => ${JSON.stringify(reply)})] };\n`;

/**
 * Waits until `line` answers `want`: tries once, then again after each new
 * log line the server writes (every build, reload and unload logs one), so
 * it waits on events, not on a timer; fails at `timeoutMs`.
 */
async function waitForReply(h: Hrmr, line: string, want: string, timeoutMs = 8000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = '';
  for (;;) {
    const seen = h.logs.length;
    last = await exchange(h.port, `${line}\n`, { end: true }).catch((e: Error) => e.message);
    if (last === want) return;
    const left = deadline - Date.now();
    if (left <= 0) break;
    await h.waitForLog(() => h.logs.length > seen, left).catch(() => undefined);
  }
  assert.fail(`${line} never answered ${JSON.stringify(want)}; last: ${JSON.stringify(last)}\nlogs:\n${h.logs.map((l) => JSON.stringify(l).slice(0, 300)).join('\n')}`);
}

interface Swap {
  module: string;
  change: string;
  version: number | null;
}
/** The watcher's one info line per save that swapped something (the initial build excluded). */
const saves = (h: Hrmr): LogLine[] => h.logs.filter((l) => l.watch === 'reloaded' && Array.isArray(l.changed) && l.changed.length > 0);
const swapsOf = (l: LogLine): Swap[] => l.modules as Swap[];
const reloadsOf = (h: Hrmr, module: string): Swap[] => saves(h).flatMap(swapsOf).filter((s) => s.module === module);

async function startWatching(files: Record<string, string>): Promise<{ h: Hrmr; src: string; root: string }> {
  const root = tempDir('hrmr-watch-');
  const src = join(root, 'modules_src');
  const out = join(root, 'modules');
  mkdirSync(out, { recursive: true });
  for (const [name, text] of Object.entries(files)) {
    mkdirSync(join(src, name, '..'), { recursive: true });
    writeFileSync(join(src, name), text);
  }
  const h = await startHrmr({ dir: out, cwd: root, args: ['--watch', '--src', src] });
  await h.waitForLog((l) => l.msg === 'watching module sources');
  return { h, src, root };
}

test('plan: an entry rebuilds itself, a helper its dependents, a deletion unloads, failing entries retry', () => {
  const entries = new Map([['a', '/s/a.ts'], ['b', '/s/b.ts'], ['c', '/s/c.ts']]);
  const inputs = new Map([['a', new Set(['/s/a.ts', '/s/lib/x.ts'])], ['b', new Set(['/s/b.ts'])]]);
  const s = { srcDir: '/s', entries, inputs, failing: new Set(['c']) };
  const p1 = planChanges(new Map([['/s/lib/x.ts', 'change' as const]]), s);
  assert.deepEqual([...p1.build.keys()].sort(), ['a', 'c']);
  const p2 = planChanges(new Map([['/s/b.ts', 'unlink' as const], ['/s/new.ts', 'add' as const]]), s);
  assert.deepEqual([...p2.remove], ['b']);
  assert.deepEqual([...p2.build.keys()].sort(), ['c', 'new']);
  assert.equal(ignoredPath('/s/.x.ts.swp', true), true);
  assert.equal(ignoredPath('/s/notes.md', true), true);
  assert.equal(ignoredPath('/s/lib', false), false);
  assert.equal(ignoredPath('/s/a.ts', true), false);
});

test('watch: edit serves without a restart; a bad save keeps the old version and logs file:line:column; the next good save reloads', async () => {
  const { h, src, root } = await startWatching({ 'echo.ts': lineModule('ECHO', 'v1') });
  try {
    await waitForReply(h, 'ECHO', 'v1\n');
    const pid = h.proc.pid;
    writeFileSync(join(src, 'echo.ts'), lineModule('ECHO', 'v2'));
    await waitForReply(h, 'ECHO', 'v2\n');
    const line = await h.waitForLog((l) => l.watch === 'reloaded' && l.module === 'echo' && l.change === 'reloaded');
    assert.deepEqual(line.changed, ['modules_src/echo.ts']);
    assert.equal(line.version, 2);
    assert.equal(typeof line.ms, 'number');
    assert.equal(h.proc.pid, pid);

    writeFileSync(join(src, 'echo.ts'), `import { lineRoute } from ${API};\nexport default { routes: [lineRoute('ECHO', () => 'v3' +)] };\n`);
    const err = await h.waitForLog((l) => typeof l.msg === 'string' && l.msg.startsWith('build failed'));
    assert.match(err.msg, /echo\.ts:2:\d+: error: /);
    assert.equal(err.module, 'echo');
    assert.equal(await exchange(h.port, 'ECHO\n', { end: true }), 'v2\n');

    writeFileSync(join(src, 'echo.ts'), lineModule('ECHO', 'v4'));
    await waitForReply(h, 'ECHO', 'v4\n');
  } finally {
    await h.kill();
    rmSync(root, { recursive: true, force: true });
  }
});

test('watch: a burst of saves (several files, repeated writes) gives one reload; a helper change reloads its dependents', async () => {
  const { h, src, root } = await startWatching({
    'a.ts': `import { lineRoute } from ${API};\nimport { word } from './lib/word.ts';\nexport default { routes: [lineRoute('AAA', () => 'a ' + word)] };\n`,
    'b.ts': `import { lineRoute } from ${API};\nimport { word } from './lib/word.ts';\nexport default { routes: [lineRoute('BBB', () => 'b ' + word)] };\n`,
    'c.ts': lineModule('CCC', 'c1'),
    'lib/word.ts': `export const word = 'one';\n`,
  });
  try {
    await waitForReply(h, 'AAA', 'a one\n');
    // An editor saving everything at once.
    for (let i = 0; i < 5; i++) {
      writeFileSync(join(src, 'lib', 'word.ts'), `export const word = 'two${i}';\n`);
      writeFileSync(join(src, 'c.ts'), lineModule('CCC', `c${i + 2}`));
    }
    await waitForReply(h, 'AAA', 'a two4\n');
    await waitForReply(h, 'BBB', 'b two4\n');
    await waitForReply(h, 'CCC', 'c6\n');
    await h.waitForLog((l) => l.watch === 'reloaded' && swapsOf(l).some((s) => s.module === 'c'));
    // No fixed wait for stragglers: a sentinel save after the burst. The watcher handles changes in order,
    // so a second reload caused by the burst would be logged before the sentinel's.
    writeFileSync(join(src, 'zsentinel.ts'), lineModule('ZSENT', 'z'));
    await waitForReply(h, 'ZSENT', 'z\n');
    await h.waitForLog((l) => l.watch === 'reloaded' && swapsOf(l).some((s) => s.module === 'zsentinel'));
    const swaps = saves(h).filter((l) => !swapsOf(l).some((s) => s.module === 'zsentinel'));
    assert.equal(swaps.length, 1, `reloads: ${swaps.map((l) => JSON.stringify(l)).join('\n')}`);
    assert.deepEqual(swapsOf(swaps[0]!).map((s) => `${s.module} ${s.change}`).sort(), ['a reloaded', 'b reloaded', 'c reloaded']);
    assert.equal(reloadsOf(h, 'c').length, 1);
  } finally {
    await h.kill();
    rmSync(root, { recursive: true, force: true });
  }
});

test('watch: a module file added appears, a deleted one is unloaded; SHUTDOWN closes the watcher and exits 0', async () => {
  const { h, src, root } = await startWatching({ 'keep.ts': lineModule('KEEP', 'kept') });
  try {
    await waitForReply(h, 'KEEP', 'kept\n');
    assert.equal(await exchange(h.port, 'NEWB\n', { end: true }), 'ERR no route\n');
    writeFileSync(join(src, 'newb.ts'), lineModule('NEWB', 'fresh'));
    await waitForReply(h, 'NEWB', 'fresh\n');
    unlinkSync(join(src, 'newb.ts'));
    await waitForReply(h, 'NEWB', 'ERR no route\n');
    await h.waitForLog((l) => l.watch === 'reloaded' && swapsOf(l).some((s) => s.module === 'newb' && s.change === 'unloaded'));
    assert.equal(await exchange(h.port, 'KEEP\n', { end: true }), 'kept\n');
    assert.match(await admin(h.port, 'SHUTDOWN'), /^OK/);
    assert.equal(await h.exited, 0);
  } finally {
    await h.kill();
    rmSync(root, { recursive: true, force: true });
  }
});
