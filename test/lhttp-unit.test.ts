// SPDX-License-Identifier: LGPL-3.0-or-later
/** lhttp pure parts: message parsing and serializing, multipart, channel names and wildcards, settings. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { parseOptions } from '../modules_src/lhttp/config.ts';
import { fromText, parseMessage, parseMultipart, serialize, splitChannels, toText, type Message } from '../modules_src/lhttp/message.ts';
import { match, toGlob, validPattern, validSubject } from '../modules_src/lhttp/subjects.ts';

function msg(s: string): Message {
  const m = parseMessage(s);
  assert.equal(typeof m, 'object', `not parsed: ${JSON.stringify(s)} -> ${String(m)}`);
  return m as Message;
}

test('start line, headers, body', () => {
  const m = msg('LHTTP/1.0 chat\r\npublish:X\r\ncontent-type:json\r\n\r\nhi there');
  assert.equal(m.command, 'chat');
  assert.deepEqual([...m.headers], [
    ['publish', 'X'],
    ['content-type', 'json'],
  ]);
  assert.equal(m.body, 'hi there');
});

test('values are untrimmed; the key ends at the first colon', () => {
  const m = msg('LHTTP/1.0 c\r\npublish: x\r\nupstream:POST http://127.0.0.1:8080/a\r\nk :v \r\n\r\n');
  assert.equal(m.headers.get('publish'), ' x');
  assert.equal(m.headers.get('upstream'), 'POST http://127.0.0.1:8080/a');
  assert.equal(m.headers.get('k '), 'v ');
});

test('a repeated key: the last value wins (first position kept)', () => {
  const m = msg('LHTTP/1.0 c\r\na:1\r\nb:2\r\na:3\r\n\r\n');
  assert.deepEqual([...m.headers], [
    ['a', '3'],
    ['b', '2'],
  ]);
});

test('the body is everything after the blank line, CRLFs included', () => {
  const m = msg('LHTTP/1.0 c\r\na:1\r\n\r\nline1\r\n\r\nline2\r\nk:v\r\n');
  assert.equal(m.body, 'line1\r\n\r\nline2\r\nk:v\r\n');
  assert.equal(msg('LHTTP/1.0 c\r\n\r\n\r\nx').body, '\r\nx');
});

test('no headers, no body, headers without a blank line', () => {
  assert.deepEqual(msg('LHTTP/1.0 c\r\n'), { command: 'c', headers: new Map(), body: '' });
  assert.deepEqual(msg('LHTTP/1.0 c\r\n\r\nb'), { command: 'c', headers: new Map(), body: 'b' });
  assert.deepEqual([...msg('LHTTP/1.0 c\r\na:1\r\nb:2').headers], [
    ['a', '1'],
    ['b', '2'],
  ]);
});

test('lines without a colon and empty keys are not headers', () => {
  const m = msg('LHTTP/1.0 c\r\nnocolon\r\n:v\r\na:1\r\n\r\n');
  assert.deepEqual([...m.headers], [['a', '1']]);
});

test('garbage frames are named, never thrown', () => {
  assert.equal(parseMessage(''), 'short');
  assert.equal(parseMessage('LHTTP/1.0'), 'short');
  assert.equal(parseMessage('HTTP/1.1 200 OK\r\n\r\n'), 'not-lhttp');
  assert.equal(parseMessage('LHTTP/1.0 chat'), 'no-crlf');
  assert.equal(parseMessage('LHTTP/1.0\r\n\r\nxx'), 'no-crlf');
  fc.assert(
    fc.property(fc.string({ maxLength: 200 }), (s) => {
      const r = parseMessage('LHTTP/1.0 ' + s);
      assert.ok(typeof r === 'string' || typeof r.command === 'string');
    }),
  );
});

test('serialize round-trips', () => {
  const wire = 'LHTTP/1.0 chat\r\npublish:X\r\nsubscribe:Y\r\n\r\nhi\r\nthere';
  const m = msg(wire);
  assert.equal(serialize(m.command, m.headers, m.body), wire);
});

test('channels split on single spaces, empty names dropped', () => {
  assert.deepEqual(splitChannels('a b  c '), ['a', 'b', 'c']);
  assert.deepEqual(splitChannels(' x'), ['x']);
  assert.deepEqual(splitChannels(''), []);
});

test('multipart: the spec example', () => {
  const parts = parseMultipart('0 14', 'k1:v1\r\n\r\nbody1k2:v2\r\n\r\nbody2');
  assert.ok(Array.isArray(parts));
  assert.deepEqual(
    parts.map((p) => [[...p.headers], p.body]),
    [
      [[['k1', 'v1']], 'body1'],
      [[['k2', 'v2']], 'body2'],
    ],
  );
});

test('multipart: the README upload example (its 56 miscounts: the first part is 55 bytes)', () => {
  const body = 'content-type:text/json\r\n\r\n{filename:file.txt,fileLen:5}content-type:text/plain\r\n\r\nhello';
  const parts = parseMultipart('0 55', body);
  assert.ok(Array.isArray(parts));
  assert.equal(parts[0]!.body, '{filename:file.txt,fileLen:5}');
  assert.equal(parts[1]!.headers.get('content-type'), 'text/plain');
  assert.equal(parts[1]!.body, 'hello');
});

test('multipart: offsets are bytes (UTF-8 body)', () => {
  const body = fromText('a:é\r\n\r\nxb:2\r\n\r\ny');
  const first = fromText('a:é\r\n\r\nx').length; // 10 bytes, 9 chars
  const parts = parseMultipart(`0 ${first}`, body);
  assert.ok(Array.isArray(parts));
  assert.equal(toText(parts[0]!.headers.get('a')!), 'é');
  assert.equal(parts[1]!.body, 'y');
});

test('multipart: bad offsets are an error text, not a throw', () => {
  for (const v of ['0 999', 'x', '5 2', '', '-1', '0 1e3']) assert.equal(typeof parseMultipart(v, 'k:v\r\n\r\nb'), 'string', v);
});

test('channel names and NATS wildcards', () => {
  assert.ok(match('a.*.c', 'a.b.c'));
  assert.ok(!match('a.*.c', 'a.b.d'));
  assert.ok(!match('a.*', 'a.b.c'));
  assert.ok(match('a.>', 'a.b.c'));
  assert.ok(match('a.>', 'a.b'));
  assert.ok(!match('a.>', 'a'));
  assert.ok(match('*', 'room'));
  assert.ok(!match('*', 'room.1'));
  assert.ok(match('>', 'room.1'));
  assert.ok(match('x', 'x'));
  assert.ok(!match('x', 'x.y'));
  assert.ok(validPattern('a.*.>') && validPattern('room-1'));
  assert.ok(!validPattern('a.>.b') && !validPattern('a..b') && !validPattern('') && !validPattern('.a'));
  assert.ok(validSubject('a.b') && !validSubject('a.*') && !validSubject('a.>') && !validSubject('a b'));
  assert.equal(toGlob('a.*.>'), 'a.*.*');
  assert.equal(toGlob('a?[x].*'), 'a\\?\\[x\\].*');
});

test('settings: defaults, paths, sizes, errors', () => {
  const d = parseOptions({}).options;
  assert.deepEqual(d.paths, ['/lhttp']);
  assert.equal(d.publishPath, '/publish');
  assert.equal(d.maxFrame, 40960);
  assert.equal(d.maxBuffered, 1024 * 1024);
  assert.equal(d.redis, null);
  const o = parseOptions({ path: '/chat /echo', publish_path: 'off', max_buffered: '64k', redis: 'redis://127.0.0.1:1', 'max-frame': '1000', zzz: '1' });
  assert.deepEqual(o.options.paths, ['/chat', '/echo']);
  assert.equal(o.options.publishPath, null);
  assert.equal(o.options.maxBuffered, 65536);
  assert.equal(o.options.maxFrame, 1000);
  assert.equal(o.options.redis, 'redis://127.0.0.1:1');
  assert.deepEqual(o.unknown, ['zzz']);
  assert.throws(() => parseOptions({ path: 'chat' }), /^ConfigError: lhttp: bad setting path=chat: expected a list of paths starting with \//);
  assert.throws(() => parseOptions({ max_frame: 'lots' }), /lhttp: bad setting max_frame=lots: expected a size/);
  assert.throws(() => parseOptions({ path: '/x', publish_path: '/x' }), /lhttp: bad setting publish_path=\/x: expected a path that is not also a WebSocket path/);
  // Durations are durations: 5k is not 5120 ms.
  assert.throws(() => parseOptions({ upstream_timeout: '5k' }), /lhttp: bad setting upstream_timeout=5k: expected a duration/);
  assert.equal(parseOptions({ upstream_timeout: '5s', processor_timeout: '2m', ping_interval: '0' }).options.upstreamTimeout, 5000);
  assert.equal(parseOptions({ processor_timeout: '2m' }).options.processorTimeout, 120_000);
  assert.throws(() => parseOptions({ redis: 'localhost:6379' }), /lhttp: bad setting redis=localhost:6379: expected a URL starting with redis:\/\/ or rediss:\/\//);
  assert.throws(() => parseOptions({ upstream_allow: 'ftp://x/' }), /lhttp: bad setting upstream_allow=ftp:\/\/x\/: expected http:\/\/ or https:\/\/ URL prefixes/);
  assert.equal(parseOptions({ publish_path: ' ' }).options.publishPath, null);
  assert.equal(parseOptions({ origins: '*' }).options.origins, null);
  assert.deepEqual(parseOptions({ origins: 'http://a, http://b' }).options.origins, ['http://a', 'http://b']);
});
