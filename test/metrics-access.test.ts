// SPDX-License-Identifier: LGPL-3.0-or-later
/**
 * Who may read /metrics and the status page (the admin channel's rule),
 * on a server whose only module has no HTTP route (so the metrics path
 * must reach the HTTP host by itself); --metrics-path (flag, env, off);
 * --access-log lines.
 */
import assert from 'node:assert/strict';
import { networkInterfaces } from 'node:os';
import { after, before, describe, test } from 'node:test';
import { startBundled } from './helpers/bundled.ts';
import { exchange, type Hrmr } from './helpers/hrmr.ts';
import { basic, get, scrape } from './helpers/metrics.ts';

const TOKEN = 'metr1cs-t0ken';
const PATHS = ['/metrics', '/_hrmr/status', '/_hrmr/status.json'];

/** A non-loopback address of this machine (a peer that is not loopback when it connects to itself), or null. */
function outsideAddress(): string | null {
  for (const list of Object.values(networkInterfaces())) for (const a of list ?? []) if (a.family === 'IPv4' && !a.internal) return a.address;
  return null;
}

describe('with --admin-token', () => {
  let h: Hrmr;
  before(async () => {
    h = await startBundled(['hash'], { args: ['--admin-token', TOKEN] });
  });
  after(() => h?.kill());

  test('no credentials: 401 with WWW-Authenticate: Basic, loopback included', async () => {
    for (const p of PATHS) {
      const r = await get(h.port, p);
      assert.equal(r.status, 401, p);
      assert.match(String(r.headers['www-authenticate']), /^Basic /, p);
    }
  });

  test('the token as Bearer or as the Basic password: 200', async () => {
    for (const p of PATHS) {
      assert.equal((await get(h.port, p, { Authorization: `Bearer ${TOKEN}` })).status, 200, `${p} Bearer`);
      assert.equal((await get(h.port, p, { Authorization: basic('admin', TOKEN) })).status, 200, `${p} Basic`);
      assert.equal((await get(h.port, p, { Authorization: basic('', TOKEN) })).status, 200, `${p} Basic, no user`);
    }
    const m = await scrape(h.port, '/metrics', { Authorization: `Bearer ${TOKEN}` });
    assert.ok(m.samples.some((s) => s.name === 'hrmr_connections'));
  });

  test('a wrong token: 403, loopback included', async () => {
    for (const p of PATHS) {
      assert.equal((await get(h.port, p, { Authorization: 'Bearer wrong' })).status, 403, `${p} Bearer`);
      assert.equal((await get(h.port, p, { Authorization: basic('admin', 'wrong') })).status, 403, `${p} Basic`);
      assert.equal((await get(h.port, p, { Authorization: `Bearer ${TOKEN}x` })).status, 403, `${p} longer`);
    }
  });

  test('no module HTTP route: other HTTP requests still get ERR no route, messages still work', async () => {
    assert.equal(await exchange(h.port, 'GET / HTTP/1.1\r\n\r\n'), 'ERR no route\n');
    assert.match(await exchange(h.port, 'HASH sha256 abc\n', { end: true }), /^ba7816bf/);
  });
});

describe('without --admin-token', () => {
  let h: Hrmr;
  before(async () => {
    h = await startBundled(['hash'], { args: ['--host', '0.0.0.0'] });
  });
  after(() => h?.kill());

  test('loopback peers: 200', async () => {
    for (const p of PATHS) assert.equal((await get(h.port, p)).status, 200, p);
  });

  test('a peer that is not loopback: 403, with or without credentials', async (t) => {
    const addr = outsideAddress();
    if (addr === null) return t.skip('no non-loopback IPv4 address on this machine');
    const http = await import('node:http');
    const status = (path: string, headers: Record<string, string> = {}): Promise<number> =>
      new Promise((resolve, reject) => {
        const req = http.request({ host: addr, port: h.port, path, headers, agent: false }, (res) => {
          res.resume();
          resolve(res.statusCode!);
        });
        req.on('error', reject);
        req.end();
      });
    for (const p of PATHS) {
      assert.equal(await status(p), 403, p);
      assert.equal(await status(p, { Authorization: 'Bearer anything' }), 403, p);
    }
  });
});

describe('--metrics-path and --access-log', () => {
  test('--metrics-path /prom moves the route; HRMR_METRICS_PATH too; off turns metrics off, the status page stays', { timeout: 60_000 }, async () => {
    const a = await startBundled(['hash', 'http'], { args: ['--metrics-path', '/prom'] });
    try {
      assert.equal((await get(a.port, '/prom')).status, 200);
      // /metrics is now the http module's (a 404 from it, no hrmr metrics).
      const r = await get(a.port, '/metrics');
      assert.doesNotMatch(r.text, /hrmr_connections/);
    } finally {
      await a.kill();
    }
    const b = await startBundled(['hash'], { env: { HRMR_METRICS_PATH: '/m2' } });
    try {
      assert.match((await get(b.port, '/m2')).text, /hrmr_connections/);
    } finally {
      await b.kill();
    }
    const c = await startBundled(['hash'], { args: ['--metrics-path', 'off'] });
    try {
      assert.equal(await exchange(c.port, 'GET /metrics HTTP/1.1\r\n\r\n'), 'ERR no route\n');
      assert.equal((await get(c.port, '/_hrmr/status')).status, 200);
      const j = JSON.parse((await get(c.port, '/_hrmr/status.json')).text) as { modules: Array<{ label: string }>; metrics: boolean };
      assert.deepEqual(j.modules.map((m) => m.label), ['hash v1']);
      assert.equal(j.metrics, false);
    } finally {
      await c.kill();
    }
  });

  test('--access-log: one line per HTTP request and per closed message connection', { timeout: 60_000 }, async () => {
    const h = await startBundled(['hash', 'http'], { args: ['--access-log'] });
    try {
      await get(h.port, '/nothing-here.txt');
      const http = await h.waitForLog((l) => l.msg === 'access' && l.kind === 'http' && l.path === '/nothing-here.txt');
      assert.equal(http.method, 'GET');
      assert.equal(http.route, '/');
      assert.equal(http.module, 'http');
      assert.equal(http.status, 404);
      assert.equal(typeof http.bytes, 'number');
      assert.ok((http.bytes as number) > 0);
      assert.equal(typeof http.ms, 'number');
      assert.equal(http.client, '127.0.0.1');
      await exchange(h.port, 'HASH sha256 a\nHASH sha256 b\n', { end: true });
      const msg = await h.waitForLog((l) => l.msg === 'access' && l.kind === 'message');
      assert.equal(msg.module, 'hash');
      assert.equal(msg.messages, 2);
      assert.ok((msg.bytes as number) >= 30);
      assert.equal(typeof msg.ms, 'number');
    } finally {
      await h.kill();
    }
    // Off by default.
    const quiet = await startBundled(['http']);
    try {
      await get(quiet.port, '/x');
      await new Promise((r) => setTimeout(r, 300));
      assert.ok(!quiet.logs.some((l) => l.msg === 'access'));
    } finally {
      await quiet.kill();
    }
  });
});
