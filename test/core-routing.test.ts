// SPDX-License-Identifier: LGPL-3.0-or-later
// Routing over real sockets: longest prefix, split prefixes, default route,
// peek timeout, no route, max-peek, and random TCP splits.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import fc from 'fast-check';
import { connect, exchange, startHrmr, type Hrmr } from './helpers/hrmr.ts';

const ROUTES = `export default { routes: [
  { prefix: 'A', message: (m) => 'A:' + m + '\\n' },
  { prefix: 'AB', message: (m) => 'AB:' + m + '\\n' },
  { prefix: 'ABC', message: (m) => 'ABC:' + m + '\\n' },
  { prefix: 'UP', message: (m) => 'UP:' + m + '\\n' },
  { prefix: 'UPPER', message: (m) => 'UPPER:' + m.toString().toUpperCase() + '\\n' },
  { prefix: 'PING', message: () => 'PONG\\n' },
  { prefix: 'LONGPREFIX-0123456789', message: () => 'long\\n' },
  { prefix: 'ECHO', connection: (s) => s.pipe(s) },
  { prefix: 'SINK', connection: (s) => { s.on('data', () => {}); } },
] };`;
const DEFAULT = `export default { routes: [ { prefix: '', message: (m) => 'default:' + m + '\\n' } ] };`;

let plain: Hrmr; // no default route
let withDefault: Hrmr;

before(async () => {
  [plain, withDefault] = await Promise.all([
    startHrmr({ modules: { routes: ROUTES }, args: ['--peek-timeout', '300', '--max-peek', '16'] }),
    startHrmr({ modules: { routes: ROUTES, zdefault: DEFAULT }, args: ['--peek-timeout', '300'] }),
  ]);
});
after(async () => {
  await Promise.all([plain?.kill(), withDefault?.kill()]);
});

test('longest prefix wins: A, AB, ABC', async () => {
  assert.equal(await exchange(plain.port, 'ABCD\n', { end: true }), 'ABC:ABCD\n');
  assert.equal(await exchange(plain.port, 'ABD\n', { end: true }), 'AB:ABD\n');
  assert.equal(await exchange(plain.port, 'AD\n', { end: true }), 'A:AD\n');
});

test('longest prefix wins across modules, whichever module loads first', async (t) => {
  // Module names sort a < b < c: the longest prefix lives in the middle module, the shortest in the first.
  const h = await startHrmr({
    modules: {
      a: `export default { routes: [{ prefix: 'K', message: () => 'a:K\\n' }] };`,
      b: `export default { routes: [{ prefix: 'KEY=', message: () => 'b:KEY=\\n' }] };`,
      c: `export default { routes: [{ prefix: 'KE', message: () => 'c:KE\\n' }, { prefix: new Uint8Array([0xff, 0x00, 0x01]), message: () => 'c:bytes\\n' }, { prefix: new Uint8Array([0xff]), message: () => 'c:byte\\n' }] };`,
    },
    args: ['--peek-timeout', '300'],
  });
  t.after(() => h.kill());
  assert.equal(await exchange(h.port, 'KEY=1\n', { end: true }), 'b:KEY=\n');
  assert.equal(await exchange(h.port, ['K', 'E', 'Y', '=\n'], { gapMs: 20, end: true }), 'b:KEY=\n');
  assert.equal(await exchange(h.port, 'KEY\n', { end: true }), 'c:KE\n');
  assert.equal(await exchange(h.port, 'KX\n', { end: true }), 'a:K\n');
  assert.equal(await exchange(h.port, Buffer.from([0xff, 0x00, 0x01, 0x0a]), { end: true }), 'c:bytes\n');
  assert.equal(await exchange(h.port, Buffer.from([0xff, 0x00, 0x02, 0x0a]), { end: true }), 'c:byte\n');
});

