// SPDX-License-Identifier: LGPL-3.0-or-later
/**
 * The PROXY protocol (issue 23) with Debian's haproxy in front (send-proxy
 * and send-proxy-v2): ctx.remoteAddress/remotePort and the admin loopback
 * rule use the carried client address; TLS behind PROXY; trusted sources
 * without a valid header and untrusted sources with one are closed and
 * counted. haproxy connects from 127.0.0.2, the only trusted source; the
 * test's own connections come from 127.0.0.1 (untrusted).
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { rmSync } from 'node:fs';
import net from 'node:net';
import tls from 'node:tls';
import { after, before, test } from 'node:test';
import { repoTempDir } from './helpers/bundled.ts';
import { admin, exchange, startHrmr, type Hrmr } from './helpers/hrmr.ts';
import { startHaproxy, type Haproxy } from './helpers/haproxy.ts';
import { makeCertKit, type CertKit } from './helpers/tls-certs.ts';
import { INFO_MODULE } from './helpers/tls-module.ts';
import { PROXY_V2_SIGNATURE } from '../src/proxy/parse.ts';

const BALANCER = '127.0.0.2';
let kit: CertKit;
let h: Hrmr;
let hap: Haproxy;
let dir: string;

before(async () => {
  kit = makeCertKit();
  const cert = kit.server('local', ['localhost']);
  dir = repoTempDir('proxy-');
  h = await startHrmr({ dir, modules: { info: INFO_MODULE }, args: ['--tls-cert', cert.cert, '--tls-key', cert.key, '--peek-timeout', '2000'], env: { HRMR_PROXY_PROTOCOL_FROM: `${BALANCER}/32` } });
  hap = await startHaproxy(h.port, BALANCER, { v1: 'send-proxy', v2: 'send-proxy-v2' });
});
after(async () => {
  await hap?.stop();
  await h?.kill();
  rmSync(dir, { recursive: true, force: true });
  rmSync(kit.dir, { recursive: true, force: true });
});

/** Sends `data` from `localAddress` and collects the reply until the server closes. */
function from(localAddress: string, port: number, data: string | Buffer, o: { end?: boolean; timeoutMs?: number } = {}): Promise<{ reply: string; localPort: number }> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let localPort = 0;
    const s = net.connect({ port, host: '127.0.0.1', localAddress }, () => {
      localPort = s.localPort ?? 0;
      s.write(data);
      if (o.end) s.end();
    });
    const t = setTimeout(() => {
      s.destroy();
      reject(new Error(`no close within ${o.timeoutMs ?? 8000} ms; got ${Buffer.concat(chunks).toString()}`));
    }, o.timeoutMs ?? 8000);
    s.on('data', (d: Buffer) => chunks.push(d));
    s.on('error', () => undefined);
    s.on('close', () => {
      clearTimeout(t);
      resolve({ reply: Buffer.concat(chunks).toString(), localPort });
    });
  });
}

function status(): Promise<{ proxy: { headers: number; refused: number; failures: Record<string, number> }; rejected: Record<string, number> }> {
  return admin(h.port, 'STATUS').then((l) => JSON.parse(l.slice(3)));
}

