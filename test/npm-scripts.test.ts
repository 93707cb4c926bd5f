// SPDX-License-Identifier: LGPL-3.0-or-later
// npm start and npm run dev (issue 21, point 3): the port comes from the
// environment or the command line (the scripts set none); npm start serves
// every module that builds, reports a type error with file:line:col once
// serving (the type-check runs beside), and exits non-zero only when nothing
// can serve.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { join } from 'node:path';
import { exchange, ROOT, tempDir } from './helpers/hrmr.ts';

const API = JSON.stringify(join(ROOT, 'shared', 'index.ts'));

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}

interface Npm {
  proc: ChildProcess;
  lines: Array<Record<string, unknown>>;
  out: () => string;
  waitFor(pred: (l: Record<string, unknown>) => boolean, timeoutMs: number): Promise<Record<string, unknown>>;
  exited: Promise<number | null>;
}

function npm(args: string[], env: Record<string, string>): Npm {
  const proc = spawn('npm', args, { cwd: ROOT, env: { ...process.env, HRMR_BUNDLED: 'none', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  const lines: Array<Record<string, unknown>> = [];
  let out = '';
  let buf = '';
  const waiters: Array<{ pred: (l: Record<string, unknown>) => boolean; resolve: (l: Record<string, unknown>) => void }> = [];
  proc.stderr!.setEncoding('utf8').on('data', (d: string) => (out += d));
  proc.stdout!.setEncoding('utf8').on('data', (d: string) => {
    out += d;
    buf += d;
    let i;
    while ((i = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, i);
      buf = buf.slice(i + 1);
      if (!line.startsWith('{')) continue;
      const l = JSON.parse(line) as Record<string, unknown>;
      lines.push(l);
      for (let k = waiters.length - 1; k >= 0; k--) if (waiters[k]!.pred(l)) waiters.splice(k, 1)[0]!.resolve(l);
    }
  });
  const exited = new Promise<number | null>((r) => proc.once('exit', (code) => r(code)));
  return {
    proc,
    lines,
    out: () => out,
    exited,
    waitFor(pred, timeoutMs) {
      const seen = lines.find(pred);
      if (seen) return Promise.resolve(seen);
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no such log line in ${timeoutMs} ms:\n${out}`)), timeoutMs);
        waiters.push({ pred, resolve: (l) => (clearTimeout(timer), resolve(l)) });
        void exited.then((code) => reject(new Error(`npm exited (${code}):\n${out}`)));
      });
    },
  };
}

async function stop(n: Npm): Promise<void> {
  if (n.proc.exitCode === null && n.proc.signalCode === null) n.proc.kill('SIGTERM');
  await Promise.race([n.exited, new Promise((r) => setTimeout(r, 30_000).unref())]);
  const pid = n.lines.find((l) => l.msg === 'listening')?.pid;
  if (typeof pid === 'number') {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      /* gone */
    }
  }
}

function fixture(t: { after(fn: () => void): void }, sources: Record<string, string>): { modules: string; src: string } {
  const root = tempDir('hrmr-scripts-');
  t.after(() => rmSync(root, { recursive: true, force: true }));
  const modules = join(root, 'modules');
  const src = join(root, 'modules_src');
  mkdirSync(modules);
  mkdirSync(src);
  for (const [name, code] of Object.entries(sources)) writeFileSync(join(src, `${name}.ts`), code);
  return { modules, src };
}

const GOOD = `import { lineRoute } from ${API};\nexport default { routes: [lineRoute('GOOD ', (l) => 'good ' + l.slice(5))] };\n`;
const TYPED = `import { lineRoute } from ${API};\nconst n: number = 'not a number';\nexport default { routes: [lineRoute('TYPED ', () => 'typed ' + n)] };\n`;
const BROKEN = `import { lineRoute } from ${API};\nexport default { routes: [lineRoute('BROKEN ', (l) => l + )] };\n`;

test('HRMR_PORT=<port> npm run dev listens on that port (the script sets no port of its own)', { timeout: 180_000 }, async (t) => {
  const f = fixture(t, { good: GOOD });
  const port = await freePort();
  const n = npm(['run', 'dev', '--', '--modules', f.modules, '--src', f.src, '--threads', '1', '--no-pretty'], { HRMR_PORT: String(port), HRMR_TYPECHECK: '0' });
  t.after(() => stop(n));
  const listening = await n.waitFor((l) => l.msg === 'listening', 120_000);
  assert.equal(listening.port, port);
  await n.waitFor((l) => l.msg === 'watching module sources', 60_000);
  assert.equal(await exchange(port, 'GOOD x\n', { end: true }), 'good x\n');
});

test('npm start -- --port P serves every module that builds, reports the type error with file:line:col once serving', { timeout: 240_000 }, async (t) => {
  const f = fixture(t, { good: GOOD, typed: TYPED, broken: BROKEN });
  const port = await freePort();
  const n = npm(['start', '--', '--port', String(port), '--modules', f.modules, '--src', f.src, '--threads', '1', '--no-pretty'], {});
  t.after(() => stop(n));
  const listening = await n.waitFor((l) => l.msg === 'listening', 150_000);
  assert.equal(listening.port, port);
  // Served before any type-check result: the check runs beside.
  assert.ok(!n.lines.slice(0, n.lines.indexOf(listening)).some((l) => 'typeErrors' in l), 'no type-check before serving');
  const broken = n.lines.find((l) => l.module === 'broken' && (l.level as number) >= 50);
  assert.ok(broken, n.out());
  assert.match(String(broken.msg), /broken\.ts:2:\d+: error/);
  assert.equal(await exchange(port, 'GOOD a\n', { end: true }), 'good a\n');
  assert.equal(await exchange(port, 'TYPED a\n', { end: true }), 'typed not a number\n');
  const typeError = await n.waitFor((l) => l.module === 'typed' && typeof l.typeErrors === 'number', 180_000);
  assert.match(String(typeError.msg), /typed\.ts:2:7: error TS2322/);
  assert.equal(n.proc.exitCode, null, 'still serving');
});

test('npm start exits non-zero when nothing can serve (every module fails to build)', { timeout: 180_000 }, async (t) => {
  const f = fixture(t, { broken: BROKEN });
  const n = npm(['start', '--', '--port', '0', '--modules', f.modules, '--src', f.src, '--threads', '1', '--no-pretty'], {});
  t.after(() => stop(n));
  const code = await Promise.race([n.exited, new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), 150_000).unref())]);
  assert.notEqual(code, 'timeout', n.out());
  assert.notEqual(code, 0, n.out());
  assert.match(n.out(), /nothing to serve/);
});
