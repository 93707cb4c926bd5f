// SPDX-License-Identifier: LGPL-3.0-or-later
/**
 * TLS on the same port as plain (issue 23): terminated by SNI-picked
 * certificates, then routed like plain bytes (HTTP with curl, WebSocket
 * with wss://, a line protocol with openssl s_client); ctx.tls; garbage and
 * half-sent ClientHellos closed and counted; bad files at start exit 2.
 * Certificates are made by openssl in a temp folder.
 */
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import net from 'node:net';
import tls from 'node:tls';
import { after, before, test } from 'node:test';
import WebSocket from 'ws';
import { repoTempDir } from './helpers/bundled.ts';
import { admin, exchange, runCli, startHrmr, waitUntil, type Hrmr } from './helpers/hrmr.ts';
import { makeCertKit, type CertKit, type Pem } from './helpers/tls-certs.ts';
import { INFO_MODULE } from './helpers/tls-module.ts';

let kit: CertKit;
let local: Pem;
let wild: Pem;
let h: Hrmr;
const dirs: string[] = [];

before(async () => {
  kit = makeCertKit();
  local = kit.server('local', ['localhost']);
  wild = kit.server('wild', ['*.example.test', 'example.test']);
  const dir = repoTempDir('tls-term-');
  dirs.push(dir);
  h = await startHrmr({ dir, modules: { info: INFO_MODULE }, args: ['--tls-cert', local.cert, '--tls-key', local.key, '--tls-cert', wild.cert, '--tls-key', wild.key, '--peek-timeout', '1500'] });
});
after(async () => {
  await h?.kill();
  for (const d of [...dirs, kit.dir]) rmSync(d, { recursive: true, force: true });
});

function run(cmd: string, args: string[], timeoutMs = 20_000): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(cmd, args, { timeout: timeoutMs }, (err, stdout, stderr) => resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }));
  });
}

/** openssl s_client: sends `input` lines, returns stdout once `lines` reply lines came. */
function sClient(port: number, args: string[], input: string, lines: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const p = spawn('openssl', ['s_client', '-connect', `127.0.0.1:${port}`, '-quiet', '-CAfile', kit.ca, ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    const t = setTimeout(() => {
      p.kill('SIGKILL');
      reject(new Error(`s_client: no answer; stdout ${out}; stderr ${err}`));
    }, 20_000);
    p.stdout.setEncoding('utf8').on('data', (d: string) => {
      out += d;
      if (out.split('\n').length > lines) {
        clearTimeout(t);
        p.kill('SIGKILL');
        resolve(out);
      }
    });
    p.stderr.setEncoding('utf8').on('data', (d: string) => (err += d));
    p.stdin.write(input);
  });
}

function tlsConnect(port: number, o: tls.ConnectionOptions): Promise<tls.TLSSocket> {
  return new Promise((resolve, reject) => {
    const s = tls.connect({ port, host: '127.0.0.1', ca: kit.caPem, ...o }, () => resolve(s));
    s.once('error', reject);
  });
}

function readLine(s: net.Socket | tls.TLSSocket): Promise<string> {
  return new Promise((resolve, reject) => {
    let buf = '';
    const onData = (d: Buffer): void => {
      buf += d.toString();
      const i = buf.indexOf('\n');
      if (i >= 0) {
        s.removeListener('data', onData);
        resolve(buf.slice(0, i));
      }
    };
    s.on('data', onData);
    s.once('close', () => reject(new Error(`closed; got ${JSON.stringify(buf)}`)));
  });
}

test('curl --cacert gets https from an HTTP route on the same port as plain http', async () => {
  const https = await run('curl', ['-sS', '--cacert', kit.ca, '--resolve', `localhost:${h.port}:127.0.0.1`, `https://localhost:${h.port}/`]);
  assert.equal(https.code, 0, https.stderr);
  const j = JSON.parse(https.stdout);
  assert.deepEqual(j.tls, { servername: 'localhost', alpnProtocol: 'http/1.1', authorized: false, subject: null, fingerprint256: null });
  assert.equal(j.peer, '127.0.0.1');
  const plain = await run('curl', ['-sS', `http://127.0.0.1:${h.port}/`]);
  assert.equal(plain.code, 0, plain.stderr);
  assert.equal(JSON.parse(plain.stdout).tls, null);
  // keep-alive: two requests on one TLS connection
  const two = await run('curl', ['-sS', '--cacert', kit.ca, '--resolve', `localhost:${h.port}:127.0.0.1`, `https://localhost:${h.port}/a`, `https://localhost:${h.port}/b`]);
  assert.equal(two.code, 0, two.stderr);
  assert.equal(two.stdout.split('"servername"').length, 3);
});

test('the certificate is picked by SNI: exact SAN, then *. wildcard, else the first pair', async () => {
  const cn = async (servername: string | undefined): Promise<string> => {
    const s = await tlsConnect(h.port, servername === undefined ? { rejectUnauthorized: false } : { servername, checkServerIdentity: () => undefined });
    const c = s.getPeerCertificate().subject.CN as string;
    s.destroy();
    return c;
  };
  assert.equal(await cn('localhost'), 'localhost');
  assert.equal(await cn('bot7.example.test'), '*.example.test');
  assert.equal(await cn('example.test'), '*.example.test');
  assert.equal(await cn('unknown.other'), 'localhost');
  assert.equal(await cn(undefined), 'localhost');
});

