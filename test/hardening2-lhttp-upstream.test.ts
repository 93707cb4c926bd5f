// SPDX-License-Identifier: LGPL-3.0-or-later
/**
 * Issue 20 point 10: lhttp's `upstream` is closed by default. A real local
 * HTTP server stands for the private service: with no
 * `lhttp.upstream_allow` it must never receive the request (refused,
 * counted, logged once per connection, the rest of the message still
 * processed); with its prefix listed it receives it, and URLs outside the
 * prefix (other paths, user-info tricks, dot segments) are still refused.
 */
import assert from 'node:assert/strict';
import http from 'node:http';
import type net from 'node:net';
import { after, before, describe, test } from 'node:test';
import { startBundled } from './helpers/bundled.ts';
import { sleep, waitUntil, type Hrmr } from './helpers/hrmr.ts';
import { LhttpClient, lhttpStatus, parseFrame, subscribed } from './helpers/lhttp-client.ts';

let service: http.Server;
let port: number;
const seen: Array<{ method: string; url: string; body: string }> = [];

before(async () => {
  service = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (d: Buffer) => chunks.push(d));
    req.on('end', () => {
      seen.push({ method: req.method!, url: req.url!, body: Buffer.concat(chunks).toString('utf8') });
      if (req.url === '/hooks/redirect') {
        res.writeHead(302, { Location: `http://127.0.0.1:${port}/internal/redirected` });
        res.end();
        return;
      }
      res.end('done');
    });
  });
  await new Promise<void>((r) => service.listen(0, '127.0.0.1', r));
  port = (service.address() as net.AddressInfo).port;
});
after(async () => {
  service?.closeAllConnections();
  await new Promise((r) => service?.close(r));
});

const attack = (url: string, channel: string, body: string): string => `LHTTP/1.0 chat\r\nupstream:POST ${url}\r\npublish:${channel}\r\n\r\n${body}`;

describe('default configuration: upstream refused', () => {
  let h: Hrmr;
  before(async () => {
    h = await startBundled(['lhttp']);
  });
  after(async () => {
    await h?.kill();
  });

  test('the private service never gets the request; the message is still published; counted; logged once per connection', async () => {
    const [sub] = await subscribed(h.port, 'ssrf');
    const c = await LhttpClient.open(h.port);
    const before = (await lhttpStatus(h.port)).upstream;
    for (let i = 0; i < 3; i++) c.send(attack(`http://127.0.0.1:${port}/internal/admin`, 'ssrf', `{"drop":"everything","n":${i}}`));
    for (let i = 0; i < 3; i++) assert.equal(parseFrame(await sub!.next()).body, `{"drop":"everything","n":${i}}`);
    const s = await waitUntil(async () => {
      const u = (await lhttpStatus(h.port)).upstream;
      return u.refused >= before.refused + 3 ? u : null;
    }, 'upstream.refused to count 3');
    assert.equal(s.sent, before.sent);
    const line = await h.waitForLog((l) => /upstream refused/.test(l.msg));
    assert.equal(line.url, `http://127.0.0.1:${port}/internal/admin`);
    // Give a request that was wrongly sent every chance to arrive.
    await sleep(1000);
    assert.deepEqual(seen, []);
    assert.equal(h.logs.filter((l) => /upstream refused/.test(l.msg)).length, 1, 'one line for the connection');
    // A second connection gets its own line.
    const d = await LhttpClient.open(h.port);
    d.send(attack(`http://169.254.169.254/latest/meta-data/`, 'ssrf', 'x'));
    assert.equal(parseFrame(await sub!.next()).body, 'x');
    await waitUntil(() => h.logs.filter((l) => /upstream refused/.test(l.msg)).length === 2, 'a second refusal line');
    assert.equal(c.closeCode, null);
    assert.equal(d.closeCode, null);
    for (const x of [sub!, c, d]) x.close();
  });

  test('defaults in STATUS: nothing allowed, pings every 30 s', async () => {
    const s = await lhttpStatus(h.port);
    assert.equal(s.pingInterval, 30000);
    assert.equal(typeof s.upstream.refused, 'number');
  });
});

describe('lhttp.upstream_allow set', () => {
  let h: Hrmr;
  before(async () => {
    h = await startBundled(['lhttp'], { args: ['--set', `lhttp.upstream_allow=http://127.0.0.1:${port}/hooks/,https://billing.invalid/x`] });
  });
  after(async () => {
    await h?.kill();
  });

  test('a URL under a listed prefix is requested; others are refused', async () => {
    const c = await LhttpClient.open(h.port);
    const [sub] = await subscribed(h.port, 'up');
    const n = seen.length;
    const refusedBefore = (await lhttpStatus(h.port)).upstream.refused as number;
    const bad = [
      `http://127.0.0.1:${port}/internal/admin`,
      `http://127.0.0.1:${port}/hooks/../internal/admin`,
      `http://127.0.0.1:${port}/hooks/%2e%2e/internal/admin`,
      `http://127.0.0.1:${port}@127.0.0.1:${port}/internal/admin`,
      `http://127.0.0.1:${port}.evil/hooks/`,
      `http://localhost:${port}/hooks/a`,
      `http://127.0.0.1:${port}/hooksx`,
    ];
    for (const u of bad) c.send(attack(u, 'up', 'refused'));
    c.send(attack(`http://127.0.0.1:${port}/hooks/order?id=7`, 'up', '{"ok":true}'));
    for (let i = 0; i < bad.length; i++) assert.equal(parseFrame(await sub!.next()).body, 'refused');
    assert.equal(parseFrame(await sub!.next()).body, '{"ok":true}');
    await waitUntil(() => seen.length > n, 'the allowed request to arrive');
    const s = (await lhttpStatus(h.port)).upstream;
    assert.equal(s.refused, refusedBefore + bad.length);
    await waitUntil(async () => (await lhttpStatus(h.port)).upstream.inFlight === 0, 'no upstream in flight');
    await sleep(500);
    assert.deepEqual(seen.slice(n), [{ method: 'POST', url: '/hooks/order?id=7', body: '{"ok":true}' }]);
    c.close();
    sub!.close();
  });

  test('redirects are not followed', async () => {
    const c = await LhttpClient.open(h.port);
    const okBefore = (await lhttpStatus(h.port)).upstream.ok as number;
    c.send(`LHTTP/1.0 chat\r\nupstream:GET http://127.0.0.1:${port}/hooks/redirect\r\n\r\n`);
    await waitUntil(async () => (await lhttpStatus(h.port)).upstream.ok > okBefore, 'the redirect answer');
    await sleep(300);
    assert.equal(
      seen.some((r) => r.url === '/internal/redirected'),
      false,
    );
    c.close();
  });

  test('a bad entry in upstream_allow stops lhttp loading, naming the setting', async () => {
    const bad = await startBundled(['lhttp'], { args: ['--set', 'lhttp.upstream_allow=http://u:p@h/'] });
    try {
      await bad.waitForLog((l) => /lhttp\.upstream_allow/.test(JSON.stringify(l)));
    } finally {
      await bad.kill();
    }
  });
});
