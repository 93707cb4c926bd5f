// SPDX-License-Identifier: LGPL-3.0-or-later
// Issue 20, point 3: replies must not pile up past the pending limit within
// one chunk. 50 clients that never read, each sending `PING\n` and 256 KiB
// of empty lines (13 bytes of `ERR no route\n` per byte sent), grew the
// server by about 4 MiB each; framing now stops the moment the pending
// replies (count or bytes) reach the bound and resumes when the client reads.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import type net from 'node:net';
import { admin, connect, sleep, startHrmr, waitUntil } from './helpers/hrmr.ts';
import { LineFramer } from '../src/router/line-framer.ts';

const MODULE = `export default { routes: [
  { prefix: 'PING', message: () => 'PONG\\n' },
  { prefix: 'SLOW', message: (m) => new Promise((r) => setImmediate(() => r('S' + m.length + '\\n'))) },
] };`;

function procKiB(pid: number, field: 'VmRSS' | 'VmHWM'): number {
  const m = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  assert.ok(m, `${field} in /proc/${pid}/status`);
  return Number(m[1]);
}

test('line framer: a sink that stops keeps the rest of the chunk for resume()', () => {
  const f = new LineFramer(1024);
  const got: string[] = [];
  let budget = 2;
  const sink = (l: Buffer): boolean => {
    got.push(l.toString());
    return --budget > 0;
  };
  assert.equal(f.push(Buffer.from('a\nb\r\nc\nd\npart'), sink), false);
  assert.deepEqual(got, ['a', 'b']);
  assert.equal(f.held, 8);
  budget = 1;
  assert.equal(f.resume(sink), false);
  assert.deepEqual(got, ['a', 'b', 'c']);
  budget = 100;
  assert.equal(f.resume(sink), true);
  assert.deepEqual(got, ['a', 'b', 'c', 'd']);
  assert.equal(f.held, 0);
  assert.equal(f.pending, 4);
  assert.equal(f.push(Buffer.from('ial\n'), sink), true);
  assert.deepEqual(got, ['a', 'b', 'c', 'd', 'partial']);
});

/** Opens `n` clients that never read, each sending `PING\n` and `size` bytes of empty lines. */
async function flood(port: number, n: number, size: number): Promise<net.Socket[]> {
  const data = Buffer.concat([Buffer.from('PING\n'), Buffer.alloc(size, 10)]);
  const sockets: net.Socket[] = [];
  for (let i = 0; i < n; i++) {
    const s = await connect(port);
    s.on('error', () => undefined);
    s.pause(); // never reads
    s.write(data);
    sockets.push(s);
  }
  return sockets;
}

test('50 non-reading clients flooding empty lines: server memory stays bounded', async (t) => {
  const h = await startHrmr({ modules: { m: MODULE } });
  t.after(() => h.kill());
  const pid = h.proc.pid!;
  assert.match(await admin(h.port, 'STATUS'), /^OK /);
  // A short warm-up first: the heap's one-time growth under a burst of work is not what is measured.
  const warm = await flood(h.port, 5, 256 * 1024);
  await sleep(2000);
  warm.forEach((s) => s.destroy());
  await sleep(500);

  // Reset the peak-RSS mark, so VmHWM below is the peak of the flood itself.
  writeFileSync(`/proc/${pid}/clear_refs`, '5');
  const base = procKiB(pid, 'VmRSS');
  const sockets = await flood(h.port, 50, 256 * 1024);
  t.after(() => sockets.forEach((s) => s.destroy()));
  // Watch the peak while the server works through the flood (8 s, or until it has not moved for 2 s).
  let peak = procKiB(pid, 'VmHWM');
  const started = Date.now();
  let stableSince = started;
  while (Date.now() - stableSince < 2000 && Date.now() - started < 8000) {
    await sleep(100);
    const p = procKiB(pid, 'VmHWM');
    if (p > peak + 512) stableSince = Date.now();
    peak = Math.max(peak, p);
  }
  const grownMiB = (peak - base) / 1024;
  t.diagnostic(`peak growth ${grownMiB.toFixed(1)} MiB`);
  // Well under 1 MiB per connection (the unfixed server took 4 MiB and more each).
  assert.ok(grownMiB < 32, `the server grew by ${grownMiB.toFixed(1)} MiB for 50 connections`);
  sockets.forEach((s) => s.destroy());
  // Still answering others.
  assert.match(await admin(h.port, 'STATUS', 30_000), /^OK /);
});

/** Sends `data` without reading for a while, then reads everything until the server closes. */
async function lateReader(port: number, data: Buffer, holdMs: number): Promise<string> {
  const s = await connect(port);
  s.on('error', () => undefined);
  s.pause();
  const chunks: Buffer[] = [];
  const closed = new Promise<void>((r) => s.on('close', () => r()));
  s.on('data', (d: Buffer) => chunks.push(d));
  s.end(data);
  await sleep(holdMs);
  s.resume();
  await closed;
  return Buffer.concat(chunks).toString('latin1');
}

test('a paused connection resumes where it stopped: every line answered, in order', async (t) => {
  const h = await startHrmr({ modules: { m: MODULE } });
  t.after(() => h.kill());
  const n = 200_000;
  // Sync replies (PING, and ERR no route for empty lines), ~2.6 MB of them: well past every buffer.
  const got = await lateReader(h.port, Buffer.concat([Buffer.from('PING\n'), Buffer.alloc(n, 10), Buffer.from('PING\nPING')]), 1000);
  const lines = got.split('\n');
  assert.equal(lines.pop(), '');
  assert.equal(lines.length, n + 3);
  assert.equal(lines[0], 'PONG');
  assert.equal(lines.filter((l) => l === 'ERR no route').length, n);
  assert.deepEqual(lines.slice(-2), ['PONG', 'PONG']);

  // Async replies: the pending count pauses framing too (1024 awaited at most).
  const m = 50_000;
  const lines2 = (await lateReader(h.port, Buffer.from('SLOW\n' + 'SLOWxx\n'.repeat(m)), 500)).split('\n');
  assert.equal(lines2.pop(), '');
  assert.equal(lines2.length, m + 1);
  assert.equal(lines2[0], 'S4');
  assert.ok(lines2.slice(1).every((l) => l === 'S6'));
  await waitUntil(async () => /"connections":0/.test(await admin(h.port, 'STATUS')), 'the connections to be gone');
});
