// SPDX-License-Identifier: LGPL-3.0-or-later
// The bundled modules beside a project's own (issue 21, point 2): loaded from
// hrmr's modules/ by default, chosen with --bundled / HRMR_BUNDLED, replaced
// by a project module of the same name, never loaded twice in a clone; and a
// --modules folder outside any project still resolves its npm packages.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { exchange, ROOT, runCli, startHrmr, tempDir } from './helpers/hrmr.ts';

function loaded(logs: ReadonlyArray<{ msg: string; module?: unknown }>): string[] {
  return logs
    .filter((l) => l.msg === 'module loaded')
    .map((l) => String(l.module))
    .sort();
}

test('--bundled hash,relay loads those two beside --modules; a project module named hash replaces the bundled one', { timeout: 120_000 }, async (t) => {
  const dir = tempDir('hrmr-bundled-');
  writeFileSync(join(dir, 'hash.mjs'), `export default { routes: [{ prefix: 'HASH ', message: () => 'mine\\n' }] };\n`);
  writeFileSync(join(dir, 'mine.mjs'), `export default { routes: [{ prefix: 'MINE', message: () => 'yes\\n' }] };\n`);
  const h = await startHrmr({ dir, args: ['--bundled', 'hash,relay'], cwd: dir });
  t.after(() => h.kill());
  await h.waitForLog((l) => l.msg === 'listening', 60_000);
  assert.deepEqual(loaded(h.logs), ['hash', 'mine', 'relay']);
  assert.equal(await exchange(h.port, 'HASH md5 x\n', { end: true }), 'mine\n', 'the project module replaced the bundled hash');
  assert.equal(await exchange(h.port, 'MINE\n', { end: true }), 'yes\n');
  const r = await fetch(`http://127.0.0.1:${h.port}/health`);
  assert.equal(r.status, 200, 'the bundled relay serves');
  const hashLine = h.logs.find((l) => l.msg === 'module loaded' && l.module === 'hash')!;
  assert.equal(hashLine.file, join(dir, 'hash.mjs'));
});

test('HRMR_BUNDLED=all (the default) loads all 7 beside the project; HRMR_BUNDLED=none none; a bad name exits 2', { timeout: 120_000 }, async (t) => {
  const dir = tempDir('hrmr-bundled-');
  writeFileSync(join(dir, 'mine.mjs'), `export default { routes: [{ prefix: 'MINE', message: () => 'yes\\n' }] };\n`);
  const all = await startHrmr({ dir, env: { HRMR_BUNDLED: 'all' }, cwd: dir });
  t.after(() => all.kill());
  await all.waitForLog((l) => l.msg === 'listening', 90_000);
  assert.deepEqual(loaded(all.logs), ['db', 'hash', 'http', 'lhttp', 'lhttp-chat', 'mine', 'relay', 'rhttp']);
  assert.match(await exchange(all.port, 'HASH md5 hello\n', { end: true }), /^5d41402abc4b2a76b9719d911017c592/);
  const bad = await runCli(['--port', '0', '--modules', dir, '--bundled', 'hash,nosuch'], { timeoutMs: 30_000 });
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /--bundled takes all, none or names from db, hash, http, lhttp, lhttp-chat, relay, rhttp \(got "nosuch"\)/);
});

test("in a clone serving its own modules/, the bundled modules are not loaded twice", { timeout: 120_000 }, async (t) => {
  const h = await startHrmr({ dir: join(ROOT, 'modules'), env: { HRMR_BUNDLED: 'all' }, args: ['--set', 'db.path=:memory:'] });
  t.after(() => h.proc.kill('SIGKILL'));
  await h.waitForLog((l) => l.msg === 'listening', 90_000);
  const names = loaded(h.logs);
  assert.deepEqual(names, [...new Set(names)], 'each module once');
  assert.ok(names.includes('hash'));
  assert.ok(!h.logs.some((l) => l.msg === 'route conflict'), 'no conflicts with itself');
});

test("a --modules folder outside any project resolves its modules' npm packages (lhttp imports ws, relay ioredis)", { timeout: 120_000 }, async (t) => {
  const outside = tempDir('hrmr-outside-');
  const dir = join(outside, 'mods');
  mkdirSync(dir);
  for (const n of ['lhttp', 'relay']) {
    copyFileSync(join(ROOT, 'modules', `${n}.mjs`), join(dir, `${n}.mjs`));
    copyFileSync(join(ROOT, 'modules', `${n}.mjs.map`), join(dir, `${n}.mjs.map`));
  }
  writeFileSync(join(dir, 'pg-user.mjs'), `import pg from 'pg';\nexport default { routes: [{ prefix: 'PG?', message: () => typeof pg.Pool + '\\n' }] };\n`);
  const h = await startHrmr({ dir, cwd: outside });
  t.after(async () => {
    await h.kill();
    rmSync(outside, { recursive: true, force: true });
  });
  await h.waitForLog((l) => l.msg === 'listening', 60_000);
  assert.deepEqual(loaded(h.logs), ['lhttp', 'pg-user', 'relay'], h.stderr() + JSON.stringify(h.logs.filter((l) => l.level >= 50)));
  assert.equal(await exchange(h.port, 'PG?\n', { end: true }), 'function\n');
});
