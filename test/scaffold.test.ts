// SPDX-License-Identifier: LGPL-3.0-or-later
// `hrmr new`: names and prefixes are validated, nothing is overwritten, and
// the starter module builds and serves as is (main thread and pool).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { exchange, ROOT, runCli, startHrmr, tempDir } from './helpers/hrmr.ts';
import { defaultPrefix, renderModule, sharedImport, validateName, validatePrefix } from '../src/cli/scaffold.ts';
import { UsageError } from '../src/errors.ts';

test('names are a-z, 0-9, _ and -; the default prefix is the name upper-cased plus a space', () => {
  for (const ok of ['echo', 'kv_store', 'http-2', '9p']) assert.doesNotThrow(() => validateName(ok));
  for (const bad of ['', 'Echo', 'a/b', '../x', 'a b', 'x.ts', 'é', 'a'.repeat(65)]) assert.throws(() => validateName(bad), UsageError, bad);
  assert.equal(defaultPrefix('kv_store'), 'KV_STORE ');
});

test('prefixes starting with an admin word, empty or with a line break are refused', () => {
  for (const bad of ['RELOAD', 'STATUS ', 'Shutdown x', 'CLOSE', 'AUTH ', '', 'A\nB']) assert.throws(() => validatePrefix(bad), UsageError, JSON.stringify(bad));
  for (const ok of ['ECHO ', 'GET ', '\u0016\u0003']) assert.doesNotThrow(() => validatePrefix(ok));
});

test('the starter imports the API from ../shared in a checkout, and quotes the prefix safely', () => {
  const src = renderModule({ name: 'q', prefix: 'A"\'*/ ', pool: true, api: '../shared/index.ts' });
  assert.match(src, /from "\.\.\/shared\/index\.ts"/);
  assert.match(src, /const PREFIX = "A\\"'\*\/ ";/);
  assert.match(src, /\{ pool: true \}/);
  assert.equal(sharedImport(join(ROOT, 'modules_src')), '../shared/index.ts');
});

test('hrmr new writes a starter that builds and serves (line route and --pool), and refuses to overwrite', async () => {
  const root = tempDir('hrmr-new-');
  try {
    // A project laid out like this repo: modules_src/ beside shared/.
    // The whole module API: index.ts re-exports the service kit's files beside it.
    cpSync(join(ROOT, 'shared'), join(root, 'shared'), { recursive: true });
    const src = join(root, 'modules_src');
    const out = join(root, 'modules');

    const a = await runCli(['new', 'greet', '--src', src], { cwd: root, timeoutMs: 30_000 });
    assert.equal(a.code, 0, a.stderr);
    assert.match(a.stdout, /wrote modules_src\/greet\.ts/);
    const text = readFileSync(join(src, 'greet.ts'), 'utf8');
    assert.match(text, /from "\.\.\/shared\/index\.ts"/);
    assert.match(text, /dispose\(\)/);

    const b = await runCli(['new', 'crunch', '-pool', '-prefix', 'CRUNCH:', '--src', src], { cwd: root, timeoutMs: 30_000 });
    assert.equal(b.code, 0, b.stderr);

    const again = await runCli(['new', 'greet', '--src', src], { cwd: root, timeoutMs: 30_000 });
    assert.notEqual(again.code, 0);
    assert.match(again.stderr, /already exists/);
    assert.equal(readFileSync(join(src, 'greet.ts'), 'utf8'), text, 'untouched');

    const reserved = await runCli(['new', 'status', '--src', src], { cwd: root, timeoutMs: 30_000 });
    assert.notEqual(reserved.code, 0);
    assert.match(reserved.stderr, /reserved admin word STATUS/);
    assert.equal(existsSync(join(src, 'status.ts')), false);

    const badName = await runCli(['new', 'No/Good', '--src', src], { cwd: root, timeoutMs: 30_000 });
    assert.notEqual(badName.code, 0);
    assert.match(badName.stderr, /module name/);

    const built = await runCli(['build', '--src', src, '--out', out], { cwd: root, timeoutMs: 30_000 });
    assert.equal(built.code, 0, built.stderr);
    const h = await startHrmr({ dir: out });
    try {
      assert.equal(await exchange(h.port, 'GREET world\n', { end: true }), 'greet v1: world\n');
      assert.equal(await exchange(h.port, 'CRUNCH:numbers\n', { end: true }), 'crunch v1: numbers\n');
    } finally {
      await h.kill();
    }
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test('outside a checkout the starter imports the installed hrmr shared/ by relative path, and still builds', async () => {
  const root = tempDir('hrmr-new-');
  try {
    const src = join(root, 'src');
    const r = await runCli(['new', 'solo', '--src', src], { cwd: root, timeoutMs: 30_000 });
    assert.equal(r.code, 0, r.stderr);
    assert.match(readFileSync(join(src, 'solo.ts'), 'utf8'), /shared\/index\.ts"/);
    const built = await runCli(['build', '--src', src, '--out', join(root, 'out')], { cwd: root, timeoutMs: 30_000 });
    assert.equal(built.code, 0, built.stderr);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});