test('openssl s_client: SNI and ALPN reach ctx.tls; a line protocol works over TLS', async () => {
  const out = await sClient(h.port, ['-servername', 'bot1.example.test', '-alpn', 'hash'], 'HASH sha256 abc\nINFO\n', 2);
  const [hash, info] = out.split('\n');
  assert.equal(hash, 'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
  const j = JSON.parse(info!);
  assert.equal(j.tls.servername, 'bot1.example.test');
  assert.equal(j.tls.alpnProtocol, 'hash');
  // The same line protocol in clear on the same port.
  assert.equal(await exchange(h.port, 'HASH sha256 abc\n', { end: true }), 'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad\n');
});

test('pool routes get ctx.tls too (message and HTTP)', async () => {
  const out = await sClient(h.port, ['-servername', 'localhost'], 'PINFO\n', 1);
  assert.equal(JSON.parse(out.split('\n')[0]!).tls.servername, 'localhost');
  const https = await run('curl', ['-sS', '--cacert', kit.ca, '--resolve', `localhost:${h.port}:127.0.0.1`, `https://localhost:${h.port}/pool`]);
  assert.equal(JSON.parse(https.stdout).tls.alpnProtocol, 'http/1.1');
  assert.equal(JSON.parse(await exchange(h.port, 'PINFO\n', { end: true })).tls, null);
});

test('wss:// WebSocket upgrades work over TLS', async () => {
  const ws = new WebSocket(`wss://localhost:${h.port}/`, { ca: kit.caPem });
  const msgs: string[] = [];
  ws.on('message', (m) => msgs.push(String(m)));
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('error', reject);
  });
  ws.send('hi');
  await waitUntil(() => msgs.length >= 2, 'two ws messages');
  assert.equal(JSON.parse(msgs[0]!).tls.servername, 'localhost');
  assert.equal(msgs[1], 'echo:hi');
  ws.close();
});

test('TLS 1.2 works, TLS 1.1 and h2-only clients are refused', async () => {
  const s = await tlsConnect(h.port, { servername: 'localhost', maxVersion: 'TLSv1.2' });
  assert.equal(s.getProtocol(), 'TLSv1.2');
  s.write('INFO\n');
  assert.equal(JSON.parse(await readLine(s)).tls.servername, 'localhost');
  s.destroy();
  await assert.rejects(tlsConnect(h.port, { servername: 'localhost', maxVersion: 'TLSv1.1', minVersion: 'TLSv1' }));
  // A client offering only h2 (which hrmr cannot carry) is refused with an alert, and counted.
  await assert.rejects(tlsConnect(h.port, { servername: 'localhost', ALPNProtocols: ['h2'] }));
  const st = JSON.parse((await admin(h.port, 'STATUS')).slice(3));
  assert.ok(st.tls.failures.alpn >= 1 && st.tls.failures.protocol >= 1, JSON.stringify(st.tls.failures));
});

test('garbage after 0x16 and half-sent ClientHellos are closed and counted, never a crash', async () => {
  const garbage = [Buffer.from([0x16, 0x03, 0x01, 0x00, 0x05, 0x01, 0x00, 0x00, 0x01, 0x00]), Buffer.from([0x16, 0xff, 0xff, 0xff]), Buffer.concat([Buffer.from([0x16, 0x03, 0x03, 0x00, 0x40, 0x01, 0x00, 0x00, 0x3c]), Buffer.alloc(0x40 - 4, 0xab)])];
  for (const g of garbage) {
    const reply = await exchange(h.port, g, { timeoutMs: 8000 });
    assert.equal(reply, '');
  }
  // Half a ClientHello, then silence: closed by the peek timeout.
  const half = await new Promise<Buffer>((resolve) => {
    const srv = net.createServer((c) => c.once('data', (d) => { resolve(d); c.destroy(); srv.close(); }));
    srv.listen(0, '127.0.0.1', () => {
      const c = tls.connect({ port: (srv.address() as net.AddressInfo).port, host: '127.0.0.1', servername: 'localhost' });
      c.on('error', () => undefined);
    });
  });
  const t0 = Date.now();
  assert.equal(await exchange(h.port, half.subarray(0, 40), { timeoutMs: 10_000 }), '');
  assert.ok(Date.now() - t0 >= 1000, 'held until the peek timeout');
  const st = JSON.parse((await admin(h.port, 'STATUS')).slice(3));
  assert.ok(st.tls.failures.malformed >= 2, JSON.stringify(st.tls));
  assert.ok(st.tls.failures.incomplete >= 1, JSON.stringify(st.tls));
  assert.ok(st.tls.handshakes >= 1);
  // Still serving.
  assert.equal(await exchange(h.port, 'HASH sha256 abc\n', { end: true }), 'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad\n');
});

test('a missing or bad certificate file at start exits 2 with one line naming it', async () => {
  const missing = join(kit.dir, 'nope.pem');
  const a = await runCli(['--port', '0', '--modules', kit.dir, '--tls-cert', missing, '--tls-key', local.key]);
  assert.equal(a.code, 2);
  assert.match(a.stderr, new RegExp(`^hrmr: .*${missing.replace(/[.]/g, '\\.')}.*\\n$`));
  const b = await runCli(['--port', '0', '--modules', kit.dir, '--tls-cert', local.cert, '--tls-key', local.cert]);
  assert.equal(b.code, 2);
  assert.ok(b.stderr.includes(local.cert) && b.stderr.split('\n').length === 2, b.stderr);
  const c = await runCli(['--port', '0', '--modules', kit.dir, '--tls-cert', local.cert, '--tls-key', wild.key]);
  assert.equal(c.code, 2);
  assert.ok(c.stderr.includes(wild.key), c.stderr);
  const d = await runCli(['--port', '0', '--modules', kit.dir, '--tls-cert', local.cert]);
  assert.equal(d.code, 2);
  assert.match(d.stderr, /pairs/);
});
