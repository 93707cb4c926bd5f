// SPDX-License-Identifier: LGPL-3.0-or-later
/**
 * Certificate rotation (issue 23): RELOAD and SIGHUP re-read every
 * certificate and key file; new handshakes get the new certificate while an
 * open connection goes on; a file that fails to load keeps the old
 * certificate serving and RELOAD answers ERR naming the file.
 */
import assert from 'node:assert/strict';
import { copyFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import tls from 'node:tls';
import { after, before, test } from 'node:test';
import { admin, startHrmr, waitUntil, type Hrmr } from './helpers/hrmr.ts';
import { makeCertKit, type CertKit } from './helpers/tls-certs.ts';

const INFO = `export default { routes: [{ prefix: 'INFO', message(m, ctx) { return JSON.stringify(ctx.tls) + '\\n'; } }] };`;

let kit: CertKit;
let certFile: string;
let keyFile: string;
let h: Hrmr;

before(async () => {
  kit = makeCertKit();
  const first = kit.server('first', ['localhost']);
  certFile = join(kit.dir, 'live.crt');
  keyFile = join(kit.dir, 'live.key');
  copyFileSync(first.cert, certFile);
  copyFileSync(first.key, keyFile);
  h = await startHrmr({ modules: { info: INFO }, args: ['--tls-cert', certFile, '--tls-key', keyFile] });
});
after(async () => {
  await h?.kill();
  rmSync(kit.dir, { recursive: true, force: true });
});

class Conn {
  private buf = '';
  private constructor(readonly s: tls.TLSSocket) {
    s.on('data', (d) => (this.buf += d));
    s.on('error', () => undefined);
  }
  static open(port: number): Promise<Conn> {
    return new Promise((resolve, reject) => {
      const s = tls.connect({ port, host: '127.0.0.1', servername: 'localhost', ca: kit.caPem }, () => resolve(new Conn(s)));
      s.once('error', reject);
    });
  }
  get fingerprint(): string {
    return this.s.getPeerCertificate().fingerprint256;
  }
  async ask(line: string): Promise<string> {
    this.buf = '';
    this.s.write(line + '\n');
    await waitUntil(() => this.buf.includes('\n') || this.s.destroyed, 'a reply');
    return this.buf.trim();
  }
}

async function fingerprintNow(): Promise<string> {
  const c = await Conn.open(h.port);
  const f = c.fingerprint;
  c.s.destroy();
  return f;
}

test('RELOAD rotates the certificate for new handshakes; an open connection is kept', async () => {
  const open = await Conn.open(h.port);
  const oldPrint = open.fingerprint;
  assert.equal(JSON.parse(await open.ask('INFO')).servername, 'localhost');
  const second = kit.server('second', ['localhost']);
  copyFileSync(second.cert, certFile);
  copyFileSync(second.key, keyFile);
  assert.match(await admin(h.port, 'RELOAD'), /^OK /);
  const newPrint = await fingerprintNow();
  assert.notEqual(newPrint, oldPrint);
  const st = JSON.parse((await admin(h.port, 'STATUS')).slice(3));
  assert.deepEqual(st.tls.certificates.map((c: { cert: string; names: string[]; fingerprint256: string }) => [c.cert, c.names, c.fingerprint256]), [[certFile, ['localhost'], newPrint]]);
  // The connection opened before the rotation still works.
  assert.equal(JSON.parse(await open.ask('INFO')).servername, 'localhost');
  open.s.destroy();
});

test('a file that fails to load keeps the old certificate serving; RELOAD says ERR naming the file', async () => {
  const before = await fingerprintNow();
  writeFileSync(certFile, 'not a certificate\n');
  const reply = await admin(h.port, 'RELOAD');
  assert.match(reply, /^ERR /);
  assert.ok(reply.includes(certFile), reply);
  assert.equal(await fingerprintNow(), before);
  // A key that does not fit its certificate also keeps the old pair.
  const third = kit.server('third', ['localhost']);
  copyFileSync(third.cert, certFile);
  const other = kit.server('other', ['localhost']);
  copyFileSync(other.key, keyFile);
  const reply2 = await admin(h.port, 'RELOAD');
  assert.match(reply2, /^ERR /);
  assert.ok(reply2.includes(keyFile), reply2);
  assert.equal(await fingerprintNow(), before);
  copyFileSync(third.key, keyFile);
  assert.match(await admin(h.port, 'RELOAD'), /^OK /);
  assert.notEqual(await fingerprintNow(), before);
});

test('SIGHUP re-reads the certificate files too', async () => {
  const before = await fingerprintNow();
  const fourth = kit.server('fourth', ['localhost']);
  copyFileSync(fourth.cert, certFile);
  copyFileSync(fourth.key, keyFile);
  const reloads = h.logs.length;
  h.proc.kill('SIGHUP');
  await h.waitForLog((l) => h.logs.indexOf(l) >= reloads && typeof l.msg === 'string' && l.msg.startsWith('OK reloaded'));
  assert.notEqual(await fingerprintNow(), before);
});
