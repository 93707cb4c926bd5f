// SPDX-License-Identifier: LGPL-3.0-or-later
/**
 * The bundled services over TLS on the same port (issue 23): a bot's HASH
 * line protocol through `openssl s_client` (main thread and pool), lhttp
 * publish/subscribe over `wss://` with the chat processor, its chat page
 * over https.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { execFile, spawn } from 'node:child_process';
import { rmSync } from 'node:fs';
import { after, before, test } from 'node:test';
import WebSocket from 'ws';
import { startBundled } from './helpers/bundled.ts';
import { waitUntil, type Hrmr } from './helpers/hrmr.ts';
import { makeCertKit, type CertKit } from './helpers/tls-certs.ts';

let kit: CertKit;
let h: Hrmr;

before(async () => {
  kit = makeCertKit();
  const c = kit.server('svc', ['localhost']);
  h = await startBundled(['hash', 'lhttp', 'lhttp-chat', 'http'], { args: ['--tls-cert', c.cert, '--tls-key', c.key] });
});
after(async () => {
  await h?.kill();
  rmSync(kit.dir, { recursive: true, force: true });
});

test('HASH over TLS with openssl s_client: a digest on the main thread and scrypt on the pool', async () => {
  const out = await new Promise<string>((resolve, reject) => {
    const p = spawn('openssl', ['s_client', '-connect', `127.0.0.1:${h.port}`, '-servername', 'localhost', '-quiet', '-CAfile', kit.ca], { stdio: ['pipe', 'pipe', 'ignore'] });
    let buf = '';
    const t = setTimeout(() => (p.kill('SIGKILL'), reject(new Error(`s_client: ${buf}`))), 30_000);
    p.stdout.setEncoding('utf8').on('data', (d: string) => {
      buf += d;
      if (buf.split('\n').length > 2) {
        clearTimeout(t);
        p.kill('SIGKILL');
        resolve(buf);
      }
    });
    p.stdin.write('HASH sha256 hello\nHASH scrypt pw\n');
  });
  const [sha, scrypt] = out.split('\n');
  assert.equal(sha, createHash('sha256').update('hello').digest('hex'));
  assert.match(scrypt!, /^[0-9a-f]{64}$/);
});

function wss(path: string): Promise<{ ws: WebSocket; frames: string[] }> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`wss://localhost:${h.port}${path}`, { ca: kit.caPem });
    const frames: string[] = [];
    ws.on('message', (d) => frames.push(String(d)));
    ws.once('open', () => resolve({ ws, frames }));
    ws.once('error', reject);
  });
}

test('lhttp over wss://: subscribe, publish through the chat processor', async () => {
  const sub = await wss('/lhttp');
  const pub = await wss('/lhttp');
  sub.ws.send('LHTTP/1.0 chat\r\nsubscribe:room.tls\r\n\r\n');
  // Publish until the subscription is in place (its reply is not guaranteed to be a frame).
  await waitUntil(() => {
    pub.ws.send('LHTTP/1.0 chat\r\npublish:room.tls\r\nnick:ann\r\n\r\nhello over tls');
    return sub.frames.some((f) => f.includes('hello over tls'));
  }, 'a published frame');
  const got = sub.frames.find((f) => f.includes('hello over tls'))!;
  assert.match(got, /time:\d+/);
  sub.ws.close();
  pub.ws.close();
});

test('the chat page over https', async () => {
  const page = await new Promise<string>((resolve, reject) =>
    execFile('curl', ['-sS', '-o', '/dev/null', '-w', '%{http_code}', '--cacert', kit.ca, '--resolve', `localhost:${h.port}:127.0.0.1`, `https://localhost:${h.port}/chat.html`], { timeout: 20_000 }, (err, stdout, stderr) => (err ? reject(new Error(stderr)) : resolve(stdout))),
  );
  assert.equal(page, '200');
});
