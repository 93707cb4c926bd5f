// SPDX-License-Identifier: LGPL-3.0-or-later
/** The shared settings grammar (shared/config.ts): pure, no server. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ConfigError, formatDuration, formatSize, parseBool, parseDuration, parseList, parseSize, settings } from '../shared/index.ts';

test('sizes: plain bytes, k/m/g in powers of 1024, b/kb/KiB spellings; anything else is null', () => {
  assert.equal(parseSize('4096'), 4096);
  assert.equal(parseSize('64k'), 65536);
  assert.equal(parseSize(' 64 KiB '), 65536);
  assert.equal(parseSize('256MB'), 256 * 1024 ** 2);
  assert.equal(parseSize('1g'), 1024 ** 3);
  assert.equal(parseSize('512b'), 512);
  for (const bad of ['', 'k', '1.5m', '-1', '1t', '5 s', 'lots', '1e3']) assert.equal(parseSize(bad), null, bad);
});

test('durations: a plain number is ms (or s when asked); ms, s, m, h; decimals rounded to a whole ms', () => {
  assert.equal(parseDuration('250'), 250);
  assert.equal(parseDuration('250ms'), 250);
  assert.equal(parseDuration('5s'), 5000);
  assert.equal(parseDuration('1.5s'), 1500);
  assert.equal(parseDuration('2m'), 120_000);
  assert.equal(parseDuration('1h'), 3_600_000);
  assert.equal(parseDuration('2', 's'), 2000);
  assert.equal(parseDuration('0.01', 's'), 10);
  assert.equal(parseDuration('20ms', 's'), 20);
  // A size is not a duration: 5k used to mean 5120 ms in lhttp.
  for (const bad of ['5k', '', 's', '-1s', '1d', '1 sec', 'soon']) assert.equal(parseDuration(bad), null, bad);
});

test('switches and lists', () => {
  for (const t of ['1', 'true', 'YES', 'On']) assert.equal(parseBool(t), true, t);
  for (const f of ['0', 'false', 'no', 'OFF']) assert.equal(parseBool(f), false, f);
  for (const bad of ['', 'maybe', '2', 'y']) assert.equal(parseBool(bad), null, bad);
  assert.deepEqual(parseList('a, b  c,,d'), ['a', 'b', 'c', 'd']);
  assert.deepEqual(parseList(' '), []);
});

test('formats used in messages', () => {
  assert.equal(formatSize(65536), '64k');
  assert.equal(formatSize(64 * 1024 ** 2), '64m');
  assert.equal(formatSize(1000), '1000');
  assert.equal(formatSize(0), '0');
  assert.equal(formatDuration(3_600_000), '1h');
  assert.equal(formatDuration(90_000), '90s');
  assert.equal(formatDuration(10), '10ms');
});

test('defaults for absent and blank values; bounds inclusive', () => {
  const s = settings('m', { blank: '  ', lo: '1', hi: '10' });
  assert.equal(s.int('absent', { default: 7 }), 7);
  assert.equal(s.int('blank', { default: 7 }), 7);
  assert.equal(s.size('blank', { default: 9 }), 9);
  assert.equal(s.duration('absent', { default: 30_000 }), 30_000);
  assert.equal(s.bool('absent', { default: true }), true);
  assert.deepEqual(s.list('absent', { default: ['x'] }), ['x']);
  assert.equal(s.url('absent'), null);
  assert.equal(s.oneOf('absent', ['a', 'b'], { default: 'b' }), 'b');
  assert.equal(s.int('lo', { default: 0, min: 1, max: 10 }), 1);
  assert.equal(s.int('hi', { default: 0, min: 1, max: 10 }), 10);
  // Inherited object keys are not settings.
  assert.equal(s.int('constructor', { default: 3 }), 3);
});

test('one error format: MODULE: bad setting KEY=VALUE: expected ...', () => {
  const s = settings('lhttp', { upstream_timeout: '5k', max_frame: '8', n: '1.5', on: 'maybe', r: 'http://u:secret@h/', path: '/a b,x', w: 'blue', nl: 'a\nb' });
  const err = (fn: () => unknown): ConfigError => {
    try {
      fn();
    } catch (e) {
      assert.ok(e instanceof ConfigError, String(e));
      return e;
    }
    assert.fail('did not throw');
  };
  let e = err(() => s.duration('upstream_timeout', { default: 5000, min: 1, max: 600_000 }));
  assert.equal(e.message, 'lhttp: bad setting upstream_timeout=5k: expected a duration from 1ms to 10m (ms, or with a unit: 500ms, 5s, 2m, 1h)');
  assert.equal(e.code, 'HRMR_BAD_SETTING');
  assert.equal(e.module, 'lhttp');
  assert.equal(e.key, 'upstream_timeout');
  assert.equal(e.value, '5k');
  e = err(() => s.size('max_frame', { default: 40960, min: 16, max: 64 * 1024 ** 2 }));
  assert.equal(e.message, 'lhttp: bad setting max_frame=8: expected a size from 16 to 64m (bytes, or with k, m or g: 64k, 1m)');
  assert.match(err(() => s.int('n', { default: 1 })).message, /^lhttp: bad setting n=1\.5: expected a whole number$/);
  assert.match(err(() => s.int('max_frame', { default: 1, min: 10 })).message, /expected a whole number of at least 10$/);
  assert.match(err(() => s.bool('on', { default: false })).message, /^lhttp: bad setting on=maybe: expected one of 1, true, yes, on, 0, false, no, off$/);
  assert.match(err(() => s.oneOf('w', ['red', 'green'], { default: 'red' })).message, /bad setting w=blue: expected one of red, green$/);
  assert.match(err(() => s.list('path', { item: (p) => p.startsWith('/'), expected: 'paths starting with /' })).message, /bad setting path=\/a b,x: expected a list of paths starting with \/ .*; b is not one$/);
  assert.match(err(() => s.fail('w', 'something else')).message, /^lhttp: bad setting w=blue: expected something else$/);
  // Control characters are escaped, so a value cannot forge a log line.
  assert.match(err(() => s.int('nl', { default: 1 })).message, /nl=a\\nb: /);
  // A password never reaches the message.
  e = err(() => s.url('r', { schemes: ['redis', 'rediss'] }));
  assert.equal(e.message, 'lhttp: bad setting r=http://u:***@h/: expected a URL starting with redis:// or rediss:// and naming a host');
  assert.doesNotMatch(e.message, /secret/);
});

test('urls: schemes checked, off/none mean none', () => {
  const s = settings('m', { a: 'redis://127.0.0.1:6379/2', b: 'off', c: 'none', d: 'redis://', e: 'not a url' });
  assert.equal(s.url('a', { schemes: ['redis'] }), 'redis://127.0.0.1:6379/2');
  assert.equal(s.url('b', { schemes: ['redis'] }), null);
  assert.equal(s.url('c', { schemes: ['redis'], default: 'redis://x' }), null);
  assert.throws(() => s.url('d', { schemes: ['redis'] }), /bad setting d=redis:\/\/: expected a URL/);
  assert.throws(() => s.url('e'), /bad setting e=not a url: expected a URL starting with http:\/\/ or https:\/\//);
});
