// SPDX-License-Identifier: LGPL-3.0-or-later
// Type errors: watch mode reports them (file:line:col) from a background
// checker while the new code already serves; `hrmr build` fails on them
// (exit 1, old output kept) unless --no-typecheck / HRMR_TYPECHECK=0.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { copyFileSync, cpSync, mkdirSync, readFileSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { exchange, ROOT, runCli, sleep, startHrmr, tempDir, type Hrmr } from './helpers/hrmr.ts';
import { loadTypeScript, TypeChecker } from '../src/build/typecheck.ts';

const API = JSON.stringify(join(ROOT, 'shared', 'index.ts'));
/** A module whose handler returns `reply` (an expression): `'v1\n'` type-checks, `404` does not. */
const kv = (reply: string): string =>
  [`import { defineModule } from ${API};`, 'export default defineModule({', `  routes: [{ prefix: 'KV ', message() { return ${reply}; } }],`, '});', ''].join('\n');

function project(files: Record<string, string>): { root: string; src: string; out: string } {
  const root = tempDir('hrmr-tc-');
  const src = join(root, 'modules_src');
  const out = join(root, 'modules');
  mkdirSync(out, { recursive: true });
  for (const [name, text] of Object.entries(files)) {
    mkdirSync(join(src, name, '..'), { recursive: true });
    writeFileSync(join(src, name), text);
  }
  return { root, src, out };
}

async function waitForReply(h: Hrmr, line: string, want: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = '';
  while (Date.now() < deadline) {
    last = await exchange(h.port, `${line}\n`, { end: true }).catch((e: Error) => e.message);
    if (last === want) return;
    await sleep(25);
  }
  assert.fail(`${line} never answered ${JSON.stringify(want)}; last ${JSON.stringify(last)}`);
}

test('TypeChecker: a Reply-typed handler returning a number is TS2322 at file:line:col with a code frame; fixed, it is clean', async () => {
  const ts = await loadTypeScript();
  assert.ok(ts, 'typescript is a devDependency');
  const p = project({ 'kv.ts': kv('404') });
  try {
    const checker = new TypeChecker(ts, p.src, p.root);
    const entry = join(p.src, 'kv.ts');
    const [r] = checker.check([{ module: 'kv', entry, files: [entry] }]);
    assert.equal(r!.module, 'kv');
    assert.equal(r!.errors.length, 1, r!.errors.join('\n'));
    const lines = r!.errors[0]!.split('\n');
    assert.match(lines[0]!, /^modules_src\/kv\.ts:3:29: error TS2322: /);
    assert.equal(lines.at(-2), `    ${"  routes: [{ prefix: 'KV ', message() { return 404; } }],"}`);
    assert.equal(lines.at(-1), `    ${' '.repeat(28)}^^^^^^^`);
    writeFileSync(entry, kv(`'ok\\n'`));
    assert.deepEqual(checker.check([{ module: 'kv', entry, files: [entry] }]), [{ module: 'kv', errors: [] }]);
  } finally {
    rmSync(p.root, { recursive: true, force: true });
  }
});

test('watch: a save with a type error serves, then logs the located error; a helper breaking it is reported too; the fix says so', async () => {
  const p = project({ 'kv.ts': kv(`'v1\\n'`), 'lib/n.ts': 'export const n: number = 1;\n' });
  const h = await startHrmr({ dir: p.out, cwd: p.root, args: ['--watch', '--src', p.src] });
  try {
    await h.waitForLog((l) => l.msg === 'watching module sources' && l.typecheck === true);
    await waitForReply(h, 'KV x', 'v1\n');
    writeFileSync(join(p.src, 'kv.ts'), kv('404'));
    // esbuild only strips types: the new code serves (the reply of a number is its string form or an error, not v1).
    const err = await h.waitForLog((l) => typeof l.msg === 'string' && l.msg.includes('type error'), 20_000);
    assert.equal(err.level, 50);
    assert.equal(err.module, 'kv');
    assert.equal(err.typeErrors, 1);
    assert.match(err.msg, /^1 type error in kv: modules_src\/kv\.ts:3:29: error TS2322: /);
    assert.match((err.errors as string[])[0]!, /\n {32}\^{7}$/);
    // The reload was not held back by the check: its line came first.
    const reload = h.logs.findIndex((l) => l.watch === 'reloaded' && l.module === 'kv' && l.version === 2);
    assert.ok(reload >= 0 && reload < h.logs.indexOf(err), 'reloaded before the type error was reported');

    writeFileSync(join(p.src, 'kv.ts'), kv(`'v3\\n'`));
    await waitForReply(h, 'KV x', 'v3\n');
    await h.waitForLog((l) => l.msg === 'type errors fixed in kv', 20_000);

    // A helper the module imports: its own type error is reported for the module that reads it.
    writeFileSync(join(p.src, 'kv.ts'), kv(`'v' + n + '\\n'`).replace('\n', `\nimport { n } from './lib/n.ts';\n`));
    await waitForReply(h, 'KV x', 'v1\n');
    writeFileSync(join(p.src, 'lib', 'n.ts'), `export const n: number = 'two';\n`);
    const helper = await h.waitForLog((l) => typeof l.msg === 'string' && l.msg.includes('modules_src/lib/n.ts:1:14: error TS2322'), 20_000);
    assert.equal(helper.module, 'kv');
    await waitForReply(h, 'KV x', 'vtwo\n');
  } finally {
    await h.kill();
    rmSync(p.root, { recursive: true, force: true });
  }
});

