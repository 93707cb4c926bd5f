// SPDX-License-Identifier: LGPL-3.0-or-later
// `hrmr build`: esbuild output loads and serves; errors are located and do
// not stop other modules nor replace the version already built; the package
// exports the module API types.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { admin, exchange, ROOT, runCli, startHrmr, tempDir } from './helpers/hrmr.ts';
import { formatMessage, isEntry, listEntries, moduleName } from '../src/build/build.ts';

const API = JSON.stringify(join(ROOT, 'shared', 'index.ts'));

function project(files: Record<string, string>): { root: string; src: string; out: string } {
  const root = tempDir('hrmr-build-');
  const src = join(root, 'modules_src');
  const out = join(root, 'modules');
  for (const [name, text] of Object.entries(files)) {
    mkdirSync(join(src, name, '..'), { recursive: true });
    writeFileSync(join(src, name), text);
  }
  return { root, src, out };
}

test('entries are the top-level .ts files; subfolders and .d.ts are not modules', () => {
  const p = project({ 'a.ts': '', 'b.mts': '', 'x.d.ts': '', 'lib/helper.ts': '', '.hidden.ts': '', 'notes.md': '' });
  try {
    assert.deepEqual(listEntries(p.src).map(moduleName), ['a', 'b']);
    assert.equal(isEntry(p.src, join(p.src, 'lib', 'helper.ts')), false);
    assert.deepEqual(listEntries(join(p.root, 'missing')), []);
  } finally {
    rmSync(p.root, { recursive: true, force: true });
  }
});

test('formatMessage names file:line:column (column 1-based)', () => {
  const text = formatMessage({ id: '', pluginName: '', text: 'Expected ";"', location: { file: 'modules_src/a.ts', namespace: 'file', line: 3, column: 6, length: 1, lineText: 'let x y', suggestion: '' }, notes: [], detail: undefined });
  assert.match(text, /^modules_src\/a\.ts:3:7: error: Expected ";"/);
});

