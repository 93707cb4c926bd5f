// SPDX-License-Identifier: LGPL-3.0-or-later
/**
 * The Node.js behaviour hrmr relies on beyond the public API
 * (src/util/node-internals.ts), checked one by one on real sockets: a Node
 * release that changes one fails here by name. Also the pino check.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import http from 'node:http';
import net, { type Socket } from 'node:net';
import { test, type TestContext } from 'node:test';
import tls from 'node:tls';
import { pino } from 'pino';
import { createLogger, writesPretty } from '../src/log.ts';
import { feedParser, keepAliveOnListener, rawSocketOf, resetFlowing, responseOnSocket } from '../src/util/node-internals.ts';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { makeCertKit } from './helpers/tls-certs.ts';

/** A connected pair on loopback: [client, server side]. */
async function pair(t: TestContext): Promise<[Socket, Socket]> {
  const srv = net.createServer();
  srv.listen(0, '127.0.0.1');
  await once(srv, 'listening');
  const accepted = once(srv, 'connection');
  const client = net.connect((srv.address() as net.AddressInfo).port, '127.0.0.1');
  const [server] = (await accepted) as [Socket];
  srv.close();
  t.after(() => {
    client.destroy();
    server.destroy();
  });
  return [client, server];
}

function read(socket: Socket, until: RegExp): Promise<string> {
  return new Promise((resolve, reject) => {
    let got = '';
    socket.setEncoding('latin1');
    socket.on('data', (d: string) => {
      got += d;
      if (until.test(got)) resolve(got);
    });
    socket.on('error', reject);
    socket.on('close', () => reject(new Error(`closed after ${JSON.stringify(got)}`)));
  });
}

test(`node ${process.version}: resetFlowing puts a paused socket back to "not yet flowing", so a 'data' listener starts the flow`, { timeout: 20_000 }, async (t) => {
  const [client, server] = await pair(t);
  server.pause();
  assert.equal(server.readableFlowing, false);
  server.unshift(Buffer.from('peeked '));
  resetFlowing(server);
  assert.equal(server.readableFlowing, null, '_readableState.flowing no longer resets readableFlowing');
  client.write('rest\n');
  assert.equal(await read(server, /\n/), 'peeked rest\n');
});

test(`node ${process.version}: feedParser hands bytes already read to the http.Server's parser; responseOnSocket finds the response`, { timeout: 20_000 }, async (t) => {
  const [client, server] = await pair(t);
  let seen: unknown = 'unset';
  const h = http.createServer((req, res) => {
    seen = responseOnSocket(req.socket) === res;
    res.end(`${req.method} ${req.url}`);
  });
  client.write('GET /peeked HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
  const [first] = (await once(server, 'data')) as [Buffer];
  server.pause();
  resetFlowing(server);
  h.emit('connection', server);
  feedParser(server, first);
  const reply = await read(client, /GET \/peeked$/);
  assert.match(reply, /^HTTP\/1\.1 200 /);
  assert.equal(seen, true, '_httpMessage is no longer the response being written');
  // The HTTP host's head guard (src/http/head-guard.ts) reads "no response in flight" from this.
  assert.equal(responseOnSocket(server), null, '_httpMessage is still set after the response finished');
  assert.equal(responseOnSocket(new net.Socket()), null);
});

test(`node ${process.version}: rawSocketOf gives the raw socket under a server-side TLS socket`, { timeout: 20_000 }, async (t) => {
  const [client, server] = await pair(t);
  const pem = makeCertKit().server('srv', ['localhost']);
  const s = tls.createServer({ cert: readFileSync(pem.cert), key: readFileSync(pem.key) });
  const secure = once(s, 'secureConnection');
  s.emit('connection', server);
  const c = tls.connect({ socket: client, rejectUnauthorized: false, servername: 'localhost' });
  t.after(() => c.destroy());
  const [ts] = (await secure) as [tls.TLSSocket];
  assert.equal(rawSocketOf(ts), server, '_parent is no longer the raw socket');
  ts.destroy();
});

test('writesPretty tells createLogger pretty loggers (and their children) from JSON ones', () => {
  assert.equal(writesPretty(createLogger('silent', true)), true);
  assert.equal(writesPretty(createLogger('silent', true).child({ a: 1 })), true);
  assert.equal(writesPretty(createLogger('silent', false)), false);
  assert.equal(writesPretty(pino({ level: 'silent' })), false);
});

test(`node ${process.version}: keepAliveOnListener makes accepted sockets inherit TCP keep-alive (Linux)`, { timeout: 20_000, skip: process.platform !== 'linux' }, async (t) => {
  const srv = net.createServer();
  srv.listen(0, '127.0.0.1');
  await once(srv, 'listening');
  t.after(() => srv.close());
  assert.equal(keepAliveOnListener(srv, 60_000), true, 'server._handle.setKeepAlive is gone or failed');
  const port = (srv.address() as net.AddressInfo).port;
  const accepted = once(srv, 'connection');
  const client = net.connect(port, '127.0.0.1');
  const [server] = (await accepted) as [Socket];
  t.after(() => {
    client.destroy();
    server.destroy();
  });
  // The server's side has a keepalive timer of about 60 s, set by nobody but the listener; the client's has none.
  const out = execFileSync('ss', ['-tnoe', 'state', 'established', `( sport = :${port} and dport = :${client.localPort} )`], { encoding: 'utf8' });
  assert.match(out, /timer:\(keepalive,(59|60|1min)/, out);
  const mine = execFileSync('ss', ['-tnoe', 'state', 'established', `( sport = :${client.localPort} )`], { encoding: 'utf8' });
  assert.doesNotMatch(mine, /keepalive/);
});