test('hrmr build: type errors fail the build (exit 1, each at file:line:col), the old output stays; --no-typecheck and HRMR_TYPECHECK=0 skip', async () => {
  const p = project({ 'good.ts': kv(`'good\\n'`).replace("'KV '", "'GOOD'"), 'kv.ts': kv(`'v1\\n'`) });
  try {
    const first = await runCli(['build', '--src', p.src, '--out', p.out], { cwd: p.root, timeoutMs: 60_000 });
    assert.equal(first.code, 0, first.stderr);
    assert.match(first.stdout, /^type-checked in \d+ ms \(default compiler options\)$/m);
    const before = readFileSync(join(p.out, 'kv.mjs'), 'utf8');

    writeFileSync(join(p.src, 'kv.ts'), kv('404').replace('export default', 'const x: string = 1;\nexport default'));
    const bad = await runCli(['build', '--src', p.src, '--out', p.out], { cwd: p.root, timeoutMs: 60_000 });
    assert.equal(bad.code, 1, bad.stdout + bad.stderr);
    assert.match(bad.stderr, /^modules_src\/kv\.ts:2:7: error TS2322: Type 'number' is not assignable to type 'string'\.$/m);
    assert.match(bad.stderr, /^modules_src\/kv\.ts:4:29: error TS2322: /m);
    assert.match(bad.stderr, /^build of kv failed: 2 type errors \(modules_src\/kv\.ts; --no-typecheck skips the check\)$/m);
    assert.match(bad.stderr, /^hrmr build: 1 of 2 modules failed$/m);
    assert.match(bad.stdout, /^built good /m);
    assert.equal(readFileSync(join(p.out, 'kv.mjs'), 'utf8'), before, 'a module with type errors is not written');

    const skipped = await runCli(['build', '--src', p.src, '--out', p.out, '--no-typecheck'], { cwd: p.root, timeoutMs: 60_000 });
    assert.equal(skipped.code, 0, skipped.stderr);
    assert.doesNotMatch(skipped.stdout, /type-checked/);
    assert.notEqual(readFileSync(join(p.out, 'kv.mjs'), 'utf8'), before);
    const viaEnv = await runCli(['build', '--src', p.src, '--out', p.out], { cwd: p.root, timeoutMs: 60_000, env: { HRMR_TYPECHECK: 'no' } });
    assert.equal(viaEnv.code, 0, viaEnv.stderr);
    assert.deepEqual(readdirSync(p.out).filter((f) => f.endsWith('.tmp')), []);
  } finally {
    rmSync(p.root, { recursive: true, force: true });
  }
});

test('without the typescript package: hrmr build warns and builds, watch mode says type-checking is off', async () => {
  // A copy of the built CLI whose node_modules holds every package but typescript.
  const root = tempDir('hrmr-nots-');
  try {
    const pkg = join(root, 'hrmr');
    mkdirSync(join(pkg, 'node_modules'), { recursive: true });
    cpSync(join(ROOT, 'dist'), join(pkg, 'dist'), { recursive: true });
    cpSync(join(ROOT, 'bin'), join(pkg, 'bin'), { recursive: true });
    cpSync(join(ROOT, 'shared'), join(pkg, 'shared'), { recursive: true });
    copyFileSync(join(ROOT, 'package.json'), join(pkg, 'package.json'));
    for (const name of readdirSync(join(ROOT, 'node_modules'))) {
      if (name === 'typescript' || name === '.bin' || name.startsWith('.')) continue;
      symlinkSync(join(ROOT, 'node_modules', name), join(pkg, 'node_modules', name), 'dir');
    }
    const api = JSON.stringify(join(pkg, 'shared', 'index.ts'));
    const src = join(root, 'modules_src');
    const out = join(root, 'modules');
    mkdirSync(src);
    mkdirSync(out);
    writeFileSync(join(src, 'kv.ts'), kv('404').replace(API, api));
    const bin = join(pkg, 'bin', 'hrmr.mjs');
    const r = await new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
      execFile(process.execPath, [bin, 'build', '--src', src, '--out', out], { cwd: root, timeout: 60_000 }, (err, stdout, stderr) =>
        resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
      );
    });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^built kv /m);
    assert.equal(r.stderr, 'hrmr build: warning: the typescript package is not installed (npm install --save-dev typescript), so modules are not type-checked\n');

    const p = spawn(process.execPath, [bin, '--port', '0', '--threads', '1', '--modules', out, '--watch', '--src', src, '--no-pretty'], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
    try {
      const off = await new Promise<Record<string, unknown>>((resolve, reject) => {
        let buf = '';
        const timer = setTimeout(() => reject(new Error(`no type-check warning: ${buf}`)), 20_000);
        p.stdout.setEncoding('utf8').on('data', (d: string) => {
          buf += d;
          const line = buf.split('\n').find((l) => l.includes('type-checking is off'));
          if (line) {
            clearTimeout(timer);
            resolve(JSON.parse(line) as Record<string, unknown>);
          }
        });
      });
      assert.equal(off.level, 40);
      assert.equal(off.msg, 'type-checking is off: the typescript package is not installed (npm install --save-dev typescript), so modules are not type-checked');
    } finally {
      p.kill('SIGKILL');
    }
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});
