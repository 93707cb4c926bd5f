// SPDX-License-Identifier: LGPL-3.0-or-later
// The CLI on the real binary: legacy flags, env vars, bad flags (exit 2),
// port in use, port 0, pino JSON logs.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import net from 'node:net';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { admin, BIN, exchange, LineClient, ROOT, runCli, startHrmr, tempDir } from './helpers/hrmr.ts';

const OTHER = `export default { routes: [{ prefix: 'OTHER', message: () => 'other\\n' }] };`;

function modulesDir(t: { after(fn: () => void): void }): string {
  const d = tempDir('hrmr-cli-');
  writeFileSync(join(d, 'other.mjs'), OTHER);
  t.after(() => rmSync(d, { recursive: true, force: true }));
  return d;
}

/** A port that was free a moment ago. */
async function freePort(): Promise<number> {
  const srv = net.createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', () => r()));
  const port = (srv.address() as net.AddressInfo).port;
  await new Promise((r) => srv.close(r));
  return port;
}

test('legacy single-dash flags work like --port/--threads', async (t) => {
  const port = await freePort();
  // The harness passes --port 0 first; a later flag wins, so -port decides.
  const h = await startHrmr({ modules: { other: OTHER }, args: ['-port', String(port), '-threads', '2', '-peek-timeout', '500'] });
  t.after(() => h.kill());
  assert.equal(h.port, port);
  assert.equal(await exchange(h.port, 'OTHER\n', { end: true }), 'other\n');
  const st = JSON.parse((await admin(h.port, 'STATUS')).slice(3)) as { limits: { peekTimeoutMs: number } };
  assert.equal(st.limits.peekTimeoutMs, 500);
});

test('short flags -p and -t, and port 0 picks a free port reported in the listening log', async (t) => {
  const h = await startHrmr({ modules: { other: OTHER }, args: ['-p', '0', '-t', '1'] });
  t.after(() => h.kill());
  assert.ok(h.port > 0);
  assert.equal(await exchange(h.port, 'OTHER\n', { end: true }), 'other\n');
});

test('env vars HRMR_PORT, HRMR_MODULES, HRMR_ADMIN_TOKEN, HRMR_PEEK_TIMEOUT set the options', async (t) => {
  const dir = modulesDir(t);
  const port = await freePort();
  const env = { ...process.env, HRMR_PORT: String(port), HRMR_MODULES: dir, HRMR_ADMIN_TOKEN: 'tok', HRMR_PEEK_TIMEOUT: '400', HRMR_THREADS: '1', HRMR_HOST: '127.0.0.1' };
  const p = spawn(process.execPath, [BIN], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
  t.after(() => void p.kill('SIGKILL'));
  const listening = await new Promise<Record<string, unknown>>((resolve, reject) => {
    let buf = '';
    const timer = setTimeout(() => reject(new Error(`no listening line: ${buf}`)), 10_000);
    p.stdout.setEncoding('utf8').on('data', (d: string) => {
      buf += d;
      for (const line of buf.split('\n')) {
        if (!line.includes('"listening"')) continue;
        clearTimeout(timer);
        resolve(JSON.parse(line) as Record<string, unknown>);
      }
    });
  });
  assert.equal(listening.port, port);
  assert.equal(typeof listening.time, 'number');
  assert.equal(typeof listening.level, 'number');
  assert.equal(await exchange(port, 'OTHER\n', { end: true }), 'other\n');
  const c = await LineClient.open(port);
  assert.equal(await c.request('STATUS'), 'ERR forbidden', 'HRMR_ADMIN_TOKEN applies');
  assert.equal(await c.request('AUTH tok'), 'OK');
  const st = JSON.parse(((await c.request('STATUS')) ?? '').slice(3)) as { limits: { peekTimeoutMs: number } };
  assert.equal(st.limits.peekTimeoutMs, 400);
  c.close();
});

test('bad values exit 2 with a one-line message naming the flag', async (t) => {
  const dir = modulesDir(t);
  const cases: Array<[string[], string, Record<string, string>?]> = [
    [['--port', 'abc'], '--port'],
    [['--port', '70000'], '--port'],
    [['-port', 'abc'], '--port'],
    [['--threads', '0'], '--threads'],
    [['-threads', '0'], '--threads'],
    [['--peek-timeout', 'soon'], '--peek-timeout'],
    [[], '--port', { HRMR_PORT: 'nope' }],
  ];
  const runs = await Promise.all(cases.map(([args, , env]) => runCli([...args, '--modules', dir], { env: env ?? {}, timeoutMs: 30_000 })));
  runs.forEach((r, i) => {
    const [args, flag] = cases[i]!;
    assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
    const lines = r.stderr.trim().split('\n');
    assert.equal(lines.length, 1, r.stderr);
    assert.ok(lines[0]!.includes(flag), `${args.join(' ')}: ${r.stderr}`);
  });
  const missing = await runCli(['--port', '0', '--modules', join(dir, 'does-not-exist')], { timeoutMs: 30_000 });
  assert.equal(missing.code, 2);
  assert.match(missing.stderr.trim(), /^[^\n]*--modules[^\n]*$/);
  const unknown = await runCli(['--bogus-flag', '--modules', dir], { timeoutMs: 30_000 });
  assert.equal(unknown.code, 2);
  assert.match(unknown.stderr, /bogus-flag/);
});

test('a port already in use exits non-zero with a clear message', async (t) => {
  const dir = modulesDir(t);
  const holder = net.createServer();
  await new Promise<void>((r) => holder.listen(0, '127.0.0.1', () => r()));
  t.after(() => holder.close());
  const port = (holder.address() as net.AddressInfo).port;
  const r = await runCli(['--port', String(port), '--modules', dir, '--threads', '1'], { timeoutMs: 30_000 });
  assert.notEqual(r.code, 0);
  assert.equal(r.code, 1);
  assert.match(r.stderr, new RegExp(`port ${port}.*in use`));
});

test('logs are pino JSON on stdout: start, module loaded, reloaded, failed', async (t) => {
  const h = await startHrmr({ modules: { other: OTHER } });
  t.after(() => h.kill());
  h.writeModule('other', OTHER.replace("'other", "'other2"));
  assert.match(await admin(h.port, 'RELOAD'), /^OK/);
  h.writeModule('other', 'syntax error here');
  assert.match(await admin(h.port, 'RELOAD'), /^ERR/);
  await h.waitForLog((l) => l.msg === 'module reloaded' && l.module === 'other');
  await h.waitForLog((l) => l.module === 'other' && l.level === 50);
  assert.ok(h.logs.some((l) => l.msg === 'module loaded' && l.module === 'other'));
  for (const l of h.logs) assert.equal(typeof l.time, 'number', `not pino JSON: ${JSON.stringify(l)}`);
});
