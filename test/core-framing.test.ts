// SPDX-License-Identifier: LGPL-3.0-or-later
// Message framing over real sockets ('line' and 'whole'), reply order,
// the 64 KiB line limit, reply types, ctx, and handler faults.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { connect, exchange, LineClient, startHrmr, type Hrmr } from './helpers/hrmr.ts';

const MOD = `
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
export default { name: 'frame', routes: [
  { prefix: 'E', message: (m) => '[' + m.toString('latin1') + ']\\n' },
  { prefix: 'D ', message: async (m) => { const ms = Number(m.toString().slice(2)); await sleep(ms); return 'done ' + ms + '\\n'; } },
  { prefix: 'L ', message: (m) => 'len ' + m.length + '\\n' },
  { prefix: 'W', framing: 'whole', message: (m) => 'whole ' + m.length + ' ' + m.subarray(0, 3).toString() + ' ' + m.subarray(-3).toString() },
  { prefix: 'WA', framing: 'whole', message: async (m) => { await sleep(20); return new Uint8Array([0, 255, m.length & 255]); } },
  { prefix: 'NULL', message: (m) => (m.toString() === 'NULL undefined' ? undefined : m.toString() === 'NULL' ? null : m + '\\n') },
  { prefix: 'BYTES', message: () => new Uint8Array([0, 1, 2, 10]) },
  { prefix: 'CTX', message: (m, ctx) => { ctx.log.info('ctx used'); return JSON.stringify({ module: ctx.module, version: ctx.version, addr: ctx.remoteAddress, port: ctx.remotePort, log: typeof ctx.log.info }) + '\\n'; } },
  { prefix: 'THROW', message: (m) => { if (m.toString() === 'THROW ok') return 'fine\\n'; throw new Error('boom\\nsecond line'); } },
  { prefix: 'REJECT', message: async () => { await sleep(5); throw new Error('nope'); } },
  { prefix: 'SCRASH', connection: () => { throw new Error('stream boom'); } },
  { prefix: 'CNT', message: (m) => { if (m.toString() === 'CNT throw') throw new Error('counted'); globalThis.cnt = (globalThis.cnt ?? 0) + 1; return 'n=' + globalThis.cnt + '\\n'; } },
  { prefix: 'BADTYPE', message: () => 42 },
] };`;

let h: Hrmr;
before(async () => {
  h = await startHrmr({ modules: { frame: MOD }, args: ['--peek-timeout', '1000'] });
});
after(() => h?.kill());

test('line framing: \\n and \\r\\n, prefix included in the message, pipelined lines in one segment', async () => {
  assert.equal(await exchange(h.port, 'Eone\r\nEtwo\nE\r\nEx\r\r\n', { end: true }), '[Eone]\n[Etwo]\n[E]\n[Ex\r]\n');
});

test('an unterminated last line is still a message when the client half-closes', async () => {
  assert.equal(await exchange(h.port, 'Ea\nEb', { end: true }), '[Ea]\n[Eb]\n');
});

test('replies come back in order when async handlers finish out of order', async () => {
  assert.equal(await exchange(h.port, 'D 150\nD 1\nD 60\nD 0\n', { end: true }), 'done 150\ndone 1\ndone 60\ndone 0\n');
  const c = await LineClient.open(h.port);
  c.send('D 80');
  c.send('D 5');
  assert.equal(await c.read(), 'done 80');
  assert.equal(await c.read(), 'done 5');
  c.close();
});

test('64 KiB line limit: exactly 64 KiB passes, one byte more gets ERR and close', async () => {
  const ok = 'L ' + 'a'.repeat(64 * 1024 - 2);
  assert.equal(await exchange(h.port, ok + '\r\n', { end: true }), `len ${64 * 1024}\n`);
  const c = await LineClient.open(h.port);
  c.send('L 1');
  assert.equal(await c.read(), 'len 3');
  c.socket.write('L ' + 'b'.repeat(70 * 1024));
  const line = await c.read();
  assert.equal(line, 'ERR line too long (over 65536 bytes)');
  assert.equal(await c.read(), null, 'closed after the error');
});

