// SPDX-License-Identifier: LGPL-3.0-or-later
// Property: routing (PrefixTable, read until decided, as the peek loop does)
// and line framing from byte 0 give the same result whatever the TCP split.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { MatchState, PrefixTable, prefixBytes } from '../src/router/prefix-table.ts';
import { LineFramer } from '../src/router/line-framer.ts';
import { splitAt } from './helpers/split.ts';

const PREFIXES = ['', 'A', 'AB', 'ABC', 'UP', 'UPPER', 'B\n', 'C\r'];
const TABLE = new PrefixTable(PREFIXES.map((p) => ({ prefix: prefixBytes(p), target: p })));

/** Feeds chunks like the peek loop, then frames everything from byte 0. */
function routeAndFrame(chunks: Buffer[]): { route: string | null; lines: string[] } {
  let seen: Buffer = Buffer.alloc(0);
  let i = 0;
  let route: string | null | undefined;
  while (route === undefined && i < chunks.length) {
    seen = Buffer.concat([seen, chunks[i++]!]);
    if (seen.length === 0) continue;
    const r = TABLE.match(seen);
    if (r.state === MatchState.Matched) route = r.entry!.target;
    else if (r.state === MatchState.NoMatch) route = null;
  }
  // End of stream while undecided: best match so far.
  if (route === undefined) route = seen.length === 0 ? null : (TABLE.match(seen).entry?.target ?? null);
  const f = new LineFramer();
  const lines: string[] = [];
  const sink = (l: Buffer): void => void lines.push(l.toString('latin1'));
  f.push(seen, sink);
  for (; i < chunks.length; i++) f.push(chunks[i]!, sink);
  if (f.pending > 0) f.push(Buffer.from('\n'), sink);
  return { route, lines };
}

test('property: any split routes and frames exactly like the unsplit stream', () => {
  const piece = fc.constantFrom('A', 'B', 'C', 'U', 'P', 'E', 'R', '\n', '\r', ' ', 'x', '\u0000');
  fc.assert(
    fc.property(fc.array(piece, { minLength: 1, maxLength: 40 }), fc.array(fc.nat(), { maxLength: 12 }), (parts, cuts) => {
      const data = Buffer.from(parts.join(''), 'latin1');
      const chunks = splitAt(data, cuts);
      assert.deepEqual(routeAndFrame(chunks), routeAndFrame([data]));
    }),
    { numRuns: 2000 },
  );
});

test('examples: UP + PER routes to UPPER; byte at a time matches whole', () => {
  const bytes = (s: string): Buffer[] => [...Buffer.from(s)].map((b) => Buffer.from([b]));
  assert.equal(routeAndFrame([Buffer.from('UP'), Buffer.from('PER x\n')]).route, 'UPPER');
  assert.equal(routeAndFrame(bytes('UPPER x\n')).route, 'UPPER');
  assert.equal(routeAndFrame(bytes('UPX\n')).route, 'UP');
  assert.equal(routeAndFrame(bytes('ABQ')).route, 'AB');
  assert.equal(routeAndFrame(bytes('zzz')).route, '');
  assert.deepEqual(routeAndFrame(bytes('ABC 1\r\nABC 2\n')).lines, ['ABC 1', 'ABC 2']);
});
