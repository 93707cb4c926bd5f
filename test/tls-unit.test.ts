// SPDX-License-Identifier: LGPL-3.0-or-later
/**
 * The pure TLS parts (issue 23): the ClientHello reader (SNI and ALPN, from
 * real ClientHellos made by node and openssl, split across records,
 * truncated, fuzzed), the SNI table and matcher, the ALPN choice.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import net from 'node:net';
import tls from 'node:tls';
import { test } from 'node:test';
import fc from 'fast-check';
import { parseClientHello } from '../src/tls/client-hello.ts';
import { SniMatcher, SniTable, sniPattern } from '../src/router/matcher-sni.ts';
import { FirstByteSplit } from '../src/router/matcher.ts';
import { MatchState, PrefixTable } from '../src/router/prefix-table.ts';
import { failureReason, selectAlpn } from '../src/tls/front.ts';

/** The first bytes a real client sends (its ClientHello), captured by a plain TCP server. */
function capture(connect: (port: number) => void): Promise<Buffer> {
  return new Promise((resolve) => {
    const srv = net.createServer((c) => {
      let buf = Buffer.alloc(0);
      c.on('data', (d) => {
        buf = Buffer.concat([buf, d]);
        if (buf.length >= 5 && buf.length >= 5 + buf.readUInt16BE(3)) {
          resolve(buf);
          c.destroy();
          srv.close();
        }
      });
    });
    srv.listen(0, '127.0.0.1', () => connect((srv.address() as net.AddressInfo).port));
  });
}

function nodeHello(o: tls.ConnectionOptions): Promise<Buffer> {
  return capture((port) => tls.connect({ port, host: '127.0.0.1', ...o }).on('error', () => undefined));
}

test('node ClientHellos: SNI and ALPN are read, every truncation is incomplete', async () => {
  const hello = await nodeHello({ servername: 'Bot1.Example.TEST', ALPNProtocols: ['hash', 'http/1.1'] });
  assert.deepEqual(parseClientHello(hello), { state: 'ok', servername: 'bot1.example.test', alpn: ['hash', 'http/1.1'] });
  for (let n = 0; n < hello.length; n++) assert.equal(parseClientHello(hello.subarray(0, n)).state, 'incomplete', `first ${n} bytes`);
  // Bytes after the ClientHello (none are expected, but they change nothing).
  assert.equal(parseClientHello(Buffer.concat([hello, Buffer.from('junk')])).state, 'ok');
  const bare = await nodeHello({ host: '127.0.0.1' });
  assert.deepEqual(parseClientHello(bare), { state: 'ok', servername: null, alpn: [] });
});

test('an openssl s_client ClientHello parses', async () => {
  const hello = await capture((port) => {
    const p = spawn('openssl', ['s_client', '-connect', `127.0.0.1:${port}`, '-servername', 'db.internal', '-alpn', 'h2,http/1.1'], { stdio: ['pipe', 'ignore', 'ignore'] });
    setTimeout(() => p.kill('SIGKILL'), 5000).unref();
    p.on('exit', () => undefined);
  });
  assert.deepEqual(parseClientHello(hello), { state: 'ok', servername: 'db.internal', alpn: ['h2', 'http/1.1'] });
});

test('a ClientHello split over two records is joined', async () => {
  const hello = await nodeHello({ servername: 'a.b', ALPNProtocols: ['x'] });
  const body = hello.subarray(5);
  const cut = 50;
  const rec = (b: Buffer): Buffer => Buffer.concat([Buffer.from([0x16, 0x03, 0x01, b.length >> 8, b.length & 0xff]), b]);
  const two = Buffer.concat([rec(body.subarray(0, cut)), rec(body.subarray(cut))]);
  assert.deepEqual(parseClientHello(two), { state: 'ok', servername: 'a.b', alpn: ['x'] });
  assert.equal(parseClientHello(two.subarray(0, 5 + cut + 3)).state, 'incomplete');
});

test('garbage after 0x16 is invalid, never a throw', () => {
  assert.equal(parseClientHello(Buffer.from([0x16, 0x03, 0x01, 0x00, 0x00])).state, 'invalid');
  assert.equal(parseClientHello(Buffer.from([0x16, 0x09, 0x01, 0x00, 0x10])).state, 'invalid');
  assert.equal(parseClientHello(Buffer.from([0x16, 0x03, 0x01, 0x00, 0x04, 0x02, 0x00, 0x00, 0x00])).state, 'invalid');
  assert.equal(parseClientHello(Buffer.from([0x16, 0x03, 0x01, 0x00, 0x04, 0x01, 0xff, 0xff, 0xff])).state, 'invalid');
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 600 }), (tail) => {
      const r = parseClientHello(Buffer.concat([Buffer.from([0x16, 0x03, 0x01]), Buffer.from(tail)]));
      return r.state === 'incomplete' || r.state === 'invalid' || r.state === 'ok';
    }),
    { numRuns: 3000 },
  );
});

test('mutated real ClientHellos never throw', async () => {
  const hello = await nodeHello({ servername: 'x.y', ALPNProtocols: ['a'] });
  fc.assert(
    fc.property(fc.nat(hello.length - 1), fc.nat(255), (i, v) => {
      const b = Buffer.from(hello);
      b[i] = v;
      parseClientHello(b);
      return true;
    }),
    { numRuns: 3000 },
  );
});