test('64 KiB line limit at the boundary: 65,536 bytes pass split in any segments, 65,537 fail, terminated or not', async () => {
  const exact = Buffer.from('L ' + 'a'.repeat(64 * 1024 - 2) + '\n');
  // Split inside the line and just before the newline: the limit counts the line, not a chunk.
  assert.equal(await exchange(h.port, [exact.subarray(0, 1000), exact.subarray(1000, exact.length - 1), exact.subarray(exact.length - 1)], { gapMs: 20, end: true }), `len ${64 * 1024}\n`);
  const over = 'L ' + 'a'.repeat(64 * 1024 - 1);
  assert.equal(await exchange(h.port, over + '\n'), 'ERR line too long (over 65536 bytes)\n');
  assert.equal(await exchange(h.port, over + '\r\n'), 'ERR line too long (over 65536 bytes)\n');
  assert.equal(await exchange(h.port, ['L 1\n', over.slice(0, 30_000), over.slice(30_000) + '\n'], { gapMs: 20 }), 'len 3\nERR line too long (over 65536 bytes)\n');
  // Unterminated and the client keeps the connection open: the error comes without waiting for a newline.
  assert.equal(await exchange(h.port, over + 'bb', { timeoutMs: 5000 }), 'ERR line too long (over 65536 bytes)\n');
});

test('a too-long line after pending async replies: those replies are written first, then ERR', async () => {
  const got = await exchange(h.port, 'D 100\nD 1\n' + 'D ' + '9'.repeat(70 * 1024), { timeoutMs: 5000 });
  assert.match(got, /^done 100\ndone 1\nERR line too long[^\n]*\n$/);
});

test('whole framing: a client that half-closes before the route is decided is still served', async () => {
  // "W" could still become "WA": the half-close decides it.
  assert.equal(await exchange(h.port, 'W', { end: true }), 'whole 1 W W');
});

test('whole framing: one message until half-close, then the reply, then end', async () => {
  const body = Buffer.concat([Buffer.from('W'), randomBytes(3000).map((b) => 97 + (b % 26)), Buffer.from('xyz')]);
  const got = await exchange(h.port, [body.subarray(0, 1), body.subarray(1, 1000), body.subarray(1000)], { gapMs: 20, end: true });
  assert.equal(got, `whole ${body.length} ${body.subarray(0, 3).toString()} xyz`);
  // Newlines are not message boundaries in whole framing.
  assert.equal(await exchange(h.port, 'Wa\nb\nxyz', { end: true }), 'whole 8 Wa\n xyz');
});

test('whole framing: --max-message bytes pass, one more gets ERR message too large and close', async (t) => {
  const small = await startHrmr({ modules: { frame: MOD }, args: ['--max-message', '1000'] });
  t.after(() => small.kill());
  assert.equal(await exchange(small.port, 'W' + 'x'.repeat(996) + 'end', { end: true }), 'whole 1000 Wxx end');
  // One byte over, sent in pieces and without a half-close: the error comes as soon as the limit is passed.
  assert.equal(await exchange(small.port, ['W' + 'x'.repeat(500), 'x'.repeat(500)], { gapMs: 20, timeoutMs: 5000 }), 'ERR message too large (over 1000 bytes)\n');
});

test('whole framing: async reply as bytes', async () => {
  const s = await exchangeRaw(h.port, 'WA12345', true);
  assert.deepEqual([...s], [0, 255, 7]);
});

test('reply types: null/undefined write nothing, Uint8Array is written as is', async () => {
  assert.equal(await exchange(h.port, 'NULL\nNULL undefined\nNULL after\n', { end: true }), 'NULL after\n');
  assert.deepEqual([...(await exchangeRaw(h.port, 'BYTES\n', true))], [0, 1, 2, 10]);
});

test('ctx: module name, version, peer address and port, logger', async () => {
  const c = await LineClient.open(h.port);
  const ctx = JSON.parse((await c.request('CTX')) ?? 'null') as Record<string, unknown>;
  assert.deepEqual(ctx, { module: 'frame', version: 1, addr: '127.0.0.1', port: c.socket.localPort, log: 'function' });
  c.close();
  await h.waitForLog((l) => l.msg === 'ctx used' && l.module === 'frame' && l.version === 1);
});

