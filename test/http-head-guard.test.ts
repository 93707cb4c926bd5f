// SPDX-License-Identifier: LGPL-3.0-or-later
/**
 * The HTTP host's slow-loris defence (src/http/head-guard.ts) on real
 * sockets: a late head gets 408 on a fresh connection and between requests
 * of a kept-alive one, a slow handler is not the client's fault, and an idle
 * kept-alive connection is closed at SHUTDOWN.
 */
import assert from 'node:assert/strict';
import net from 'node:net';
import { test } from 'node:test';
import { admin, startHrmr, type Hrmr } from './helpers/hrmr.ts';

const MODULE = `
export default {
  name: 'guarded',
  routes: [
    { http: '/fast', request: (req, res) => res.end('fast') },
    // Answers after ?ms= milliseconds: longer than the headers timeout, which must not cut it.
    { http: '/slow', request: (req, res) => { const ms = Number(new URL(req.url, 'http://x').searchParams.get('ms')); setTimeout(() => res.end('slow'), ms); } },
  ],
};
`;

function start(args: string[] = []): Promise<Hrmr> {
  return startHrmr({ modules: { guarded: MODULE }, args: ['--http-headers-timeout', '400', ...args] });
}

/** A raw connection that collects everything until it closes. */
function open(port: number): Promise<{ socket: net.Socket; text: () => string; closed: Promise<void> }> {
  return new Promise((resolve, reject) => {
    let data = '';
    const socket = net.connect(port, '127.0.0.1', () => resolve({ socket, text: () => data, closed }));
    const closed = new Promise<void>((r) => socket.on('close', () => r()));
    socket.on('data', (d: Buffer) => (data += d.toString('latin1')));
    socket.once('error', reject);
    socket.on('error', () => undefined);
    setTimeout(() => socket.destroy(), 15_000).unref();
  });
}

async function waitFor(pred: () => boolean, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!pred()) {
    if (Date.now() > end) throw new Error('timed out waiting');
    await new Promise((r) => setTimeout(r, 20));
  }
}

test('a second request head sent too slowly on a kept-alive connection gets 408 and a close', { timeout: 30_000 }, async () => {
  const h = await start();
  try {
    const c = await open(h.port);
    c.socket.write('GET /fast HTTP/1.1\r\nHost: x\r\n\r\n');
    await waitFor(() => c.text().includes('fast'));
    c.socket.write('GET /fast HTTP/1.1\r\nHost: x\r\n');
    // Keeps trickling (so no idle timeout fires), never finishes the head.
    const iv = setInterval(() => c.socket.write('X-Slow: 1\r\n'), 50);
    await c.closed;
    clearInterval(iv);
    const second = c.text().slice(c.text().indexOf('fast') + 4);
    assert.match(second, /^HTTP\/1\.1 408 /);
  } finally {
    await h.kill();
  }
});

test('a handler slower than the headers timeout still answers on a kept-alive connection, and the next request works', { timeout: 30_000 }, async () => {
  const h = await start();
  try {
    const c = await open(h.port);
    c.socket.write('GET /slow?ms=1500 HTTP/1.1\r\nHost: x\r\n\r\n');
    await waitFor(() => c.text().includes('slow'));
    assert.match(c.text(), /^HTTP\/1\.1 200 /);
    c.socket.write('GET /fast HTTP/1.1\r\nHost: x\r\n\r\n');
    await waitFor(() => c.text().includes('fast'));
    assert.equal(c.text().match(/HTTP\/1\.1 200 /g)?.length, 2);
    assert.equal(c.socket.destroyed, false);
    c.socket.destroy();
  } finally {
    await h.kill();
  }
});

test('an idle kept-alive HTTP connection is closed at SHUTDOWN; one mid-request gets its answer first', { timeout: 30_000 }, async () => {
  const h = await start(['--http-keep-alive-timeout', '60000']);
  try {
    const idle = await open(h.port);
    idle.socket.write('GET /fast HTTP/1.1\r\nHost: x\r\n\r\n');
    await waitFor(() => idle.text().includes('fast'));
    const busy = await open(h.port);
    busy.socket.write('GET /slow?ms=1000 HTTP/1.1\r\nHost: x\r\n\r\n');
    // The slow request is in the handler before SHUTDOWN.
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(await admin(h.port, 'SHUTDOWN'), 'OK shutting down');
    await idle.closed;
    await busy.closed;
    assert.match(busy.text(), /^HTTP\/1\.1 200 [\s\S]*slow$/);
  } finally {
    await h.kill();
  }
});
