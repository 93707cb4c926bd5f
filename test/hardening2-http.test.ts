// SPDX-License-Identifier: LGPL-3.0-or-later
// Issue 20, point 9 (core): two Host headers get 400 and close (RFC 9112
// §3.2); one list of HTTP methods, and any request that looks like HTTP gets
// an HTTP status (405/501), never the raw line `ERR no route`.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { exchange, startHrmr, type Hrmr } from './helpers/hrmr.ts';

const MODULE = `export default { routes: [
  { http: '/', methods: ['GET', 'POST'], request(req, res) { res.end('hello ' + req.method); } },
  { http: '/any', request(req, res) { res.end('any ' + req.method); } },
  { prefix: 'PING', message: () => 'PONG\\n' },
] };`;

let h: Hrmr;
before(async () => {
  h = await startHrmr({ modules: { web: MODULE } });
});
after(() => h?.kill());

function statusLine(res: string): string {
  return res.split('\r\n')[0]!;
}

test('two Host headers: 400, then the connection closes', async () => {
  const res = await exchange(h.port, 'GET / HTTP/1.1\r\nHost: a.example\r\nHost: b.example\r\n\r\n');
  assert.equal(statusLine(res), 'HTTP/1.1 400 Bad Request');
  assert.match(res, /\r\nConnection: close\r\n/i);
  // Same letters, other case; and after a good request on a keep-alive connection.
  const res2 = await exchange(h.port, 'GET / HTTP/1.1\r\nHost: a\r\n\r\nGET / HTTP/1.1\r\nhost: a\r\nHOST: a\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n');
  const answers = res2.match(/HTTP\/1\.1 \d{3}/g);
  assert.deepEqual(answers, ['HTTP/1.1 200', 'HTTP/1.1 400'], res2);
  // One Host is fine, and no Host at all stays as it was (HTTP/1.0 style).
  assert.equal(statusLine(await exchange(h.port, 'GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n')), 'HTTP/1.1 200 OK');
  // A WebSocket-style upgrade request with two Hosts is refused the same way.
  const up = await exchange(h.port, 'GET /any HTTP/1.1\r\nHost: a\r\nHost: b\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n');
  assert.equal(statusLine(up), 'HTTP/1.1 400 Bad Request');
});

test('TRACE gets an HTTP answer: 405 with Allow where the route limits methods, the handler where it does not', async () => {
  const res = await exchange(h.port, 'TRACE / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n');
  assert.equal(statusLine(res), 'HTTP/1.1 405 Method Not Allowed');
  assert.match(res, /\r\nAllow: GET, POST, HEAD\r\n/i);
  const any = await exchange(h.port, 'TRACE /any HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n');
  assert.equal(statusLine(any), 'HTTP/1.1 200 OK');
  assert.match(any, /any TRACE$/);
});

test('CONNECT and methods outside the list get 501 Not Implemented, never ERR no route', async () => {
  for (const req of [
    'CONNECT a.example:443 HTTP/1.1\r\nHost: a.example:443\r\n\r\n',
    'PROPFIND / HTTP/1.1\r\nHost: a\r\n\r\n',
    'MKCOL /x HTTP/1.1\r\nHost: a\r\n\r\n',
    'BREW /pot HTTP/1.1\r\nHost: a\r\n\r\n',
    'PURGE * HTTP/1.0\r\n\r\n',
  ]) {
    const res = await exchange(h.port, req);
    assert.equal(statusLine(res), 'HTTP/1.1 501 Not Implemented', `${JSON.stringify(req)} -> ${JSON.stringify(res)}`);
    assert.match(res, /\r\nConnection: close\r\n/i);
  }
  // Not HTTP-like: still the router's own reply.
  assert.equal(await exchange(h.port, 'HELLO there\n'), 'ERR no route\n');
  // Line routes on the same port are untouched.
  assert.equal(await exchange(h.port, 'PING\n', { end: true }), 'PONG\n');
});
