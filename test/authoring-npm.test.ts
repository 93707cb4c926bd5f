// SPDX-License-Identifier: LGPL-3.0-or-later
// `npm start` and `npm run dev` as a developer runs them: SIGTERM to npm's
// pid (what a process manager, an IDE's stop button or `kill` sends) stops
// the server too, instead of leaving it orphaned on the port.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { exchange, ROOT, sleep, tempDir } from './helpers/hrmr.ts';

const ECHO = `export default { routes: [{ prefix: 'ECHO', message: (m) => m.toString() + '\\n' }] };\n`;

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function gone(pid: number, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (!alive(pid)) return true;
    await sleep(50);
  }
  return !alive(pid);
}

/**
 * Runs `npm <args>` in the repo, waits for the server's `listening` line,
 * SIGTERMs npm, and checks that npm and the server both end.
 */
async function stopsWithNpm(npmArgs: string[], env: Record<string, string>): Promise<void> {
  const npm = spawn('npm', npmArgs, { cwd: ROOT, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  let serverPid: number | null = null;
  const npmExited = new Promise<number | null>((r) => npm.once('exit', (code, signal) => r(code ?? (signal ? -1 : null))));
  try {
    const listening = await new Promise<{ pid: number; port: number }>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no listening line within 90 s; stdout ${out}; stderr ${err}`)), 90_000);
      npm.stderr.setEncoding('utf8').on('data', (d: string) => (err += d));
      npm.stdout.setEncoding('utf8').on('data', (d: string) => {
        out += d;
        for (const line of out.split('\n')) {
          if (!line.startsWith('{') || !line.includes('"listening"')) continue;
          clearTimeout(timer);
          resolve(JSON.parse(line) as { pid: number; port: number });
        }
      });
      void npmExited.then((code) => reject(new Error(`npm exited (${code}) before the server listened; stdout ${out}; stderr ${err}`)));
    });
    serverPid = listening.pid;
    assert.equal(await exchange(listening.port, 'ECHO hi\n', { end: true }), 'ECHO hi\n');
    npm.kill('SIGTERM');
    const code = await Promise.race([npmExited, sleep(30_000).then(() => 'timeout' as const)]);
    assert.notEqual(code, 'timeout', 'npm did not exit after SIGTERM');
    assert.ok(await gone(serverPid, 30_000), `server pid ${serverPid} still running after npm was stopped`);
    assert.match(out, /"msg":"shutting down"[^\n]*"reason":"SIGTERM"|"reason":"SIGTERM"[^\n]*"msg":"shutting down"/, 'the server shut down gracefully on the forwarded SIGTERM');
  } finally {
    if (npm.exitCode === null && npm.signalCode === null) npm.kill('SIGKILL');
    if (serverPid !== null && alive(serverPid)) process.kill(serverPid, 'SIGKILL');
  }
}

function fixture(t: { after(fn: () => void): void }): { modules: string; src: string } {
  const root = tempDir('hrmr-npm-');
  t.after(() => rmSync(root, { recursive: true, force: true }));
  const modules = join(root, 'modules');
  const src = join(root, 'modules_src');
  mkdirSync(modules);
  mkdirSync(src);
  writeFileSync(join(modules, 'echo.mjs'), ECHO);
  return { modules, src };
}

test('npm run dev: SIGTERM to npm stops the watching server', async (t) => {
  const f = fixture(t);
  // The script sets no port (--port here, or HRMR_PORT); the fixture keeps the repo's modules out of it.
  await stopsWithNpm(['run', 'dev', '--', '--port', '0', '--modules', f.modules, '--src', f.src, '--threads', '1', '--no-pretty'], {});
});

test('npm start: SIGTERM to npm stops the server', async (t) => {
  const f = fixture(t);
  // npm start builds --src into --modules (hrmr --build), then type-checks beside the serving server.
  await stopsWithNpm(['start', '--', '--port', '0', '--modules', f.modules, '--src', f.src, '--threads', '1', '--no-pretty'], { HRMR_TYPECHECK: '0' });
});
