// SPDX-License-Identifier: LGPL-3.0-or-later
/**
 * SNI passthrough routes (issue 23): a route `{ sni, connection }` gets the
 * raw TLS stream from byte 0 and forwards it to a TLS backend that holds
 * its own certificate; exact and `*.` names; termination for other names;
 * without --tls-cert, an sni route alone still routes TLS.
 */
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import tls from 'node:tls';
import { after, before, test } from 'node:test';
import { admin, startHrmr, type Hrmr } from './helpers/hrmr.ts';
import { makeCertKit, type CertKit, type Pem } from './helpers/tls-certs.ts';

const PASS = `import net from 'node:net';
let last = null;
let count = 0;
const forward = (port) => (socket, ctx) => {
  last = ctx.tls;
  count++;
  const b = net.connect(Number(port), '127.0.0.1');
  socket.pipe(b).pipe(socket);
  b.on('error', () => socket.destroy());
  socket.on('error', () => b.destroy());
};
export default {
  routes: (cfg) => [
    { sni: 'db.internal', connection: forward(cfg.backend) },
    { sni: '*.bots.internal', connection: forward(cfg.backend) },
  ],
  status() { return { last, count }; },
};
`;
const INFO = `export default { routes: [{ prefix: 'INFO', message(m, ctx) { return JSON.stringify(ctx.tls) + '\\n'; } }] };`;

let kit: CertKit;
let front: Pem;
let backendCert: Pem;
let backend: tls.Server;
let backendPort = 0;
const seen: string[] = [];

before(async () => {
  kit = makeCertKit();
  front = kit.server('front', ['localhost', 'web.example']);
  backendCert = kit.server('backend', ['db.internal', '*.bots.internal']);
  backend = tls.createServer({ cert: kit.read(backendCert.cert), key: kit.read(backendCert.key) }, (s) => {
    seen.push(s.servername || '');
    s.on('data', (d) => s.write(`backend:${(s as tls.TLSSocket & { servername?: string }).servername}:${d}`));
    s.on('error', () => undefined);
  });
  await new Promise<void>((r) => backend.listen(0, '127.0.0.1', () => r()));
  backendPort = (backend.address() as { port: number }).port;
});
after(async () => {
  backend?.close();
  rmSync(kit.dir, { recursive: true, force: true });
});

function hello(port: number, servername: string, text: string): Promise<{ cn: string; reply: string }> {
  return new Promise((resolve, reject) => {
    const s = tls.connect({ port, host: '127.0.0.1', servername, ca: kit.caPem }, () => {
      const cn = s.getPeerCertificate().subject.CN as string;
      s.write(text);
      s.once('data', (d) => {
        s.destroy();
        resolve({ cn, reply: String(d) });
      });
    });
    s.once('error', reject);
  });
}

async function start(args: string[]): Promise<Hrmr> {
  return startHrmr({ modules: { pass: PASS, info: INFO }, args: ['--set', `pass.backend=${backendPort}`, ...args] });
}

test("sni routes get the raw TLS stream: the backend's certificate answers, exact and wildcard names; other names are terminated", async (t) => {
  const h = await start(['--tls-cert', front.cert, '--tls-key', front.key]);
  t.after(() => h.kill());
  const db = await hello(h.port, 'db.internal', 'ping');
  assert.deepEqual(db, { cn: 'db.internal', reply: 'backend:db.internal:ping' });
  const bot = await hello(h.port, 'b7.bots.internal', 'hi');
  assert.deepEqual(bot, { cn: 'db.internal', reply: 'backend:b7.bots.internal:hi' });
  // Not a passthrough name: hrmr terminates with its own certificate and routes the decrypted bytes.
  const web = await hello(h.port, 'web.example', 'INFO\n');
  assert.equal(web.cn, 'localhost');
  assert.equal(JSON.parse(web.reply).servername, 'web.example');
  const st = JSON.parse((await admin(h.port, 'STATUS')).slice(3));
  const pass = st.modules.find((m: { name: string }) => m.name === 'pass');
  assert.equal(pass.status.count, 2);
  assert.deepEqual(pass.status.last, { servername: 'b7.bots.internal', alpnProtocol: null, authorized: false, subject: null, fingerprint256: null });
  assert.deepEqual(pass.routes.map((r: { prefix: string; kind: string }) => [r.prefix, r.kind]), [['sni:db.internal', 'sni'], ['sni:*.bots.internal', 'sni']]);
  assert.equal(st.tls.handshakes, 1);
});

test('without --tls-cert an sni route still takes its names; TLS for other names goes to the byte routes', async (t) => {
  const h = await start([]);
  t.after(() => h.kill());
  assert.deepEqual(await hello(h.port, 'db.internal', 'x'), { cn: 'db.internal', reply: 'backend:db.internal:x' });
  await assert.rejects(hello(h.port, 'web.example', 'INFO\n'));
});

test('an sni route that is not a server name is refused at load', async (t) => {
  const h = await startHrmr({ modules: { bad: `export default { routes: [{ sni: 'a b', connection(s) { s.end(); } }] };` } });
  t.after(() => h.kill());
  const line = await h.waitForLog((l) => typeof l.msg === 'string' && /sni must be a server name/.test(JSON.stringify(l)));
  assert.ok(line);
});