test('build output loads and serves: helpers and shared/ are bundled, one .mjs + .map per module', async () => {
  const p = project({
    'greet.ts': `import { defineModule, lineRoute } from ${API};\nimport { shout } from './lib/shout.ts';\nexport default defineModule({ routes: [lineRoute('GREET ', (l) => shout(l.slice(6)))] });\n`,
    'lib/shout.ts': `export const shout = (s: string): string => s.toUpperCase() + '!';\n`,
    'raw.ts': `import type { Module } from ${API};\nconst m: Module = { routes: [{ prefix: 'RAW', framing: 'whole', message: (msg) => 'got ' + msg.length + ' bytes\\n' }] };\nexport default m;\n`,
  });
  try {
    const r = await runCli(['build', '--src', p.src, '--out', p.out], { cwd: p.root, timeoutMs: 30_000 });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /built greet/);
    assert.deepEqual(readdirSync(p.out).sort(), ['greet.mjs', 'greet.mjs.map', 'raw.mjs', 'raw.mjs.map']);
    const js = readFileSync(join(p.out, 'greet.mjs'), 'utf8');
    assert.match(js, /sourceMappingURL=greet\.mjs\.map/);
    assert.doesNotMatch(js, /from ["'].*shared/, 'shared/ is bundled, not imported');
    const h = await startHrmr({ dir: p.out });
    try {
      assert.equal(await exchange(h.port, 'GREET hello\n', { end: true }), 'HELLO!\n');
      assert.equal(await exchange(h.port, 'RAW12345', { end: true }), 'got 8 bytes\n');
    } finally {
      await h.kill();
    }
  } finally {
    rmSync(p.root, { recursive: true, force: true });
  }
});

test('a build error names file:line:column, exits non-zero, other modules build, the old version keeps serving', async () => {
  const p = project({
    'good.ts': `import { lineRoute } from ${API};\nexport default { routes: [lineRoute('GOOD', () => 'good v1')] };\n`,
    'flaky.ts': `import { lineRoute } from ${API};\nexport default { routes: [lineRoute('FLAKY', () => 'flaky v1')] };\n`,
  });
  try {
    const first = await runCli(['build', '--src', p.src, '--out', p.out], { cwd: p.root, timeoutMs: 30_000 });
    assert.equal(first.code, 0, first.stderr);
    const h = await startHrmr({ dir: p.out });
    try {
      assert.equal(await exchange(h.port, 'FLAKY\n', { end: true }), 'flaky v1\n');
      // flaky breaks; good changes.
      writeFileSync(join(p.src, 'flaky.ts'), `import { lineRoute } from ${API};\nexport default { routes: [lineRoute('FLAKY', () => 'flaky v2' +)] };\n`);
      writeFileSync(join(p.src, 'good.ts'), `import { lineRoute } from ${API};\nexport default { routes: [lineRoute('GOOD', () => 'good v2')] };\n`);
      const before = readFileSync(join(p.out, 'flaky.mjs'), 'utf8');
      const second = await runCli(['build', '--src', p.src, '--out', p.out], { cwd: p.root, timeoutMs: 30_000 });
      assert.equal(second.code, 1);
      assert.match(second.stderr, /modules_src\/flaky\.ts:2:\d+: error: /);
      assert.match(second.stdout, /built good/);
      assert.equal(readFileSync(join(p.out, 'flaky.mjs'), 'utf8'), before, 'failed build leaves the old output');
      assert.deepEqual(readdirSync(p.out).filter((f) => f.endsWith('.tmp')), [], 'no temp files left');
      assert.match(await admin(h.port, 'RELOAD'), /^OK/);
      assert.equal(await exchange(h.port, 'GOOD\n', { end: true }), 'good v2\n');
      assert.equal(await exchange(h.port, 'FLAKY\n', { end: true }), 'flaky v1\n');
    } finally {
      await h.kill();
    }
  } finally {
    rmSync(p.root, { recursive: true, force: true });
  }
});

test('no modules folder: build says so and succeeds', async () => {
  const root = tempDir('hrmr-build-');
  try {
    const r = await runCli(['build', '--src', join(root, 'nothing'), '--out', join(root, 'out')], { cwd: root, timeoutMs: 30_000 });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /no modules/);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test("the package exports the module API types: import type { Module } from 'hrmr' type-checks outside the repo", async () => {
  const root = tempDir('hrmr-types-');
  try {
    mkdirSync(join(root, 'node_modules', '@types'), { recursive: true });
    symlinkSync(ROOT, join(root, 'node_modules', 'hrmr'), 'dir');
    symlinkSync(join(ROOT, 'node_modules', '@types', 'node'), join(root, 'node_modules', '@types', 'node'), 'dir');
    writeFileSync(join(root, 'package.json'), JSON.stringify({ name: 'outside', type: 'module' }));
    writeFileSync(
      join(root, 'tsconfig.json'),
      JSON.stringify({ compilerOptions: { module: 'NodeNext', moduleResolution: 'NodeNext', target: 'ES2022', strict: true, noEmit: true, skipLibCheck: true, types: ['node'] }, include: ['*.ts'] }),
    );
    writeFileSync(
      join(root, 'mod.ts'),
      [
        "import type { Module, Context, SetupContext } from 'hrmr';",
        "import { defineModule, lineRoute } from 'hrmr';",
        "const routes: Module['routes'] = [{ prefix: 'X', message: (msg: Buffer, ctx: Context) => `${ctx.module} ${msg.length}` }];",
        "export default defineModule({ routes: [lineRoute('Y ', (l) => l), ...routes], setup(ctx: SetupContext) { ctx.log.info(ctx.config); } });",
        '// @ts-expect-error a reply must be a string, bytes, null or undefined',
        "export const bad: Module = { routes: [{ prefix: 'Z', message: () => 42 }] };",
        '',
      ].join('\n'),
    );
    const tsc = join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc');
    const out = await new Promise<{ code: number; text: string }>((resolve) => {
      execFile(process.execPath, [tsc, '-p', root], { timeout: 120_000 }, (err, stdout, stderr) => resolve({ code: err ? 1 : 0, text: stdout + stderr }));
    });
    assert.equal(out.code, 0, out.text);
    // The runtime side resolves too: plain node imports 'hrmr' from outside the repo and uses it.
    writeFileSync(
      join(root, 'use.mjs'),
      [
        "import { defineModule, lineRoute, splitWord } from 'hrmr';",
        "const m = defineModule({ routes: [lineRoute('Y ', (l) => l.toUpperCase(), { pool: true })] });",
        'const r = m.routes[0];',
        "console.log(JSON.stringify([await r.message(Buffer.from('Y hi'), {}), r.framing, r.pool, splitWord('HASH sha256 abc')]));",
      ].join('\n'),
    );
    const used = await new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
      execFile(process.execPath, [join(root, 'use.mjs')], { cwd: root, timeout: 30_000 }, (err, stdout, stderr) => resolve({ code: err ? 1 : 0, stdout, stderr }));
    });
    assert.equal(used.code, 0, used.stderr);
    assert.deepEqual(JSON.parse(used.stdout), ['Y HI\n', 'line', true, ['HASH', 'sha256 abc']]);
    // And a module that imports 'hrmr' at run time (not bundled) loads and serves from that folder.
    mkdirSync(join(root, 'modules'));
    writeFileSync(join(root, 'modules', 'outside.mjs'), "import { defineModule, lineRoute } from 'hrmr';\nexport default defineModule({ routes: [lineRoute('OUT ', (l) => 'outside ' + l.slice(4))] });\n");
    const h = await startHrmr({ dir: join(root, 'modules'), cwd: root });
    try {
      assert.equal(await exchange(h.port, 'OUT x\n', { end: true }), 'outside x\n');
    } finally {
      await h.kill();
    }
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});
