// SPDX-License-Identifier: LGPL-3.0-or-later
/**
 * The rhttp module's pure parts: settings, the request text published on
 * REQUEST_PIPE, strict parsing of service responses, X-Socket-IDs and the
 * service registry.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { forwardTarget, parseOptions, unknownKeys } from '../modules_src/rhttp/config.ts';
import { isLost, parseAck, recordAck, sweep, type Registry } from '../modules_src/rhttp/registry.ts';
import { newInstancePrefix, ownsId, serializeRequest } from '../modules_src/rhttp/request.ts';
import { parseResponse, rejectId, responseId } from '../modules_src/rhttp/response.ts';

test('settings: defaults, both key spellings, bad values throw', () => {
  const d = parseOptions({});
  assert.deepEqual(d, { mount: '/api/', strip: true, redis: null, heartbeatMs: 1000, deadBeats: 3, timeoutMs: 30_000, maxBody: 1024 * 1024, serverName: null });
  const o = parseOptions({ mount: 'svc/', strip: 'false', redis: 'redis://127.0.0.1:7000', heartbeat_interval: '0.25', 'dead-server-beats': '5', timeout: '2.5', 'max-body': '200k', name: 'Dev RHTTP' });
  assert.deepEqual(o, { mount: '/svc/', strip: false, redis: 'redis://127.0.0.1:7000', heartbeatMs: 250, deadBeats: 5, timeoutMs: 2500, maxBody: 200 * 1024, serverName: 'Dev RHTTP' });
  assert.equal(parseOptions({ max_body: '2MiB' }).maxBody, 2 * 1024 * 1024);
  assert.throws(() => parseOptions({ timeout: 'soon' }), /^ConfigError: rhttp: bad setting timeout=soon: expected a duration from 10ms to 24h \(seconds, or with a unit/);
  assert.throws(() => parseOptions({ heartbeat_interval: '0' }), /rhttp: bad setting heartbeat_interval=0: expected a duration from 10ms/);
  assert.throws(() => parseOptions({ dead_server_beats: '1.5' }), /rhttp: bad setting dead_server_beats=1\.5: expected a whole number/);
  assert.throws(() => parseOptions({ strip: 'maybe' }), /rhttp: bad setting strip=maybe: expected one of 1, true/);
  assert.throws(() => parseOptions({ redis: '127.0.0.1:6379' }), /rhttp: bad setting redis=127\.0\.0\.1:6379: expected a URL starting with redis:\/\//);
  assert.throws(() => parseOptions({ mount: '/a b/' }), /rhttp: bad setting mount=\/a b\/: expected a path/);
  // Seconds stay the plain unit (the original's); units work too.
  assert.equal(parseOptions({ timeout: '90s', heartbeat_interval: '250ms' }).timeoutMs, 90_000);
  assert.equal(parseOptions({ heartbeat_interval: '250ms' }).heartbeatMs, 250);
  assert.deepEqual(unknownKeys({ mount: '/x/', 'max-body': '1', colour: 'red' }), ['colour']);
});

test('the mount is stripped at a / boundary, query kept; strip=false keeps the target', () => {
  assert.equal(forwardTarget('/api/hello', '/api/', true), '/hello');
  assert.equal(forwardTarget('/api/a/b?x=1&y=2', '/api/', true), '/a/b?x=1&y=2');
  assert.equal(forwardTarget('/api', '/api/', true), '/');
  assert.equal(forwardTarget('/api/', '/api/', true), '/');
  assert.equal(forwardTarget('/api?q', '/api/', true), '/?q');
  assert.equal(forwardTarget('/svc/x', '/svc', true), '/x');
  assert.equal(forwardTarget('/api/hello', '/api/', false), '/api/hello');
  assert.equal(forwardTarget('/anything', '/', true), '/anything');
});

test('request text: request line, client headers (hop-by-hop dropped), Content-Length, X-Socket-ID last, body', () => {
  const out = serializeRequest({
    method: 'POST',
    target: '/echo?a=1',
    rawHeaders: ['Host', '127.0.0.1:8080', 'Connection', 'keep-alive, X-Hop', 'X-Hop', 'gone', 'Keep-Alive', 'timeout=5', 'Transfer-Encoding', 'chunked', 'TE', 'trailers', 'Upgrade', 'h2c', 'Content-Length', '999', 'X-Socket-ID', '1', 'Expect', '100-continue', 'Content-Type', 'text/plain', 'X-Multi', 'a', 'X-Multi', 'b'],
    body: Buffer.from('hi\r\nthere'),
    id: '123456789012' + '7',
  });
  assert.equal(
    out.toString('latin1'),
    'POST /echo?a=1 HTTP/1.1\r\nHost: 127.0.0.1:8080\r\nContent-Type: text/plain\r\nX-Multi: a\r\nX-Multi: b\r\nContent-Length: 9\r\nX-Socket-ID: 1234567890127\r\n\r\nhi\r\nthere',
  );
  // No body: Content-Length: 0 (as the original), names keep their spelling, latin1 bytes pass unchanged.
  const g = serializeRequest({ method: 'GET', target: '/hello', rawHeaders: ['host', 'h', 'X-Name', 'caf\u00e9'], body: Buffer.alloc(0), id: '5' });
  assert.deepEqual(g, Buffer.concat([Buffer.from('GET /hello HTTP/1.1\r\nhost: h\r\nX-Name: caf'), Buffer.from([0xe9]), Buffer.from('\r\nContent-Length: 0\r\nX-Socket-ID: 5\r\n\r\n')]));
  // Binary bodies are forwarded byte for byte.
  const bin = Buffer.from([0, 1, 2, 255, 13, 10]);
  const b = serializeRequest({ method: 'PUT', target: '/b', rawHeaders: [], body: bin, id: '9' });
  assert.deepEqual(b.subarray(b.length - bin.length), bin);
});

test('X-Socket-IDs: 12-digit decimal instance prefix; ownership check', () => {
  const p = newInstancePrefix();
  assert.match(p, /^[1-9]\d{11}$/);
  assert.notEqual(newInstancePrefix(), p);
  assert.equal(newInstancePrefix((n) => n - 1), '999999999999');
  assert.equal(ownsId(p, p + '1'), true);
  assert.equal(ownsId(p, p + '123456'), true);
  assert.equal(ownsId(p, p), false);
  assert.equal(ownsId(p, '6'), false);
  assert.equal(ownsId(p, p + '1x'), false);
  assert.equal(ownsId(p, '1' + p + '1'), false);
});

const RHTTP_NODE = 'HTTP/1.1 200 OK\r\nContent-Length: 15\r\nX-RES-SERVER: svcA\r\nContent-Type: application/json\r\nX-Socket-ID: 6\r\n\r\n{"msg":"hello"}';

test('responses: the rhttp_node format as captured from the wire', () => {
  const r = parseResponse(Buffer.from(RHTTP_NODE));
  assert.ok(r.ok);
  assert.equal(r.response.id, '6');
  assert.equal(r.response.status, 200);
  assert.deepEqual(r.response.headers, [
    ['X-RES-SERVER', 'svcA'],
    ['Content-Type', 'application/json'],
  ]);
  assert.equal(r.response.body.toString(), '{"msg":"hello"}');
  assert.equal(responseId(Buffer.from(RHTTP_NODE)), '6');
});

test('responses: tolerated variations', () => {
  const ok = (s: string | Buffer) => {
    const r = parseResponse(Buffer.isBuffer(s) ? s : Buffer.from(s));
    assert.ok(r.ok, r.ok ? '' : r.error);
    return r.response;
  };
  // No reason phrase, HTTP/1.0, lower-case id header, no Content-Length, empty body.
  assert.equal(ok('HTTP/1.0 204\r\nx-socket-id: 77\r\n\r\n').status, 204);
  // Reason phrase ignored (the gateway writes its own), hop-by-hop and Date dropped, repeated headers kept.
  const r = ok('HTTP/1.1 201 Whatever You Like\r\nDate: yesterday\r\nConnection: close\r\nKeep-Alive: 1\r\nSet-Cookie: a=1\r\nSet-Cookie: b=2\r\nX-Socket-ID:  8 \r\n\r\nbody');
  assert.equal(r.id, '8');
  assert.deepEqual(r.headers, [
    ['Set-Cookie', 'a=1'],
    ['Set-Cookie', 'b=2'],
  ]);
  // rhttp_node counts Content-Length in UTF-16 units: "héllo €" is 7 units, 10 bytes.
  const body = 'h\u00e9llo \u20ac';
  assert.equal(ok(`HTTP/1.1 200 OK\r\nContent-Length: ${body.length}\r\nX-Socket-ID: 1\r\n\r\n${body}`).body.toString(), body);
  assert.equal(ok(`HTTP/1.1 200 OK\r\nContent-Length: ${Buffer.byteLength(body)}\r\nX-Socket-ID: 1\r\n\r\n${body}`).body.length, 10);
  // The body may contain CRLFs and a blank line of its own.
  assert.equal(ok('HTTP/1.1 200 OK\r\nX-Socket-ID: 1\r\n\r\na\r\n\r\nb').body.toString(), 'a\r\n\r\nb');
});

test('responses: malformed ones are refused with the reason (and the id when it can be found)', () => {
  const bad = (s: string, why: RegExp, id: string | null = '3') => {
    const r = parseResponse(Buffer.from(s));
    assert.equal(r.ok, false, s);
    if (!r.ok) {
      assert.match(r.error, why);
      assert.equal(r.id, id);
    }
  };
  bad('HTTP/1.1 200 OK\r\nX-Socket-ID: 3\r\n', /no blank line/);
  bad('HTTP/1.1 200 OK\r\nX-Socket-ID: 3', /no blank line/);
  bad('HTTP/2 200 OK\r\nX-Socket-ID: 3\r\n\r\n', /status line/);
  bad('http/1.1 200 OK\r\nX-Socket-ID: 3\r\n\r\n', /status line/);
  bad('HTTP/1.1 20 OK\r\nX-Socket-ID: 3\r\n\r\n', /status line/);
  bad('HTTP/1.1 100 Continue\r\nX-Socket-ID: 3\r\n\r\n', /final status/);
  bad('HTTP/1.1 600 Nope\r\nX-Socket-ID: 3\r\n\r\n', /final status/);
  bad('HTTP/1.1 200 OK\r\nX-Socket-ID: 3\r\nno colon here\r\n\r\n', /bad header line/);
  bad('HTTP/1.1 200 OK\r\nX-Socket-ID: 3\r\n: empty name\r\n\r\n', /bad header line/);
  bad('HTTP/1.1 200 OK\r\nX-Socket-ID: 3\r\nBad Name: x\r\n\r\n', /bad header name/);
  bad('HTTP/1.1 200 OK\r\nX-Socket-ID: 3\r\n folded: x\r\n\r\n', /bad header name/);
  bad('HTTP/1.1 200 OK\r\nX-Socket-ID: 3\r\nX-A: a\x00b\r\n\r\n', /bad value/);
  bad('HTTP/1.1 200 OK\r\nX-Socket-ID: 3\r\nX-A: a\rb\r\n\r\n', /bad value/);
  bad('HTTP/1.1 200 OK\r\nX-Socket-ID: 3\r\nX-Socket-ID: 4\r\n\r\n', /two different X-Socket-ID/);
  bad('HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nx', /no X-Socket-ID/, null);
  bad('HTTP/1.1 200 OK\r\nX-Socket-ID: 3\r\nContent-Length: 10\r\n\r\nshort', /does not match/);
  bad('HTTP/1.1 200 OK\r\nX-Socket-ID: 3\r\nContent-Length: 2\r\n\r\nlonger', /does not match/);
  bad('HTTP/1.1 200 OK\r\nX-Socket-ID: 3\r\nContent-Length: -1\r\n\r\n', /bad Content-Length/);
  bad('HTTP/1.1 200 OK\r\nX-Socket-ID: 3\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nx', /two different Content-Length/);
  bad('HTTP/1.1 200 OK\r\nX-Socket-ID: 3\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nx\r\n0\r\n\r\n', /Transfer-Encoding/);
});

test('response ids are found without a full parse; rejections are the id alone', () => {
  assert.equal(responseId(Buffer.from('HTTP/1.1 200 OK\r\nX-Socket-ID: 42\r\n\r\nX-Socket-ID: 99')), '42');
  assert.equal(responseId(Buffer.from('HTTP/1.1 200 OK\r\nX-Other: 1\r\n\r\n\r\nX-Socket-ID: 99')), null);
  assert.equal(responseId(Buffer.from('garbage')), null);
  assert.equal(rejectId(Buffer.from('20')), '20');
  assert.equal(rejectId(Buffer.from(' 20\r\n')), '20');
});

test('acknowledgements: name and description split on byte 14; registry joins, refreshes and drops', () => {
  assert.deepEqual(parseAck('capsvc\u000eanchor'), { name: 'capsvc', description: 'anchor' });
  assert.deepEqual(parseAck('solo'), { name: 'solo', description: '' });
  assert.equal(parseAck('\u000edesc'), null);
  const reg: Registry = new Map();
  const j = recordAck(reg, 'svcA\u000eNODEJS', 1000);
  assert.ok(j !== null && j !== 'seen');
  assert.equal(j.name, 'svcA');
  assert.equal(recordAck(reg, 'svcA\u000eNODEJS v2', 2000), 'seen');
  assert.equal(reg.get('svcA')!.description, 'NODEJS v2');
  assert.equal(reg.get('svcA')!.since, 1000);
  recordAck(reg, 'svcB\u000ePY', 2500);
  assert.equal(recordAck(reg, '', 2500), null);
  // interval 1 s x 3 beats: a service whose last ack is older than 3000 ms is dropped.
  assert.deepEqual(sweep(reg, 5000, 3000), []);
  assert.deepEqual(
    sweep(reg, 5001, 3000).map((s) => s.name),
    ['svcA'],
  );
  assert.deepEqual([...reg.keys()], ['svcB']);
});

test('a request is lost when no service can still answer it', () => {
  assert.equal(isLost(0, 0, 0), true);
  assert.equal(isLost(0, 2, 0), true);
  assert.equal(isLost(0, 2, 2), false);
  assert.equal(isLost(1, 2, 2), false);
  assert.equal(isLost(2, 2, 2), true);
  // One of two rejected, the other was dropped since.
  assert.equal(isLost(1, 2, 1), true);
  // A service joined after publishing never saw the request.
  assert.equal(isLost(1, 1, 3), true);
  // Published while no service was listening (0 receivers).
  assert.equal(isLost(0, 0, 1), true);
});