for (const variant of ['v1', 'v2'] as const) {
  test(`haproxy send-proxy${variant === 'v2' ? '-v2' : ''}: ctx.remoteAddress/remotePort are the client's, for a line route and HTTP`, async () => {
    const line = await from('127.0.0.5', hap.ports[variant]!, 'INFO\n', { end: true });
    const j = JSON.parse(line.reply);
    assert.equal(j.peer, '127.0.0.5');
    assert.equal(j.port, line.localPort);
    assert.equal(j.tls, null);
    const http = await from('127.0.0.6', hap.ports[variant]!, 'GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
    assert.equal(JSON.parse(http.reply.slice(http.reply.indexOf('\r\n\r\n') + 4)).peer, '127.0.0.6');
  });

  test(`haproxy send-proxy${variant === 'v2' ? '-v2' : ''}: TLS behind PROXY (header, then ClientHello)`, async () => {
    const s = await new Promise<tls.TLSSocket>((resolve, reject) => {
      const c = tls.connect({ port: hap.ports[variant]!, host: '127.0.0.1', localAddress: '127.0.0.7', servername: 'localhost', ca: kit.caPem } as tls.ConnectionOptions, () => resolve(c));
      c.once('error', reject);
    });
    s.write('INFO\n');
    const line = await new Promise<string>((resolve) => {
      let b = '';
      s.on('data', (d) => {
        b += d;
        if (b.includes('\n')) resolve(b.slice(0, b.indexOf('\n')));
      });
    });
    s.destroy();
    const j = JSON.parse(line);
    assert.equal(j.peer, '127.0.0.7');
    assert.equal(j.tls.servername, 'localhost');
  });
}

test('curl https through haproxy send-proxy-v2 sees the client address', async () => {
  const out = await new Promise<string>((resolve, reject) =>
    execFile('curl', ['-sS', '--interface', '127.0.0.8', '--cacert', kit.ca, '--resolve', `localhost:${hap.ports.v2}:127.0.0.1`, `https://localhost:${hap.ports.v2}/`], { timeout: 20_000 }, (err, stdout, stderr) => (err ? reject(new Error(stderr)) : resolve(stdout))),
  );
  const j = JSON.parse(out);
  assert.equal(j.peer, '127.0.0.8');
  assert.equal(j.tls.alpnProtocol, 'http/1.1');
});

test('the admin loopback rule uses the carried address: loopback through haproxy is admin, a remote client is not', async () => {
  const viaHaproxy = await from('127.0.0.1', hap.ports.v2!, 'STATUS\n', { end: true });
  assert.match(viaHaproxy.reply, /^OK \{/);
  // A trusted balancer saying the client is remote makes the connection remote.
  const remote = await from(BALANCER, h.port, 'PROXY TCP4 203.0.113.9 127.0.0.1 40000 8080\r\nSTATUS\n', { end: true });
  assert.equal(remote.reply, 'ERR forbidden\n');
  const remoteInfo = await from(BALANCER, h.port, 'PROXY TCP4 203.0.113.9 127.0.0.1 40000 8080\r\nINFO\n', { end: true });
  assert.equal(JSON.parse(remoteInfo.reply).peer, '203.0.113.9');
  assert.equal(JSON.parse(remoteInfo.reply).port, 40000);
});

test('a trusted source without a valid header is closed: none, malformed, truncated, unknown v2 command', async () => {
  const before = await status();
  assert.equal((await from(BALANCER, h.port, 'INFO\n', { end: true })).reply, '');
  assert.equal((await from(BALANCER, h.port, 'PROXY TCP4 1.2.3 5.6.7.8 1 2\r\nINFO\n', { end: true })).reply, '');
  assert.equal((await from(BALANCER, h.port, 'PROXY TCP4 203.0.113', { end: true })).reply, '');
  const unknown = Buffer.concat([PROXY_V2_SIGNATURE, Buffer.from([0x22, 0x11, 0x00, 0x0c, 1, 2, 3, 4, 5, 6, 7, 8, 0, 1, 0, 2]), Buffer.from('INFO\n')]);
  assert.equal((await from(BALANCER, h.port, unknown, { end: true })).reply, '');
  // Half a header, then silence: closed by the peek timeout.
  assert.equal((await from(BALANCER, h.port, 'PROXY TCP4 ', { timeoutMs: 10_000 })).reply, '');
  const after = (await status()).proxy.failures;
  const d = (k: string): number => (after[k] ?? 0) - (before.proxy.failures[k] ?? 0);
  assert.deepEqual([d('missing'), d('malformed'), d('truncated'), d('unknown-command'), d('timeout')], [1, 1, 1, 1, 1]);
});

test('an untrusted source sending a PROXY header is refused (closed, counted), never believed', async () => {
  const before = await status();
  assert.equal(await exchange(h.port, 'PROXY TCP4 127.0.0.1 127.0.0.1 1 2\r\nSTATUS\n', { end: true }), '');
  const v2 = Buffer.concat([PROXY_V2_SIGNATURE, Buffer.from([0x21, 0x11, 0x00, 0x0c, 127, 0, 0, 1, 127, 0, 0, 1, 0, 1, 0, 2]), Buffer.from('INFO\n')]);
  assert.equal(await exchange(h.port, v2, { end: true }), '');
  const after = await status();
  assert.equal(after.proxy.refused - before.proxy.refused, 2);
  assert.equal(after.rejected.proxyRefused - before.rejected.proxyRefused, 2);
  // Plain traffic from the untrusted source is unaffected.
  assert.equal(JSON.parse(await exchange(h.port, 'INFO\n', { end: true })).peer, '127.0.0.1');
});