test('a prefix split across segments still routes (UP, then 50 ms later PER x)', async () => {
  assert.equal(await exchange(plain.port, ['UP', 'PER x\n'], { gapMs: 50, end: true }), 'UPPER:UPPER X\n');
  assert.equal(await exchange(plain.port, ['U', 'P', 'P', 'E', 'R', ' y\n'], { gapMs: 20, end: true }), 'UPPER:UPPER Y\n');
  assert.equal(await exchange(plain.port, ['A', 'B', 'C', '\n'], { gapMs: 20, end: true }), 'ABC:ABC\n');
});

test('byte at a time', async () => {
  const msg = 'UPPER byte by byte\nUPPER again\r\n';
  const parts = [...Buffer.from(msg)].map((b) => Buffer.from([b]));
  assert.equal(await exchange(plain.port, parts, { gapMs: 3, end: true }), 'UPPER:UPPER BYTE BY BYTE\nUPPER:UPPER AGAIN\n');
});

test('a shorter prefix is chosen only when no longer one can still match', async () => {
  // "UPX" rules UPPER out: UP serves it.
  assert.equal(await exchange(plain.port, ['UP', 'X\n'], { gapMs: 50, end: true }), 'UP:UPX\n');
  // "AB" then half-close: nothing longer can arrive, AB serves it.
  assert.equal(await exchange(plain.port, 'AB', { end: true }), 'AB:AB\n');
  // "UP" then silence past the peek timeout: the best match so far (UP) decides the connection's module;
  // the message "UPPER" then goes to that module's longest-matching message route.
  assert.equal(await exchange(plain.port, ['UP', 'PER\n'], { gapMs: 900, end: true }), 'UPPER:UPPER\n');
  assert.equal(await exchange(plain.port, ['UP', 'X\n'], { gapMs: 900, end: true }), 'UP:UPX\n');
});

test("default route '' takes what nothing else matches, and never steals a longer match", async () => {
  assert.equal(await exchange(withDefault.port, 'hello\n', { end: true }), 'default:hello\n');
  assert.equal(await exchange(withDefault.port, 'PIX\n', { end: true }), 'default:PIX\n');
  assert.equal(await exchange(withDefault.port, ['PI', 'NG\n'], { gapMs: 50, end: true }), 'PONG\n');
  assert.equal(await exchange(withDefault.port, 'ABC\n', { end: true }), 'ABC:ABC\n');
  // Admin still works next to a default route.
  assert.match(await exchange(withDefault.port, 'STATUS\nCLOSE\n'), /^OK \{.*\}\nOK bye\n$/);
});

test("each message goes to the owning module's longest-matching message route; a stream prefix or no match gets ERR no route and the connection stays open", async () => {
  assert.equal(await exchange(plain.port, 'A1\nPING\nUPPER x\nECHO\nABD\nzz\nABCD\n', { end: true }), 'A:A1\nPONG\nUPPER:UPPER X\nERR no route\nAB:ABD\nERR no route\nABC:ABCD\n');
  assert.equal(await exchange(plain.port, ['PING\n', 'ABC\n'], { gapMs: 30, end: true }), 'PONG\nABC:ABC\n');
});

test('stream route: when the client half-closes, hrmr ends the server side too (even if the handler never does)', async () => {
  // SINK reads and never writes nor ends: the close must come from hrmr, within the exchange's deadline.
  assert.equal(await exchange(plain.port, 'SINK some bytes', { end: true, timeoutMs: 5000 }), '');
});

test('no route: bytes that match nothing get ERR no route, then close', async () => {
  assert.equal(await exchange(plain.port, 'GET / HTTP/1.1\r\n\r\n'), 'ERR no route\n');
  assert.equal(await exchange(plain.port, Buffer.from([0, 1, 2])), 'ERR no route\n');
});

test('peek timeout: a silent client is closed without a reply', async () => {
  assert.equal(await exchange(plain.port, [], { timeoutMs: 5000 }), '');
});

