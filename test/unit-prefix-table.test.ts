// SPDX-License-Identifier: LGPL-3.0-or-later
// PrefixTable: longest prefix wins, undecided while a longer prefix can still match, default route.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MatchState, PrefixTable, prefixBytes, sameBytes } from '../src/router/prefix-table.ts';

function table(...prefixes: Array<string | Uint8Array>): PrefixTable<string> {
  return new PrefixTable(prefixes.map((p) => ({ prefix: prefixBytes(p), target: typeof p === 'string' ? p : `bytes:${Buffer.from(p).toString('hex')}` })));
}

function m(t: PrefixTable<string>, s: string | Buffer): { state: string; target: string | null } {
  const r = t.match(typeof s === 'string' ? Buffer.from(s, 'latin1') : s);
  const state = r.state === MatchState.Matched ? 'matched' : r.state === MatchState.Undecided ? 'undecided' : 'nomatch';
  return { state, target: r.entry ? r.entry.target : null };
}

test('longest prefix wins among A, AB, ABC', () => {
  const t = table('A', 'AB', 'ABC');
  assert.deepEqual(m(t, 'ABCD'), { state: 'matched', target: 'ABC' });
  assert.deepEqual(m(t, 'ABC'), { state: 'matched', target: 'ABC' });
  assert.deepEqual(m(t, 'ABX'), { state: 'matched', target: 'AB' });
  assert.deepEqual(m(t, 'AX'), { state: 'matched', target: 'A' });
});

test('a shorter prefix is only chosen when no longer one can still match', () => {
  const t = table('A', 'AB', 'ABC');
  // "A" alone: AB and ABC could still match -> undecided, best so far A.
  assert.deepEqual(m(t, 'A'), { state: 'undecided', target: 'A' });
  assert.deepEqual(m(t, 'AB'), { state: 'undecided', target: 'AB' });
});

test('split prefix: UP then PER routes to UPPER, not UP', () => {
  const t = table('UP', 'UPPER');
  assert.deepEqual(m(t, 'U'), { state: 'undecided', target: null });
  assert.deepEqual(m(t, 'UP'), { state: 'undecided', target: 'UP' });
  assert.deepEqual(m(t, 'UPP'), { state: 'undecided', target: 'UP' });
  assert.deepEqual(m(t, 'UPPER x\n'), { state: 'matched', target: 'UPPER' });
  assert.deepEqual(m(t, 'UPX'), { state: 'matched', target: 'UP' });
});

test('default route "" is chosen only when nothing else matches or can', () => {
  const t = table('', 'GET ', 'GO');
  assert.deepEqual(m(t, 'xyz'), { state: 'matched', target: '' });
  assert.deepEqual(m(t, 'G'), { state: 'undecided', target: '' });
  assert.deepEqual(m(t, 'GX'), { state: 'matched', target: '' });
  assert.deepEqual(m(t, 'GO'), { state: 'matched', target: 'GO' });
  assert.deepEqual(m(t, 'GET /'), { state: 'matched', target: 'GET ' });
});

test('no match without a default route', () => {
  const t = table('PING', 'PONG');
  assert.deepEqual(m(t, 'X'), { state: 'nomatch', target: null });
  assert.deepEqual(m(t, 'PIX'), { state: 'nomatch', target: null });
  assert.deepEqual(m(t, 'PI'), { state: 'undecided', target: null });
});

test('empty input is undecided unless the table is empty', () => {
  assert.equal(m(table('A'), Buffer.alloc(0)).state, 'undecided');
  assert.equal(m(table(), Buffer.alloc(0)).state, 'nomatch');
  assert.equal(m(table(), 'A').state, 'nomatch');
});

test('binary prefixes (Uint8Array) including byte 0 and 0xff', () => {
  const t = table(new Uint8Array([0x16, 0x03]), new Uint8Array([0x00, 0xff, 0x00]));
  assert.deepEqual(m(t, Buffer.from([0x16, 0x03, 0x01])), { state: 'matched', target: 'bytes:1603' });
  assert.deepEqual(m(t, Buffer.from([0x00, 0xff])), { state: 'undecided', target: null });
  assert.deepEqual(m(t, Buffer.from([0x00, 0xff, 0x00, 0x01])), { state: 'matched', target: 'bytes:00ff00' });
  assert.deepEqual(m(t, Buffer.from([0x00, 0xfe])), { state: 'nomatch', target: null });
});

test('string prefixes are UTF-8 and copied (a mutated source array does not change the table)', () => {
  const src = new Uint8Array([0x41, 0x42]);
  const t = new PrefixTable([{ prefix: prefixBytes(src), target: 'AB' }, { prefix: prefixBytes('é'), target: 'e' }]);
  src[0] = 0x5a;
  assert.equal(t.match(Buffer.from('AB')).entry?.target, 'AB');
  assert.equal(t.match(Buffer.from('é!')).entry?.target, 'e');
  assert.equal(t.maxPrefixLength, 2);
});

test('duplicate prefixes and two default routes are refused', () => {
  assert.throws(() => table('A', 'A'), /duplicate prefix/);
  assert.throws(() => table('', ''), /two default routes/);
});

test('sameBytes compares the first n bytes only, high bytes included', () => {
  const a = Buffer.from([0x16, 0x03, 0x01, 0xff, 0x80]);
  assert.equal(sameBytes(a, Buffer.from([0x16, 0x03, 0x01, 0xff]), 4), true);
  assert.equal(sameBytes(a, Buffer.from([0x16, 0x03, 0x01, 0xfe]), 4), false);
  assert.equal(sameBytes(a, Buffer.from([0x17]), 0), true);
  assert.equal(sameBytes(Buffer.from('GET /a'), Buffer.from('GET /b'), 5), true);
  assert.equal(sameBytes(Buffer.from('GET /a'), Buffer.from('GET /b'), 6), false);
});
