// SPDX-License-Identifier: LGPL-3.0-or-later
// The package a user installs: `npm pack` makes a tarball that carries what
// runs (dist/, the bundled modules, shared/, static_html/, docs) and nothing of
// the tests, benchmarks or CI; installed into an empty project (no clone),
// `npx hrmr` serves the bundled hash, relay and db beside a module made there
// with `npx hrmr new` + `npx hrmr build`; a SIGTERM to npx stops the server.
//
// The install reads the npm cache first (`--offline`), then the registry
// (`--prefer-offline`); with neither, the tarball is unpacked by hand with
// hrmr's dependencies linked from this checkout. Scripts are skipped (no
// native rebuild): better-sqlite3's addon is copied from this checkout.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, readFileSync, readdirSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { exchange, ROOT, sleep, tempDir } from './helpers/hrmr.ts';

/** The environment without npm's and hrmr's own variables (the test may run under `npm test` with HRMR_BUNDLED=none). */
function cleanEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!/^(npm_|HRMR_)/i.test(k)) env[k] = v;
  return { ...env, ...extra };
}

function run(cmd: string, args: string[], cwd: string, timeoutMs: number, env = cleanEnv()): Promise<{ code: number; stdout: string; stderr: string; ms: number }> {
  const started = Date.now();
  return new Promise((resolve) => {
    execFile(cmd, args, { cwd, env, timeout: timeoutMs, maxBuffer: 64 << 20 }, (err, stdout, stderr) => {
      const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? ((err as { code: number }).code) : 1) : 0;
      resolve({ code, stdout, stderr, ms: Date.now() - started });
    });
  });
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Unpacks the tarball as node_modules/hrmr and links its dependencies from this checkout (no registry, no cache). */
async function installByHand(app: string, tgz: string): Promise<void> {
  const nm = join(app, 'node_modules');
  mkdirSync(join(nm, 'hrmr'), { recursive: true });
  const r = await run('tar', ['xzf', tgz, '-C', join(nm, 'hrmr'), '--strip-components=1'], app, 60_000);
  assert.equal(r.code, 0, r.stderr);
  const pkg = JSON.parse(readFileSync(join(nm, 'hrmr', 'package.json'), 'utf8')) as { dependencies: Record<string, string> };
  for (const dep of Object.keys(pkg.dependencies)) {
    const target = join(ROOT, 'node_modules', dep);
    mkdirSync(join(nm, dep, '..'), { recursive: true });
    symlinkSync(target, join(nm, dep), 'dir');
  }
  mkdirSync(join(nm, '.bin'), { recursive: true });
  symlinkSync('../hrmr/bin/hrmr.mjs', join(nm, '.bin', 'hrmr'));
}

/** npm install of the tarball, from the cache or the registry, else by hand. Returns how it went. */
async function install(app: string, tgz: string): Promise<string> {
  const base = ['install', tgz, '--no-audit', '--no-fund', '--ignore-scripts', '--no-save'];
  // HRMR_TEST_INSTALL=hand tries the last way first (to check it).
  for (const mode of process.env.HRMR_TEST_INSTALL === 'hand' ? [] : ['--offline', '--prefer-offline']) {
    const r = await run('npm', [...base, mode], app, 150_000);
    if (r.code === 0) return `npm install ${mode} in ${r.ms} ms`;
    rmSync(join(app, 'node_modules'), { recursive: true, force: true });
  }
  await installByHand(app, tgz);
  return 'by hand (no npm cache, no registry)';
}

/** better-sqlite3 without its install script has no addon: the checkout's build of the same version. */
function copySqliteAddon(app: string): void {
  const mine = join(app, 'node_modules', 'better-sqlite3');
  const ours = join(ROOT, 'node_modules', 'better-sqlite3');
  if (existsSync(join(mine, 'build', 'Release', 'better_sqlite3.node'))) return;
  const v = (dir: string): string => (JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { version: string }).version;
  assert.equal(v(mine), v(ours), 'the tarball resolved the better-sqlite3 of this checkout');
  cpSync(join(ours, 'build'), join(mine, 'build'), { recursive: true });
}

function listFiles(dir: string, prefix = ''): string[] {
  const out: string[] = [];
  for (const n of readdirSync(dir)) {
    const p = join(dir, n);
    if (statSync(p).isDirectory()) out.push(...listFiles(p, `${prefix}${n}/`));
    else out.push(`${prefix}${n}`);
  }
  return out;
}