test('a throwing handler gets ERR <message> and close; earlier replies still arrive; others keep serving', async () => {
  assert.equal(await exchange(h.port, 'THROW ok\nTHROW now\nTHROW ok\n'), 'fine\nERR boom second line\n');
  assert.equal(await exchange(h.port, 'REJECT\nEnever\n'), 'ERR nope\n');
  assert.equal(await exchange(h.port, 'Estill\n', { end: true }), '[Estill]\n');
  await h.waitForLog((l) => l.module === 'frame' && l.level >= 40 && /handler/.test(l.msg) && JSON.stringify(l).includes('boom'));
  await h.waitForLog((l) => l.module === 'frame' && l.level >= 40 && JSON.stringify(l).includes('nope'));
});

test('after a handler throws, later messages on that connection are not handled', async () => {
  assert.equal(await exchange(h.port, 'CNT a\nCNT throw\nCNT b\nCNT c\n'), 'n=1\nERR counted\n');
  assert.equal(await exchange(h.port, 'CNT d\n', { end: true }), 'n=2\n');
});

test('a handler returning a non-Reply is an error on its own connection only', async () => {
  // Connections opened before the fault, on the same module and route kind, keep working after it.
  const bystander = await LineClient.open(h.port);
  const sameRoute = await LineClient.open(h.port);
  try {
    assert.equal(await bystander.request('Ebefore'), '[Ebefore]');
    sameRoute.send('BADTYPE first');
    assert.equal(await sameRoute.read(), 'ERR handler returned number, expected string, Uint8Array, null or undefined');
    assert.equal(await sameRoute.read(), null, 'the faulty connection is closed');
    const again = await exchange(h.port, 'BADTYPE\n');
    assert.equal(again, 'ERR handler returned number, expected string, Uint8Array, null or undefined\n');
    assert.equal(await bystander.request('Eafter'), '[Eafter]', 'the other connection still serves');
    assert.equal(bystander.closed, false);
    assert.equal(await exchange(h.port, 'Enew\n', { end: true }), '[Enew]\n', 'new connections still serve');
  } finally {
    bystander.close();
    sameRoute.close();
  }
});

test('a throwing handler does not disturb a pending async reply on another connection', async () => {
  const slow = await LineClient.open(h.port);
  try {
    slow.send('D 150');
    assert.equal(await exchange(h.port, 'THROW now\n'), 'ERR boom second line\n');
    assert.equal(await slow.read(), 'done 150');
    assert.equal(await slow.request('D 0'), 'done 0');
  } finally {
    slow.close();
  }
});

test('a throwing stream handler closes only its connection, logged with the module name', async () => {
  assert.equal(await exchange(h.port, 'SCRASH hello\n'), '');
  await h.waitForLog((l) => l.module === 'frame' && l.level >= 50 && JSON.stringify(l).includes('stream boom'));
  assert.equal(await exchange(h.port, 'Ealive\n', { end: true }), '[Ealive]\n');
});

test('many connections at once, each served in order', async () => {
  const n = 40;
  const res = await Promise.all(Array.from({ length: n }, (_, i) => i % 2 ? exchange(h.port, `E${i}a\nE${i}b\n`, { end: true }) : exchange(h.port, `D ${i % 7}\nD 0\n`, { end: true })));
  res.forEach((r, i) => assert.equal(r, i % 2 ? `[E${i}a]\n[E${i}b]\n` : `done ${i % 7}\ndone 0\n`));
});

/** Sends `data`, returns every byte until the server closes; fails (does not hang) if it does not close within `timeoutMs`. */
async function exchangeRaw(port: number, data: string, end: boolean, timeoutMs = 5000): Promise<Buffer> {
  const s = await connect(port);
  const chunks: Buffer[] = [];
  const done = new Promise<Buffer>((resolve, reject) => {
    const t = setTimeout(() => {
      s.destroy();
      reject(new Error(`the server did not close within ${timeoutMs} ms; got ${JSON.stringify(Buffer.concat(chunks).toString('latin1'))}`));
    }, timeoutMs);
    s.on('data', (d: Buffer) => chunks.push(d));
    s.on('error', () => undefined);
    s.on('close', () => {
      clearTimeout(t);
      resolve(Buffer.concat(chunks));
    });
  });
  s.write(data);
  if (end) s.end();
  return done;
}
