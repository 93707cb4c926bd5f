// SPDX-License-Identifier: LGPL-3.0-or-later
/**
 * Issue 20 point 9 (lhttp): a body over lhttp.max_frame on `/publish` gets
 * 413 and the connection is closed, as everywhere else (it used to stay open
 * and node read and discarded the rest). Raw sockets, keep-alive requests;
 * the keep-alive timeout is long, so a close within the test's deadline is the 413's.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { startBundled } from './helpers/bundled.ts';
import { connect, exchange, type Hrmr } from './helpers/hrmr.ts';

let h: Hrmr;
before(async () => {
  h = await startBundled(['lhttp'], { args: ['--set', 'lhttp.max_frame=1000', '--http-keep-alive-timeout', '60000'] });
});
after(async () => {
  await h?.kill();
});

const message = (n: number): string => {
  const head = 'LHTTP/1.0 c\r\npublish:p413\r\n\r\n';
  return head + 'x'.repeat(n - head.length);
};

test('Content-Length over max_frame: 413, then the keep-alive connection is closed', async () => {
  const body = message(5000);
  const got = await exchange(h.port, `POST /publish HTTP/1.1\r\nHost: t\r\nConnection: keep-alive\r\nContent-Length: ${body.length}\r\n\r\n${body}`, { timeoutMs: 10_000 });
  assert.match(got, /^HTTP\/1\.1 413 /);
  assert.match(got, /\r\nconnection: close\r\n/i);
});

test('a chunked body that grows past max_frame: 413, then closed', async () => {
  const body = message(5000);
  const chunks = [body.slice(0, 600), body.slice(600, 1400), body.slice(1400)].map((c) => `${c.length.toString(16)}\r\n${c}\r\n`).join('');
  const got = await exchange(h.port, `POST /publish HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n${chunks}0\r\n\r\n`, { timeoutMs: 10_000 });
  assert.match(got, /^HTTP\/1\.1 413 /);
  assert.match(got, /\r\nconnection: close\r\n/i);
});

test('a 413 after a good request on the same connection: the first is answered 200, the second 413 and closed', async () => {
  const ok = message(500);
  const big = message(3000);
  const got = await exchange(h.port, [`POST /publish HTTP/1.1\r\nHost: t\r\nContent-Length: ${ok.length}\r\n\r\n${ok}`, `POST /publish HTTP/1.1\r\nHost: t\r\nContent-Length: ${big.length}\r\n\r\n${big}`], { timeoutMs: 10_000, gapMs: 100 });
  assert.match(got, /^HTTP\/1\.1 200 /);
  assert.match(got, /HTTP\/1\.1 413 /);
});

test('at max_frame exactly: 200 and the connection stays open', async () => {
  const s = await connect(h.port);
  const body = message(1000);
  let got = '';
  s.setEncoding('utf8');
  s.on('data', (d: string) => (got += d));
  let closed = false;
  s.on('close', () => (closed = true));
  s.write(`POST /publish HTTP/1.1\r\nHost: t\r\nContent-Length: ${body.length}\r\n\r\n${body}`);
  const deadline = Date.now() + 10_000;
  while (!/\r\n\r\n/.test(got) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  assert.match(got, /^HTTP\/1\.1 200 /);
  await new Promise((r) => setTimeout(r, 300));
  assert.equal(closed, false);
  s.destroy();
});
