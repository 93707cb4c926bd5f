// SPDX-License-Identifier: LGPL-3.0-or-later
/**
 * The TLS and PROXY flags (issue 23) from the command line and the
 * environment: HRMR_TLS_CERT/HRMR_TLS_KEY give one pair, HRMR_TLS_CA and
 * HRMR_TLS_CLIENT_AUTH, HRMR_PROXY_PROTOCOL_FROM; bad values exit 2 with one
 * line naming the flag or file.
 */
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import tls from 'node:tls';
import { after, test } from 'node:test';
import { runCli, startHrmr } from './helpers/hrmr.ts';
import { makeCertKit } from './helpers/tls-certs.ts';

const kit = makeCertKit();
after(() => rmSync(kit.dir, { recursive: true, force: true }));
const pair = kit.server('env', ['localhost']);
const bot = kit.client('bot2');
const INFO = `export default { routes: [{ prefix: 'INFO', message(m, ctx) { return JSON.stringify(ctx.tls) + '\\n'; } }] };`;

test('HRMR_TLS_CERT, HRMR_TLS_KEY, HRMR_TLS_CA and HRMR_TLS_CLIENT_AUTH configure TLS', async (t) => {
  const h = await startHrmr({ modules: { info: INFO }, env: { HRMR_TLS_CERT: pair.cert, HRMR_TLS_KEY: pair.key, HRMR_TLS_CA: kit.ca, HRMR_TLS_CLIENT_AUTH: 'require' } });
  t.after(() => h.kill());
  const info = await new Promise<Record<string, unknown>>((resolve, reject) => {
    const s = tls.connect({ port: h.port, host: '127.0.0.1', servername: 'localhost', ca: kit.caPem, cert: kit.read(bot.cert), key: kit.read(bot.key) }, () => s.write('INFO\n'));
    s.once('data', (d) => {
      s.destroy();
      resolve(JSON.parse(String(d)));
    });
    s.once('error', reject);
  });
  assert.equal(info.authorized, true);
  assert.deepEqual(info.subject, { CN: 'bot2', O: 'bots' });
});

test('bad TLS and PROXY values exit 2 with one line naming the flag', async () => {
  const cases: Array<[string[], Record<string, string>, RegExp]> = [
    [['--tls-key', pair.key], {}, /--tls-cert and --tls-key come in pairs/],
    [['--tls-ca', kit.ca], {}, /--tls-ca needs --tls-cert/],
    [['--proxy-protocol-from', '10.0.0.0/99'], {}, /--proxy-protocol-from .*10\.0\.0\.0\/99/],
    [[], { HRMR_PROXY_PROTOCOL_FROM: 'nope' }, /--proxy-protocol-from/],
    [['--tls-cert', pair.cert, '--tls-key', pair.key, '--tls-ca', kit.dir + '/missing-ca.pem'], {}, /missing-ca\.pem/],
  ];
  for (const [args, env, re] of cases) {
    const r = await runCli(['--port', '0', '--modules', kit.dir, ...args], { env });
    assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, re);
    assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
  }
});