test('peek timeout with data: a partial prefix that matches nothing yet gets exactly ERR no route, then close (docs/errors.md)', async () => {
  const st = async (): Promise<{ noRoute: number; peekTimeout: number }> => (JSON.parse((await exchange(plain.port, 'STATUS\nCLOSE\n')).split('\n')[0]!.slice(3)) as { rejected: { noRoute: number; peekTimeout: number } }).rejected;
  const before = await st();
  // The client keeps the connection open: only the peek timeout (300 ms) can end it.
  assert.equal(await exchange(plain.port, 'PIN', { timeoutMs: 5000 }), 'ERR no route\n');
  assert.equal(await exchange(plain.port, ['L', 'ONGPREFIX'], { gapMs: 20, timeoutMs: 5000 }), 'ERR no route\n');
  const after = await st();
  assert.equal(after.peekTimeout - before.peekTimeout, 2, 'counted as peek timeouts');
});

test('max-peek: no decision within --max-peek bytes closes with ERR no route (before the peek timeout)', async (t) => {
  const h = await startHrmr({ modules: { routes: ROUTES }, args: ['--peek-timeout', '60000', '--max-peek', '8'] });
  t.after(() => h.kill());
  // 10 bytes of a 21-byte prefix: still undecided, but over the limit.
  assert.equal(await exchange(h.port, 'LONGPREFIX', { timeoutMs: 5000 }), 'ERR no route\n');
  // A prefix that fits is still routed.
  assert.equal(await exchange(h.port, 'PING\n', { end: true }), 'PONG\n');
});

test('stream route sees every byte from byte 0, split across segments', async () => {
  const data = Buffer.concat([Buffer.from('ECHO'), randomBytes(5000)]);
  const parts = [data.subarray(0, 2), data.subarray(2, 3), data.subarray(3, 9), data.subarray(9, 2000), data.subarray(2000)];
  const got = await exchangeBytes(plain.port, parts, 10);
  assert.equal(Buffer.compare(got, data), 0, `echo differs: ${got.length} vs ${data.length} bytes`);
});

test('random splits over a real socket route and frame like the unsplit stream', async () => {
  await fc.assert(
    fc.asyncProperty(fc.uint8Array({ minLength: 0, maxLength: 300 }), fc.array(fc.nat(), { maxLength: 6 }), async (tail, cuts) => {
      const echo = Buffer.concat([Buffer.from('ECHO'), tail]);
      const lines = Buffer.from(`UPPER ${Buffer.from(tail).toString('hex')}\r\nUPPER b\nUPPER c`);
      for (const [data, expect] of [
        [echo, echo],
        [lines, Buffer.from(`UPPER:UPPER ${Buffer.from(tail).toString('hex').toUpperCase()}\nUPPER:UPPER B\nUPPER:UPPER C\n`)],
      ] as const) {
        const points = [...new Set(cuts.map((c) => c % (data.length + 1)))].sort((a, b) => a - b);
        const parts: Buffer[] = [];
        let at = 0;
        for (const p of points) {
          if (p > at) parts.push(data.subarray(at, p));
          at = Math.max(at, p);
        }
        parts.push(data.subarray(at));
        const got = await exchangeBytes(plain.port, parts, 5);
        assert.equal(got.toString('hex'), expect.toString('hex'));
      }
    }),
    { numRuns: 12 },
  );
});

/** Writes parts with small gaps (separate segments), half-closes, returns every byte until close. */
async function exchangeBytes(port: number, parts: Buffer[], gapMs: number): Promise<Buffer> {
  const s = await connect(port);
  s.setNoDelay(true);
  const chunks: Buffer[] = [];
  const done = new Promise<Buffer>((resolve, reject) => {
    const t = setTimeout(() => {
      s.destroy();
      reject(new Error('no close within 5 s'));
    }, 5000);
    s.on('data', (d: Buffer) => chunks.push(d));
    s.on('close', () => {
      clearTimeout(t);
      resolve(Buffer.concat(chunks));
    });
  });
  for (const p of parts) {
    if (p.length === 0) continue;
    s.write(p);
    await new Promise((r) => setTimeout(r, gapMs));
  }
  s.end();
  return done;
}