test('SNI table: exact beats wildcard; a wildcard covers one label', () => {
  const t = new SniTable<string>();
  assert.ok(t.add(sniPattern('*.bots.internal')!, 'wild'));
  assert.ok(t.add(sniPattern('db.internal')!, 'db'));
  assert.ok(t.add(sniPattern('x.bots.internal')!, 'x'));
  assert.equal(t.add(sniPattern('DB.internal.')!, 'again'), false);
  assert.equal(t.lookup('db.internal'), 'db');
  assert.equal(t.lookup('x.bots.internal'), 'x');
  assert.equal(t.lookup('a.bots.internal'), 'wild');
  assert.equal(t.lookup('bots.internal'), undefined);
  assert.equal(t.lookup('a.b.bots.internal'), undefined);
  assert.equal(t.lookup(null), undefined);
  assert.equal(sniPattern('a b'), null);
  assert.equal(sniPattern('*.'), null);
  assert.equal(sniPattern('a.*.b'), null);
});

test('SNI matcher: route, termination, fallback; incomplete is undecided; garbage is matched to malformed', async () => {
  const hello = await nodeHello({ servername: 'db.internal' });
  const other = await nodeHello({ servername: 'web.example' });
  const e = (target: string) => ({ prefix: Buffer.alloc(0), target });
  const routes = new SniTable<ReturnType<typeof e>>();
  routes.add('db.internal', e('db'));
  const plain = new PrefixTable([{ prefix: Buffer.from('PING'), target: 'ping' }, { prefix: Buffer.alloc(0), target: 'default' }]);
  const outcomes = { incomplete: e('incomplete'), malformed: e('malformed') };
  const term = new FirstByteSplit(0x16, new SniMatcher(routes, { ...outcomes, terminate: e('terminate') }, plain), plain);
  assert.equal(term.match(hello).entry!.target, 'db');
  assert.equal(term.match(other).entry!.target, 'terminate');
  assert.deepEqual([term.match(hello.subarray(0, 20)).state, term.match(hello.subarray(0, 20)).entry!.target], [MatchState.Undecided, 'incomplete']);
  assert.equal(term.match(Buffer.from([0x16, 0, 0, 0, 0, 0])).entry!.target, 'malformed');
  assert.equal(term.match(Buffer.from('PING\n')).entry!.target, 'ping');
  const pass = new FirstByteSplit(0x16, new SniMatcher(routes, { ...outcomes, terminate: null }, plain), plain);
  assert.equal(pass.match(other).entry!.target, 'default');
});

test('ALPN choice and failure reasons', () => {
  assert.equal(selectAlpn(['h2', 'http/1.1']), 'http/1.1');
  assert.equal(selectAlpn(['hash']), 'hash');
  assert.equal(selectAlpn(['h2']), undefined);
  assert.equal(failureReason(Object.assign(new Error('x'), { code: 'ERR_TLS_HANDSHAKE_TIMEOUT' })), 'timeout');
  assert.equal(failureReason(Object.assign(new Error('x'), { code: 'ECONNRESET' })), 'reset');
  assert.equal(failureReason(Object.assign(new Error('x'), { code: 'ERR_SSL_NO_APPLICATION_PROTOCOL' })), 'alpn');
  assert.equal(failureReason(Object.assign(new Error('x'), { code: 'ERR_SSL_PEER_DID_NOT_RETURN_A_CERTIFICATE' })), 'client-certificate');
});

test('route table: the prefix table alone without TLS; a first-byte split with TLS; sni routes conflict by name; PROXY headers refused', async () => {
  const { buildRouteTable } = await import('../src/modules/route-table.ts');
  const { validateModule } = await import('../src/modules/validate.ts');
  const { adminPrefixes } = await import('../src/admin/reserved.ts');
  const conn = (): void => undefined;
  const mk = (name: string, routes: unknown[]) => ({ swapping: false, current: { name, spec: validateModule({ name, routes }, name) } });
  const plain = buildRouteTable([mk('a', [{ prefix: 'PING', message: () => 'x' }])] as never, adminPrefixes());
  assert.ok(plain.table instanceof PrefixTable, 'no TLS: the peek matches with the prefix table itself');
  assert.equal(plain.table, plain.plain);
  const term = buildRouteTable([] as never, adminPrefixes(), new Map(), { tlsTerminate: true });
  assert.ok(term.table instanceof FirstByteSplit);
  const hello = await nodeHello({ servername: 'db.internal' });
  const tgt = term.table.match(hello).entry!.target;
  assert.deepEqual(tgt, { kind: 'tls', action: 'terminate' });
  // The decrypted stream is matched by the prefix table alone: a TLS record inside TLS is not terminated twice.
  assert.equal(term.plain.match(hello).state, MatchState.NoMatch);
  const both = buildRouteTable([mk('zeta', [{ sni: 'db.internal', connection: conn }]), mk('alpha', [{ sni: 'DB.internal', connection: conn }, { sni: '*.bots.internal', connection: conn }])] as never, adminPrefixes());
  const winner = both.table.match(hello).entry!.target;
  assert.equal(winner.kind === 'module' && winner.version.name, 'alpha');
  assert.equal(both.conflicts.length, 1);
  assert.match(both.conflicts[0]!.message, /sni:db\.internal of zeta is already claimed by alpha/);
  for (const p of ['PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r\n', '\r\n\r\n\x00\r\nQUIT\n\x21']) assert.equal(plain.table.match(Buffer.from(p, 'latin1')).entry!.target.kind, 'proxy-refused');
});

test('--workers STATUS sums the tls and proxy counters of every worker', async () => {
  const { sumCounters } = await import('../src/supervisor/policy.ts');
  assert.deepEqual(sumCounters({ handshakes: 2, failures: { timeout: 1 }, clientAuth: 'none' }, { handshakes: 3, failures: { timeout: 1, malformed: 4 }, clientAuth: 'none' }), {
    handshakes: 5,
    failures: { timeout: 2, malformed: 4 },
    clientAuth: 'none',
  });
});
