// SPDX-License-Identifier: LGPL-3.0-or-later
// Property: the real peek (src/router/peek.ts) routes the same way whatever
// the TCP split, and what it read is handed on so that the route sees the
// stream from byte 0: framed into the same lines (message routes), or given
// back to the socket byte for byte (stream routes, giveBack). The socket is a
// real stream (node's Duplex) fed chunk by chunk, each chunk its own 'data'
// event, as TCP segments arrive.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Socket } from 'node:net';
import { Duplex } from 'node:stream';
import fc from 'fast-check';
import { giveBack, peek, PeekOutcome } from '../src/router/peek.ts';
import { PrefixTable, prefixBytes } from '../src/router/prefix-table.ts';
import { LineFramer } from '../src/router/line-framer.ts';
import { splitAt } from './helpers/split.ts';

const PREFIXES = ['', 'A', 'AB', 'ABC', 'UP', 'UPPER', 'B\n', 'C\r'];
const TABLE = new PrefixTable(PREFIXES.map((p) => ({ prefix: prefixBytes(p), target: p })));
const NO_DEFAULT = new PrefixTable(PREFIXES.filter((p) => p !== '').map((p) => ({ prefix: prefixBytes(p), target: p })));

interface Outcome {
  outcome: number;
  route: string | null;
  /** message path: lines framed from byte 0; stream path: every byte read after giveBack. */
  lines: string[];
  bytes: string;
}

function socketFed(chunks: Buffer[]): Socket {
  const s = new Duplex({ read() {}, write: (_c, _e, cb) => cb() });
  // One push per tick: each chunk is its own 'data' event, like separate TCP segments.
  let i = 0;
  const next = (): void => {
    if (i < chunks.length) {
      const c = chunks[i++]!;
      if (c.length > 0) s.push(c);
      setImmediate(next);
    } else s.push(null);
  };
  setImmediate(next);
  return s as unknown as Socket;
}

/** Runs the real peek on `chunks`, then hands the connection on as the server does for `path`. */
function run(chunks: Buffer[], table: PrefixTable<string>, path: 'message' | 'stream'): Promise<Outcome> {
  return new Promise((resolve, reject) => {
    const sock = socketFed(chunks);
    const timer = setTimeout(() => reject(new Error('peek never decided')), 5000);
    peek<string>(sock, {
      table: () => table,
      limits: { timeoutMs: 60_000, maxBytes: 1 << 20 },
      done(s, outcome, entry, data, ended) {
        clearTimeout(timer);
        const base = { outcome, route: entry?.target ?? null };
        // Not routed: the server answers ERR no route (or closes); how much was read before deciding does not matter.
        if (outcome !== PeekOutcome.Routed) return resolve({ ...base, lines: [], bytes: '' });
        if (path === 'message') {
          const f = new LineFramer();
          const lines: string[] = [];
          const sink = (l: Buffer): void => void lines.push(l.toString('latin1'));
          const finish = (): void => {
            if (f.pending > 0) f.push(Buffer.from('\n'), sink);
            resolve({ ...base, lines, bytes: '' });
          };
          if (data !== null) f.push(data, sink);
          if (ended) return finish();
          s.on('data', (c: Buffer) => f.push(c, sink));
          s.on('end', finish);
          s.resume();
        } else {
          if (ended) return resolve({ ...base, lines: [], bytes: data?.toString('latin1') ?? '' });
          giveBack(s, data);
          const got: Buffer[] = [];
          // A handler attaching 'data' starts the flow, as on a fresh socket.
          s.on('data', (c: Buffer) => got.push(c));
          s.on('end', () => resolve({ ...base, lines: [], bytes: Buffer.concat(got).toString('latin1') }));
        }
      },
    });
  });
}

const piece = fc.constantFrom('A', 'B', 'C', 'U', 'P', 'E', 'R', '\n', '\r', ' ', 'x', '\u0000');

test('property: the real peek routes and hands on the stream exactly like the unsplit stream, whatever the split', async () => {
  await fc.assert(
    fc.asyncProperty(fc.array(piece, { minLength: 1, maxLength: 40 }), fc.array(fc.nat(), { maxLength: 12 }), fc.boolean(), async (parts, cuts, withDefault) => {
      const data = Buffer.from(parts.join(''), 'latin1');
      const chunks = splitAt(data, cuts);
      const table = withDefault ? TABLE : NO_DEFAULT;
      for (const path of ['message', 'stream'] as const) {
        const whole = await run([data], table, path);
        const split = await run(chunks, table, path);
        assert.deepEqual(split, whole);
        // Stream routes see every byte from byte 0.
        if (path === 'stream' && whole.outcome === PeekOutcome.Routed) assert.equal(whole.bytes, data.toString('latin1'));
      }
    }),
    { numRuns: 2000 },
  );
});

test('examples through the real peek: UP + PER routes to UPPER; byte at a time matches whole; no route without a default', async () => {
  const bytes = (s: string): Buffer[] => [...Buffer.from(s)].map((b) => Buffer.from([b]));
  assert.equal((await run([Buffer.from('UP'), Buffer.from('PER x\n')], TABLE, 'message')).route, 'UPPER');
  assert.equal((await run(bytes('UPPER x\n'), TABLE, 'message')).route, 'UPPER');
  assert.equal((await run(bytes('UPX\n'), TABLE, 'message')).route, 'UP');
  assert.equal((await run(bytes('ABQ'), TABLE, 'message')).route, 'AB');
  assert.equal((await run(bytes('zzz'), TABLE, 'message')).route, '');
  const none = await run(bytes('zzz'), NO_DEFAULT, 'message');
  assert.deepEqual([none.outcome, none.route], [PeekOutcome.NoRoute, null]);
  assert.deepEqual((await run(bytes('ABC 1\r\nABC 2\n'), TABLE, 'message')).lines, ['ABC 1', 'ABC 2']);
  assert.equal((await run(bytes('UPPER and more'), TABLE, 'stream')).bytes, 'UPPER and more');
});
