// SPDX-License-Identifier: LGPL-3.0-or-later
/** Pure parts of the http module: path checks, conditional requests, ranges, encodings, settings. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { isNotModified, parseRange, pickEncoding } from '../modules_src/http/conditional.ts';
import { parseOptions } from '../modules_src/http/config.ts';
import { encodePath, resolveUrlPath } from '../modules_src/http/url-path.ts';

test('resolveUrlPath: no accepted path ever has a dot segment or a separator in a segment', () => {
  fc.assert(
    fc.property(fc.stringMatching(/^\/[a-zA-Z0-9.%/\\]{0,20}$/), (target) => {
      const r = resolveUrlPath(target);
      if (r.status !== 0) return;
      for (const s of r.segments) {
        assert.ok(s !== '' && !s.startsWith('.') && !s.includes('/') && !s.includes('\\') && !s.includes('\0'), JSON.stringify({ target, s }));
      }
    }),
    { numRuns: 2000 },
  );
});

test('resolveUrlPath examples', () => {
  assert.deepEqual(resolveUrlPath('/a/b%20c/?q=1'), { status: 0, segments: ['a', 'b c'], trailingSlash: true });
  assert.deepEqual(resolveUrlPath('http://h/x'), { status: 0, segments: ['x'], trailingSlash: false });
  assert.equal(resolveUrlPath('/%2e%2e/x').status, 400);
  assert.equal(resolveUrlPath('/.env').status, 404);
  assert.equal(encodePath(['a b', 'c'], true), '/a%20b/c/');
  assert.equal(encodePath([], false), '/');
});

test('ranges and validators', () => {
  assert.deepEqual(parseRange('bytes=0-4', 10), { start: 0, end: 4 });
  assert.deepEqual(parseRange('bytes=-3', 10), { start: 7, end: 9 });
  assert.deepEqual(parseRange('bytes=-30', 10), { start: 0, end: 9 });
  assert.equal(parseRange('bytes=10-', 10), 'unsatisfiable');
  assert.equal(parseRange('bytes=0-1,3-4', 10), null);
  assert.equal(isNotModified('"a", "b"', undefined, '"b"', 0), true);
  assert.equal(isNotModified(undefined, new Date(5000).toUTCString(), '"x"', 5999), true);
  assert.equal(isNotModified(undefined, new Date(5000).toUTCString(), '"x"', 6000), false);
  assert.equal(pickEncoding('gzip, br', true, true), 'br');
  assert.equal(pickEncoding('gzip;q=0.5', true, true), 'gzip');
  assert.equal(pickEncoding('br;q=0', true, false), null);
});

test('settings', () => {
  const o = parseOptions({ root: 'www', 'cache-max-file': '2m', 'access-log': 'off' }, '/srv');
  assert.equal(o.root, '/srv/www');
  assert.equal(o.cacheMaxFile, 2 * 1024 * 1024);
  assert.equal(o.accessLog, 'off');
  assert.equal(parseOptions({}, '/x').root, '/x/static_html');
  assert.throws(() => parseOptions({ nope: '1' }, '/'), /unknown setting/);
  assert.throws(() => parseOptions({ 'cache-size': 'lots' }, '/'), /^ConfigError: http: bad setting cache-size=lots: expected a size from 0 to 16g/);
  assert.throws(() => parseOptions({ 'access-log': 'loud' }, '/'), /http: bad setting access-log=loud: expected one of off, trace, debug, info, warn/);
  assert.throws(() => parseOptions({ mount: 'x' }, '/'), /http: bad setting mount=x: expected a path starting with \//);
});
