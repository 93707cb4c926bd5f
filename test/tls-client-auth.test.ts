// SPDX-License-Identifier: LGPL-3.0-or-later
/**
 * Client certificates (issue 23): `--tls-ca` with `--tls-client-auth
 * require` refuses clients without a certificate the CA signed; `request`
 * lets them in and `ctx.tls.authorized` says which had one; ctx.tls.subject
 * and fingerprint256 identify the bot. Node's `tls` client with and without
 * a certificate.
 */
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { rmSync } from 'node:fs';
import tls from 'node:tls';
import { after, before, test } from 'node:test';
import { admin, startHrmr, type Hrmr } from './helpers/hrmr.ts';
import { makeCertKit, type CertKit, type Pem } from './helpers/tls-certs.ts';

const INFO = `export default { routes: [{ prefix: 'INFO', message(m, ctx) { return JSON.stringify(ctx.tls) + '\\n'; } }] };`;

let kit: CertKit;
let server: Pem;
let other: Pem;
let bot: Pem;
let stranger: Pem;

before(() => {
  kit = makeCertKit();
  server = kit.server('server', ['localhost']);
  other = kit.server('other', ['*.example.test']);
  bot = kit.client('bot1');
  stranger = kit.client('bot9', { stranger: true });
});
after(() => rmSync(kit.dir, { recursive: true, force: true }));

function start(mode: string): Promise<Hrmr> {
  return startHrmr({ modules: { info: INFO }, args: ['--tls-cert', server.cert, '--tls-key', server.key, '--tls-cert', other.cert, '--tls-key', other.key, '--tls-ca', kit.ca, '--tls-client-auth', mode] });
}

/** INFO over TLS: the parsed ctx.tls, or an Error when the server refused (handshake failure or close without an answer). */
function info(port: number, client: Pem | null, servername = 'localhost'): Promise<Record<string, unknown> | Error> {
  return new Promise((resolve) => {
    const s = tls.connect({ port, host: '127.0.0.1', servername, ca: kit.caPem, ...(client ? { cert: kit.read(client.cert), key: kit.read(client.key) } : {}) }, () => s.write('INFO\n'));
    let buf = '';
    s.on('data', (d) => {
      buf += d;
      if (buf.includes('\n')) {
        s.destroy();
        resolve(JSON.parse(buf));
      }
    });
    s.on('error', (err) => resolve(err));
    s.on('close', () => resolve(new Error(`closed without an answer (${buf})`)));
  });
}

test('require: no certificate or one another CA signed fails; a signed one gets in with subject and fingerprint', async (t) => {
  const h = await start('require');
  t.after(() => h.kill());
  assert.ok((await info(h.port, null)) instanceof Error);
  assert.ok((await info(h.port, stranger)) instanceof Error);
  const ok = await info(h.port, bot);
  assert.ok(!(ok instanceof Error), String(ok));
  assert.equal(ok.authorized, true);
  assert.deepEqual(ok.subject, { CN: 'bot1', O: 'bots' });
  assert.equal(ok.fingerprint256, new X509Certificate(kit.read(bot.cert)).fingerprint256);
  // The CA is checked whichever certificate SNI picked.
  const viaSni = await info(h.port, bot, 'a.example.test');
  assert.ok(!(viaSni instanceof Error) && viaSni.authorized === true && viaSni.servername === 'a.example.test');
  assert.ok((await info(h.port, stranger, 'a.example.test')) instanceof Error);
  const st = JSON.parse((await admin(h.port, 'STATUS')).slice(3));
  assert.equal(st.tls.handshakes, 2);
  assert.ok(st.tls.failures['client-certificate'] >= 3, JSON.stringify(st.tls));
});

test('request: everyone gets in; ctx.tls.authorized says who had a certificate the CA signed', async (t) => {
  const h = await start('request');
  t.after(() => h.kill());
  const none = await info(h.port, null);
  assert.ok(!(none instanceof Error));
  assert.deepEqual([none.authorized, none.subject, none.fingerprint256], [false, null, null]);
  const good = await info(h.port, bot);
  assert.ok(!(good instanceof Error));
  assert.deepEqual([good.authorized, (good.subject as { CN: string }).CN], [true, 'bot1']);
  const bad = await info(h.port, stranger);
  assert.ok(!(bad instanceof Error));
  assert.deepEqual([bad.authorized, (bad.subject as { CN: string }).CN], [false, 'bot9']);
});

test('client-auth flags are checked: require needs --tls-ca, modes are named', async () => {
  const { runCli } = await import('./helpers/hrmr.ts');
  const a = await runCli(['--port', '0', '--modules', kit.dir, '--tls-cert', server.cert, '--tls-key', server.key, '--tls-client-auth', 'require']);
  assert.equal(a.code, 2);
  assert.match(a.stderr, /--tls-ca/);
  const b = await runCli(['--port', '0', '--modules', kit.dir, '--tls-cert', server.cert, '--tls-key', server.key, '--tls-ca', kit.ca, '--tls-client-auth', 'maybe']);
  assert.equal(b.code, 2);
  assert.match(b.stderr, /none, request or require/);
});
