// SPDX-License-Identifier: LGPL-3.0-or-later
// `hrmr ws <url>` (issue 21, point 5): each --send is one text frame with
// \r \n \t \\ interpreted, frames received are printed one per line, and it
// stays open until SIGTERM (or --wait ms after the last send), exiting 0.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import type { AddressInfo } from 'node:net';
import { WebSocketServer } from 'ws';
import { BIN, ROOT, runCli } from './helpers/hrmr.ts';

async function echoServer(t: { after(fn: () => Promise<void> | void): void }): Promise<{ url: string; received: string[] }> {
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0 });
  await new Promise<void>((r) => wss.once('listening', () => r()));
  const received: string[] = [];
  wss.on('connection', (ws) => {
    ws.send('hello');
    ws.on('message', (data) => {
      received.push(String(data));
      ws.send(`echo:${String(data)}`);
    });
  });
  t.after(() => new Promise<void>((r) => { for (const c of wss.clients) c.terminate(); wss.close(() => r()); }));
  return { url: `ws://127.0.0.1:${(wss.address() as AddressInfo).port}/x`, received };
}

test('hrmr ws: one text frame per --send (escapes interpreted), frames printed one per line, SIGTERM closes and exits 0', { timeout: 60_000 }, async (t) => {
  const s = await echoServer(t);
  const p = spawn(process.execPath, [BIN, 'ws', s.url, '--send', 'a\\r\\nb', '--send', 'c\\td\\\\n'], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  p.stdout.setEncoding('utf8');
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no frames: ${out}`)), 30_000);
    p.stdout.on('data', (d: string) => {
      out += d;
      if (out.includes('echo:c')) {
        clearTimeout(timer);
        resolve();
      }
    });
  });
  assert.deepEqual(s.received, ['a\r\nb', 'c\td\\n']);
  assert.equal(out.split('\n')[0], 'hello');
  assert.ok(out.includes('echo:a\r\nb\n'));
  assert.equal(p.exitCode, null, 'stays open after the last send');
  p.kill('SIGTERM');
  const code = await new Promise<number | null>((r) => p.once('exit', (c) => r(c)));
  assert.equal(code, 0);
});

test('hrmr ws --wait closes after the last send and exits 0; a refused connection exits 1; a bad URL exits 2', { timeout: 60_000 }, async (t) => {
  const s = await echoServer(t);
  const r = await runCli(['ws', s.url, '--send', 'ping', '--wait', '1500'], { timeoutMs: 30_000 });
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, 'hello\necho:ping\n');
  const refused = await runCli(['ws', 'ws://127.0.0.1:1/x', '--wait', '100'], { timeoutMs: 30_000 });
  assert.equal(refused.code, 1);
  assert.match(refused.stderr, /^hrmr ws: .*ECONNREFUSED/);
  const bad = await runCli(['ws', 'http://127.0.0.1/x'], { timeoutMs: 30_000 });
  assert.equal(bad.code, 2);
});
