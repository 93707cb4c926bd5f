// SPDX-License-Identifier: LGPL-3.0-or-later
/**
 * Hostile TLS clients (issue 23): a ClientHello followed by silence is
 * dropped at the peek timeout (the handshake is bounded like a peek);
 * handshakes in progress count against --max-connections, and a TLS client
 * over the limit is closed, not answered in clear; every connection is
 * released afterwards.
 */
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import net from 'node:net';
import tls from 'node:tls';
import { after, before, test } from 'node:test';
import { admin, exchange, startHrmr, waitUntil, type Hrmr } from './helpers/hrmr.ts';
import { makeCertKit, type CertKit } from './helpers/tls-certs.ts';

const INFO = `export default { routes: [{ prefix: 'INFO', message(m, ctx) { return JSON.stringify(ctx.tls) + '\\n'; } }] };`;
let kit: CertKit;
let h: Hrmr;
let hello: Buffer;

before(async () => {
  kit = makeCertKit();
  const c = kit.server('s', ['localhost']);
  h = await startHrmr({ modules: { info: INFO }, args: ['--tls-cert', c.cert, '--tls-key', c.key, '--peek-timeout', '1000', '--max-connections', '3'] });
  hello = await new Promise<Buffer>((resolve) => {
    const srv = net.createServer((s) =>
      s.once('data', (d) => {
        resolve(d);
        s.destroy();
        srv.close();
      }),
    );
    srv.listen(0, '127.0.0.1', () => tls.connect({ port: (srv.address() as net.AddressInfo).port, host: '127.0.0.1', servername: 'localhost' }).on('error', () => undefined));
  });
});
after(async () => {
  await h?.kill();
  rmSync(kit.dir, { recursive: true, force: true });
});

async function status(): Promise<{ connections: number; tls: { handshakes: number; failures: Record<string, number> }; rejected: { maxConnections: number } }> {
  return JSON.parse((await admin(h.port, 'STATUS')).slice(3));
}

test('a whole ClientHello then silence: the handshake is dropped at the peek timeout and counted', async () => {
  const t0 = Date.now();
  const reply = await exchange(h.port, hello, { timeoutMs: 15_000 });
  assert.ok(reply.length > 0, 'the server answered the ClientHello (ServerHello)');
  assert.ok(Date.now() - t0 >= 900, `closed after ${Date.now() - t0} ms`);
  const st = await status();
  assert.equal(st.tls.failures.timeout, 1);
});

test('handshakes in progress count against --max-connections; a TLS client over the limit is closed unanswered', async () => {
  const held: net.Socket[] = [];
  for (let i = 0; i < 3; i++) {
    const s = net.connect(h.port, '127.0.0.1');
    s.on('error', () => undefined);
    s.write(hello.subarray(0, 30));
    held.push(s);
  }
  await waitUntil(async () => (await status()).connections >= 2, 'stalled handshakes counted');
  // Over the limit: a TLS client is closed without a clear-text answer.
  const over = await exchange(h.port, hello, { timeoutMs: 10_000 });
  assert.equal(over, '');
  for (const s of held) s.destroy();
  await waitUntil(async () => (await status()).connections === 0, 'every connection released');
  // And a normal TLS client gets in again.
  const ok = await new Promise<string>((resolve, reject) => {
    const s = tls.connect({ port: h.port, host: '127.0.0.1', servername: 'localhost', ca: kit.caPem }, () => s.write('INFO\n'));
    s.once('data', (d) => {
      s.destroy();
      resolve(String(d));
    });
    s.once('error', reject);
  });
  assert.equal(JSON.parse(ok).servername, 'localhost');
  const st = await status();
  assert.ok(st.rejected.maxConnections >= 1);
});
