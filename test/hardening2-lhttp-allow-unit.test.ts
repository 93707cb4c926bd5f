// SPDX-License-Identifier: LGPL-3.0-or-later
/** lhttp.upstream_allow matching (pure): parsed, normalised URLs compared part by part, never raw prefixes. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { allowUpstream, parseAllowList } from '../modules_src/lhttp/upstream-allow.ts';

function allowed(list: string, url: string): boolean {
  return allowUpstream(parseAllowList(list), url) !== null;
}

test('nothing listed: nothing allowed', () => {
  assert.deepEqual(parseAllowList(undefined), []);
  assert.deepEqual(parseAllowList(' , '), []);
  assert.equal(allowed('', 'http://127.0.0.1:18931/internal/admin'), false);
});

test('a prefix ending in / matches the paths under it, on that scheme, host and port only', () => {
  const list = 'http://billing.internal:8080/hooks/';
  for (const ok of ['http://billing.internal:8080/hooks/', 'http://billing.internal:8080/hooks/a', 'HTTP://BILLING.Internal:8080/hooks/a/b?x=1', 'http://billing.internal:8080/hooks/a#frag', 'http://billing.internal:8080/x/../hooks/a']) {
    assert.equal(allowed(list, ok), true, ok);
  }
  for (const bad of [
    'http://billing.internal:8080@evil/hooks/',
    'http://billing.internal:8080@evil:8080/hooks/',
    'http://billing.internal:8080.evil/hooks/',
    'http://billing.internal.evil:8080/hooks/',
    'http://billing.internal.:8080/hooks/',
    'http://user:pw@billing.internal:8080/hooks/a',
    'http://billing.internal:8081/hooks/a',
    'http://billing.internal/hooks/a',
    'https://billing.internal:8080/hooks/a',
    'http://billing.internal:8080/hooks',
    'http://billing.internal:8080/hooksx/a',
    'http://billing.internal:8080/Hooks/a',
    'http://billing.internal:8080/hooks/../admin',
    'http://billing.internal:8080/hooks/%2e%2e/admin',
    'http://billing.internal:8080/hooks/.%2E/admin',
    'http://billing.internal:8080/hooks\\..\\admin',
    'http://billing.internal:8080/hooks/..%2fadmin',
    'http://billing.internal:8080/hooks/..%5Cadmin',
    'ftp://billing.internal:8080/hooks/a',
    'billing.internal:8080/hooks/a',
    '//billing.internal:8080/hooks/a',
    'not a url',
    '',
  ]) {
    assert.equal(allowed(list, bad), false, bad);
  }
});

test('a prefix without a trailing / matches at a segment boundary', () => {
  const list = 'https://api.example.com/v1';
  for (const ok of ['https://api.example.com/v1', 'https://api.example.com/v1/', 'https://api.example.com:443/v1/x', 'https://API.example.com/v1?q']) assert.equal(allowed(list, ok), true, ok);
  for (const bad of ['https://api.example.com/v10', 'https://api.example.com/v1x/y', 'https://api.example.com/', 'http://api.example.com/v1/x', 'https://api.example.com:8443/v1/x']) assert.equal(allowed(list, bad), false, bad);
});

test('default ports are normalised both ways; host only means the whole origin', () => {
  assert.equal(allowed('http://h:80/', 'http://h/a'), true);
  assert.equal(allowed('http://h', 'http://h:80/a/b'), true);
  assert.equal(allowed('https://h:443', 'https://h/a'), true);
  assert.equal(allowed('http://h', 'http://h:8080/a'), false);
  assert.equal(allowed('https://h', 'http://h:443/a'), false);
});

test('IP literals compare as the parser writes them', () => {
  assert.equal(allowed('http://10.0.0.5:9000/', 'http://0x0a.0.0.5:9000/x'), true);
  assert.equal(allowed('http://10.0.0.5:9000/', 'http://167772165:9000/x'), true);
  assert.equal(allowed('http://10.0.0.5:9000/', 'http://127.0.0.1:9000/x'), false);
  assert.equal(allowed('http://10.0.0.5:9000/', 'http://2130706433:9000/x'), false);
  assert.equal(allowed('http://[::1]:9000/', 'http://[0:0::1]:9000/x'), true);
  assert.equal(allowed('http://[::1]:9000/', 'http://[::2]:9000/x'), false);
});

test('several prefixes, commas or spaces between them', () => {
  const list = 'http://billing.internal:8080/hooks/, https://audit.internal/in  http://127.0.0.1:9/x/';
  assert.equal(parseAllowList(list).length, 3);
  assert.equal(allowed(list, 'https://audit.internal/in/1'), true);
  assert.equal(allowed(list, 'http://127.0.0.1:9/x/y'), true);
  assert.equal(allowed(list, 'http://127.0.0.1:9/y'), false);
});

test('the URL handed back is the parsed one (what was checked is what is fetched)', () => {
  const u = allowUpstream(parseAllowList('http://h:8080/a/'), 'HTTP://H:8080/b/../a/x?q=1');
  assert.equal(u?.href, 'http://h:8080/a/x?q=1');
});

test('bad entries stop the module loading, naming the setting', () => {
  for (const bad of ['ftp://h/', 'http://u:p@h/', 'http://h/?q=1', 'http://h/#x', 'h:8080/x', 'not a url', 'http://h:99999/', 'file:///etc/']) {
    assert.throws(() => parseAllowList(bad), /lhttp\.upstream_allow/, bad);
  }
});
