// SPDX-License-Identifier: LGPL-3.0-or-later
// First-run authoring traps (issue 21, point 4): handlers typed whatever their
// parameter count; `hrmr build` removes outputs whose source is gone; `hrmr
// new` warns when its prefix is taken and watch mode says a module serves
// nothing; a shape typo is one log record naming the module's source line.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT, runCli, startHrmr, tempDir } from './helpers/hrmr.ts';

const API = JSON.stringify(join(ROOT, 'shared', 'index.ts'));

function project(t: { after(fn: () => void): void }): { root: string; src: string; out: string } {
  const root = tempDir('hrmr-traps-');
  t.after(() => rmSync(root, { recursive: true, force: true }));
  const src = join(root, 'modules_src');
  const out = join(root, 'modules');
  mkdirSync(src);
  mkdirSync(out);
  return { root, src, out };
}

test('defineModule types every route kind contextually whatever the parameter count: request(req, res) passes the type-check', { timeout: 180_000 }, async (t) => {
  const p = project(t);
  writeFileSync(
    join(p.src, 'kinds.ts'),
    `import { defineModule } from ${API};
export default defineModule({
  routes: [
    { http: '/two', request(req, res) { res.end(req.url); } },
    { http: '/one', request(req) { void req.url; } },
    { http: '/none', request() {} },
    { http: '/three', request(req, res, ctx) { res.end(ctx.module + req.url); }, upgrade(req, socket) { socket.end(req.url); } },
    { http: '/pool', pool: true, request(req) { return { body: req.path }; } },
    { prefix: 'M ', message(m) { return m; } },
    { prefix: 'P ', pool: true, message(m, ctx) { return m.toString() + ctx.module; } },
    { prefix: 'S ', connection(s) { s.end(); } },
  ],
});
`,
  );
  const r = await runCli(['build', '--src', p.src, '--out', p.out], { cwd: ROOT, timeoutMs: 170_000 });
  assert.equal(r.code, 0, r.stdout + r.stderr);
  assert.doesNotMatch(r.stderr, /TS7006/);
  assert.ok(existsSync(join(p.out, 'kinds.mjs')));
});

test('hrmr build removes modules/NAME.mjs and its map once modules_src/NAME.ts is gone; a hand-written .mjs stays', { timeout: 120_000 }, async (t) => {
  const p = project(t);
  const mod = `import { lineRoute } from ${API};\nexport default { routes: [lineRoute('GONE ', (l) => l)] };\n`;
  writeFileSync(join(p.src, 'gone.ts'), mod);
  writeFileSync(join(p.src, 'kept.ts'), mod.replace('GONE ', 'KEPT '));
  writeFileSync(join(p.out, 'hand.mjs'), `export default { routes: [{ prefix: 'HAND', message: () => 'x' }] };\n`);
  const first = await runCli(['build', '--src', p.src, '--out', p.out, '--no-typecheck'], { cwd: p.root, timeoutMs: 60_000 });
  assert.equal(first.code, 0, first.stderr);
  assert.ok(existsSync(join(p.out, 'gone.mjs')) && existsSync(join(p.out, 'gone.mjs.map')));
  rmSync(join(p.src, 'gone.ts'));
  const second = await runCli(['build', '--src', p.src, '--out', p.out, '--no-typecheck'], { cwd: p.root, timeoutMs: 60_000 });
  assert.equal(second.code, 0, second.stderr);
  assert.match(second.stdout, /removed modules\/gone\.mjs \(its source gone\.ts is gone\)/);
  assert.ok(!existsSync(join(p.out, 'gone.mjs')), 'output of the deleted source removed');
  assert.ok(!existsSync(join(p.out, 'gone.mjs.map')), 'its map too');
  assert.ok(existsSync(join(p.out, 'kept.mjs')));
  assert.ok(existsSync(join(p.out, 'hand.mjs')), 'a .mjs not built from --src stays');
});

test("hrmr new x --prefix 'HASH ' warns that the hash module routes that prefix (and still writes the file)", { timeout: 60_000 }, async (t) => {
  const p = project(t);
  const r = await runCli(['new', 'x', '--prefix', 'HASH ', '--src', p.src, '--modules', p.out], { cwd: p.root, timeoutMs: 50_000 });
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /warning: prefix "HASH " is taken: module hash \([^)]*hash\.mjs\) routes it/);
  assert.ok(existsSync(join(p.src, 'x.ts')));
  const free = await runCli(['new', 'y', '--src', p.src, '--modules', p.out], { cwd: p.root, timeoutMs: 50_000 });
  assert.equal(free.code, 0, free.stderr);
  assert.doesNotMatch(free.stderr, /warning/);
});

test('watch mode logs that a module whose prefix is taken serves nothing', { timeout: 120_000 }, async (t) => {
  const p = project(t);
  writeFileSync(join(p.out, 'owner.mjs'), `export default { routes: [{ prefix: 'TAKEN ', message: () => 'owner\\n' }] };\n`);
  const h = await startHrmr({ dir: p.out, args: ['--watch', '--src', p.src, '--no-pretty'], env: { HRMR_TYPECHECK: '0' }, cwd: p.root });
  t.after(() => h.kill());
  await h.waitForLog((l) => l.msg === 'watching module sources', 60_000);
  writeFileSync(join(p.src, 'late.ts'), `import { lineRoute } from ${API};\nexport default { routes: [lineRoute('TAKEN ', (l) => l)] };\n`);
  const line = await h.waitForLog((l) => typeof l.msg === 'string' && l.msg.includes('late v1 loaded'), 60_000);
  assert.match(line.msg, /late v1 loaded but serves nothing/);
  assert.deepEqual(line.servesNothing, ['late']);
});

test('a `rout:` typo is one log record at warn or above, naming modules_src/typo.ts:line:col, without a stack', { timeout: 120_000 }, async (t) => {
  const p = project(t);
  const h = await startHrmr({ dir: p.out, args: ['--watch', '--src', p.src, '--no-pretty'], env: { HRMR_TYPECHECK: '0' }, cwd: p.root });
  t.after(() => h.kill());
  await h.waitForLog((l) => l.msg === 'watching module sources', 60_000);
  writeFileSync(join(p.src, 'typo.ts'), `import { defineModule, lineRoute } from ${API};\n\nexport default defineModule({\n  // @ts-expect-error the typo under test\n  rout: [lineRoute('TYPO ', (l) => l)],\n});\n`);
  const rec = await h.waitForLog((l) => l.level >= 40 && JSON.stringify(l).includes('typo'), 60_000);
  // Whatever else this save logs comes within the same batch; give it a moment.
  await h.waitForLog((l) => l.level === 20 && typeof l.msg === 'string' && l.msg.includes('typo built but did not load'), 30_000);
  const records = h.logs.filter((l) => l.level >= 40 && JSON.stringify(l).includes('typo'));
  assert.equal(records.length, 1, JSON.stringify(records, null, 1));
  assert.equal(rec.level, 50);
  assert.equal(rec.source, 'modules_src/typo.ts:5:3');
  assert.match(rec.msg, /module typo: default export: unknown key "rout".*\(modules_src\/typo\.ts:5:3\); not loaded/);
  assert.equal(rec.err, undefined, 'no stack through hrmr internals');
});