test('npm pack --dry-run lists no test, bench, CI or module source file, and ships what runs', async () => {
  const r = await run('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], ROOT, 120_000);
  assert.equal(r.code, 0, r.stderr);
  const files = (JSON.parse(r.stdout) as Array<{ files: Array<{ path: string }> }>)[0]!.files.map((f) => f.path);
  const bad = files.filter((f) => /^(test|bench|\.ci|modules_src)\//.test(f) || f.startsWith('modules/.hrmr'));
  assert.deepEqual(bad, []);
  for (const f of ['bin/hrmr.mjs', 'dist/hrmr.mjs', 'dist/shared.mjs', 'dist/worker.cjs', 'shared/index.ts', 'static_html/index.html', 'docs/modules.md', 'COPYING', 'COPYING.LESSER', 'README.md']) {
    assert.ok(files.includes(f), `${f} is in the package`);
  }
  for (const m of ['db', 'hash', 'http', 'lhttp', 'lhttp-chat', 'relay', 'rhttp']) assert.ok(files.includes(`modules/${m}.mjs`), `bundled module ${m}`);
});

test('the packed tarball, installed into an empty project, serves the bundled relay, db and hash beside a module made there', { timeout: 600_000 }, async (t) => {
  const work = tempDir('hrmr-pkg-');
  t.after(() => rmSync(work, { recursive: true, force: true }));
  // prepack builds dist/ and the bundled modules.
  const packed = await run('npm', ['pack', '--pack-destination', work], ROOT, 300_000);
  assert.equal(packed.code, 0, packed.stderr);
  const tgz = join(work, packed.stdout.trim().split('\n').pop()!);
  assert.ok(statSync(tgz).size < 600 * 1024, `tarball is ${statSync(tgz).size} bytes (target under 600 KB)`);

  const app = join(work, 'app');
  mkdirSync(app);
  writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'my-app', version: '1.0.0', private: true }, null, 2));
  const how = await install(app, tgz);
  t.diagnostic(`installed ${how}`);
  copySqliteAddon(app);
  assert.ok(!existsSync(join(app, 'node_modules', 'hrmr', 'test')), 'no tests installed');
  assert.ok(listFiles(join(app, 'node_modules', 'hrmr', 'dist')).includes('hrmr.mjs'));

  const made = await run('npx', ['hrmr', 'new', 'greet'], app, 60_000);
  assert.equal(made.code, 0, made.stderr);
  const source = readFileSync(join(app, 'modules_src', 'greet.ts'), 'utf8');
  assert.match(source, /from "hrmr";/, 'the starter imports the package by name');
  assert.doesNotMatch(source, /from "[^"]*node_modules/, 'not a path into node_modules');
  assert.match(source, /npx hrmr build/);
  assert.match(source, /nc -N 127\.0\.0\.1 8080/);
  const built = await run('npx', ['hrmr', 'build'], app, 120_000);
  assert.equal(built.code, 0, built.stdout + built.stderr);
  assert.ok(existsSync(join(app, 'modules', 'greet.mjs')));

  const server = spawn('npx', ['hrmr', '--port', '0', '--no-pretty', '--threads', '1'], { cwd: app, env: cleanEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
  t.after(() => {
    if (server.exitCode === null && server.signalCode === null) server.kill('SIGKILL');
  });
  const { port, pid, out } = await listening(server);
  t.after(() => {
    if (alive(pid)) process.kill(pid, 'SIGKILL');
  });
  const loaded = out()
    .split('\n')
    .filter((l) => l.includes('"module loaded"'))
    .map((l) => (JSON.parse(l) as { module: string }).module)
    .sort();
  assert.deepEqual(loaded, ['db', 'greet', 'hash', 'http', 'lhttp', 'lhttp-chat', 'relay', 'rhttp'], out());

  assert.equal(await exchange(port, 'GREET world\n', { end: true }), 'greet v1: world\n');
  assert.match(await exchange(port, 'HASH md5 hello\n', { end: true }), /^5d41402abc4b2a76b9719d911017c592/);
  const produced = await fetch(`http://127.0.0.1:${port}/t/pkg-tunnel`, { method: 'POST', body: 'hello' });
  assert.equal(produced.status, 201);
  const consumed = await fetch(`http://127.0.0.1:${port}/t/pkg-tunnel`);
  assert.equal(await consumed.text(), 'hello');
  const q = await fetch(`http://127.0.0.1:${port}/db/query`, { method: 'POST', body: JSON.stringify({ sql: 'select 1 as one' }) });
  assert.equal(q.status, 200, await q.clone().text());
  assert.deepEqual(((await q.json()) as { rows: unknown }).rows, [{ one: 1 }]);

  // hrmr ws from the installed package: subscribe, publish to itself, print what arrives.
  const ws = await run(
    'npx',
    ['hrmr', 'ws', `ws://127.0.0.1:${port}/lhttp`, '--send', 'LHTTP/1.0 chat\\r\\nsubscribe:room.pkg\\r\\n\\r\\n', '--send', 'LHTTP/1.0 chat\\r\\npublish:room.pkg\\r\\n\\r\\nhi there', '--wait', '1500'],
    app,
    60_000,
  );
  assert.equal(ws.code, 0, ws.stderr);
  assert.match(ws.stdout, /publish:room\.pkg[\s\S]*hi there/);

  // SIGTERM to npx (npm exec -> sh -> node) stops the server too.
  server.kill('SIGTERM');
  const deadline = Date.now() + 30_000;
  while (alive(pid) && Date.now() < deadline) await sleep(100);
  assert.ok(!alive(pid), `server pid ${pid} still running after npx was stopped`);
});

async function listening(p: ChildProcess): Promise<{ port: number; pid: number; out: () => string }> {
  let out = '';
  let err = '';
  p.stderr!.setEncoding('utf8').on('data', (d: string) => (err += d));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no listening line in 120 s\n${out}\n${err}`)), 120_000);
    p.once('exit', (code) => reject(new Error(`npx hrmr exited (${code})\n${out}\n${err}`)));
    p.stdout!.setEncoding('utf8').on('data', (d: string) => {
      out += d;
      const line = out.split('\n').find((l) => l.includes('"msg":"listening"'));
      if (!line) return;
      clearTimeout(timer);
      const j = JSON.parse(line) as { port: number; pid: number };
      resolve({ port: j.port, pid: j.pid, out: () => out });
    });
  });
}
