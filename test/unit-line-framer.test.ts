// SPDX-License-Identifier: LGPL-3.0-or-later
// LineFramer: \n and \r\n, lines split across chunks, the 64 KiB limit, and a
// property: any split of a byte stream frames exactly like the whole stream.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { LineFramer, LineTooLongError, MAX_LINE } from '../src/router/line-framer.ts';
import { splitAt } from './helpers/split.ts';

function frame(chunks: Buffer[], max = MAX_LINE): { lines: string[]; pending: number } {
  const f = new LineFramer(max);
  const lines: string[] = [];
  for (const c of chunks) f.push(c, (l) => void lines.push(l.toString('latin1')));
  return { lines, pending: f.pending };
}

test('splits on \\n and drops one trailing \\r', () => {
  assert.deepEqual(frame([Buffer.from('a\nb\r\n\nc\r\r\nd')]), { lines: ['a', 'b', '', 'c\r'], pending: 1 });
});

test('a line split across chunks is joined; a lone \\r at a chunk edge is kept until the \\n decides', () => {
  assert.deepEqual(frame([Buffer.from('he'), Buffer.from('llo\r'), Buffer.from('\nwor'), Buffer.from('ld\n')]).lines, ['hello', 'world']);
});

test('the sink can stop framing', () => {
  const f = new LineFramer();
  const seen: string[] = [];
  const more = f.push(Buffer.from('a\nb\nc\n'), (l) => {
    seen.push(l.toString());
    return seen.length < 2;
  });
  assert.equal(more, false);
  assert.deepEqual(seen, ['a', 'b']);
});

test('64 KiB: a line of exactly MAX_LINE bytes passes (with \\n or \\r\\n), one more byte throws', () => {
  const ok = Buffer.alloc(MAX_LINE, 0x61);
  assert.equal(frame([ok, Buffer.from('\r\n')]).lines[0]!.length, MAX_LINE);
  assert.equal(frame([Buffer.concat([ok, Buffer.from('\n')])]).lines[0]!.length, MAX_LINE);
  assert.throws(() => frame([Buffer.alloc(MAX_LINE + 1, 0x61), Buffer.from('\n')]), LineTooLongError);
  assert.throws(() => frame([Buffer.alloc(MAX_LINE + 2, 0x61)]), LineTooLongError);
  // Split in small chunks without a newline: thrown as soon as the limit is passed, not at the end.
  const f = new LineFramer();
  let thrown = -1;
  for (let i = 0; i < 100; i++) {
    try {
      f.push(Buffer.alloc(1024, 0x61), () => undefined);
    } catch (e) {
      assert.ok(e instanceof LineTooLongError);
      thrown = i;
      break;
    }
  }
  assert.equal(thrown, 64);
});

test('property: any split of a byte stream frames like the unsplit stream', () => {
  const byte = fc.oneof(fc.constantFrom(10, 13, 97, 0, 255), fc.integer({ min: 0, max: 255 }));
  fc.assert(
    fc.property(fc.array(byte, { maxLength: 400 }), fc.array(fc.integer({ min: 0, max: 400 }), { maxLength: 20 }), (bytes, cuts) => {
      const data = Buffer.from(bytes);
      const chunks = splitAt(data, cuts);
      const run = (parts: Buffer[]): { lines: string[]; pending: number } | 'too long' => {
        try {
          return frame(parts, 20);
        } catch (e) {
          assert.ok(e instanceof LineTooLongError);
          return 'too long';
        }
      };
      const unsplit = run([data]);
      const split = run(chunks);
      assert.deepEqual(split, unsplit);
    }),
    { numRuns: 500 },
  );
});
