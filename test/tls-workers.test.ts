// SPDX-License-Identifier: LGPL-3.0-or-later
/**
 * TLS and PROXY flags under `--workers` (issue 23): every worker process
 * terminates TLS with the same files and trusts the same PROXY sources; a
 * RELOAD fanned out to the workers re-reads the certificates in each, and
 * a bad file answers ERR naming it.
 */
import assert from 'node:assert/strict';
import { copyFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import net from 'node:net';
import tls from 'node:tls';
import { after, test } from 'node:test';
import { admin, startHrmr } from './helpers/hrmr.ts';
import { makeCertKit } from './helpers/tls-certs.ts';

const kit = makeCertKit();
after(() => rmSync(kit.dir, { recursive: true, force: true }));
const INFO = `export default { routes: [{ prefix: 'INFO', message(m, ctx) { return JSON.stringify({ tls: ctx.tls, peer: ctx.remoteAddress, pid: process.pid }) + '\\n'; } }] };`;

function tlsInfo(port: number): Promise<{ print: string; info: { tls: { servername: string }; pid: number } }> {
  return new Promise((resolve, reject) => {
    const s = tls.connect({ port, host: '127.0.0.1', servername: 'localhost', ca: kit.caPem }, () => s.write('INFO\n'));
    let buf = '';
    s.on('data', (d) => {
      buf += d;
      if (buf.includes('\n')) {
        const print = s.getPeerCertificate().fingerprint256;
        s.destroy();
        resolve({ print, info: JSON.parse(buf) });
      }
    });
    s.once('error', reject);
  });
}

test('--workers 2: TLS, PROXY and certificate RELOAD in every worker', async (t) => {
  const first = kit.server('w1', ['localhost']);
  const cert = join(kit.dir, 'w.crt');
  const key = join(kit.dir, 'w.key');
  copyFileSync(first.cert, cert);
  copyFileSync(first.key, key);
  const h = await startHrmr({ modules: { info: INFO }, args: ['--workers', '2', '--tls-cert', cert, '--tls-key', key, '--proxy-protocol-from', '127.0.0.2'] });
  t.after(() => h.kill());
  const prints = new Set<string>();
  for (let i = 0; i < 12; i++) {
    const r = await tlsInfo(h.port);
    assert.equal(r.info.tls.servername, 'localhost');
    prints.add(r.print);
  }
  assert.equal(prints.size, 1);
  const proxied = await new Promise<string>((resolve) => {
    let buf = '';
    const s = net.connect({ port: h.port, host: '127.0.0.1', localAddress: '127.0.0.2' }, () => s.end('PROXY TCP4 198.51.100.4 127.0.0.1 1234 80\r\nINFO\n'));
    s.on('data', (d) => (buf += d));
    s.on('close', () => resolve(buf));
  });
  assert.equal(JSON.parse(proxied).peer, '198.51.100.4');

  const second = kit.server('w2', ['localhost']);
  copyFileSync(second.cert, cert);
  copyFileSync(second.key, key);
  assert.match(await admin(h.port, 'RELOAD'), /^OK /);
  const after = new Set<string>();
  for (let i = 0; i < 8; i++) after.add((await tlsInfo(h.port)).print);
  assert.equal(after.size, 1);
  assert.ok(!prints.has([...after][0]!));

  writeFileSync(key, 'garbage\n');
  const reply = await admin(h.port, 'RELOAD');
  assert.match(reply, /^ERR /);
  assert.ok(reply.includes(key), reply);
  // The previous certificate still serves.
  assert.equal((await tlsInfo(h.port)).print, [...after][0]);
});
