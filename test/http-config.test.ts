// SPDX-License-Identifier: LGPL-3.0-or-later
/**
 * The http module with other settings: stat-checked cache, access log off,
 * root from the environment, and a RELOAD of the module while serving.
 */
import assert from 'node:assert/strict';
import { appendFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { admin, exchange, startHrmr } from './helpers/hrmr.ts';
import { request } from './helpers/http-client.ts';
import { HELLO, makeSite, removeSite, type Site } from './helpers/http-fixture.ts';

let site: Site;
before(async () => {
  site = await makeSite();
});
after(() => {
  if (site) removeSite(site);
});

test('the default root is ./static_html in the working directory: the shipped page', async () => {
  const h = await startHrmr({ dir: site.modules });
  try {
    const r = await request(h.port, '/');
    assert.equal(r.status, 200);
    assert.match(r.body.toString(), /hrmr/);
    assert.match(r.body.toString(), /docs\/modules\.md/);
    assert.equal((await request(h.port, '/style.css')).headers['content-type'], 'text/css; charset=utf-8');
  } finally {
    await h.kill();
  }
});

test('cache-check=stat sees edits; access-log=off writes no lines; root from HRMR_CFG_HTTP_ROOT', async () => {
  const h = await startHrmr({ dir: site.modules, args: ['--set', 'http.cache-check=stat', '--set', 'http.access-log=off'], env: { HRMR_CFG_HTTP_ROOT: site.root } });
  try {
    const file = join(site.root, 'edit.txt');
    writeFileSync(file, 'one');
    assert.equal((await request(h.port, '/edit.txt')).body.toString(), 'one');
    writeFileSync(file, 'two!');
    assert.equal((await request(h.port, '/edit.txt')).body.toString(), 'two!');
    writeFileSync(file, 'tri!');
    assert.equal((await request(h.port, '/edit.txt')).body.toString(), 'tri!');
    assert.equal((await request(h.port, '/hello.txt')).body.toString(), HELLO);
    assert.equal(h.logs.filter((l) => l.msg === 'http').length, 0);
  } finally {
    await h.kill();
  }
});

test('a client that sends its head too slowly gets 408 and a close (--http-headers-timeout)', async () => {
  const h = await startHrmr({ dir: site.modules, args: ['--set', 'http.root=' + site.root, '--http-headers-timeout', '400'] });
  try {
    const net = await import('node:net');
    const got = await new Promise<string>((resolve) => {
      let data = '';
      const s = net.connect({ port: h.port, host: '127.0.0.1' }, () => s.write('GET / HTTP/1.1\r\nHost: x\r\n'));
      // Keeps sending (so no idle timeout fires), never finishes the head.
      const iv = setInterval(() => s.write('X-Slow: 1\r\n'), 50);
      s.on('data', (d: Buffer) => (data += d.toString()));
      s.on('error', () => undefined);
      s.on('close', () => {
        clearInterval(iv);
        resolve(data);
      });
      setTimeout(() => s.destroy(), 8000);
    });
    assert.match(got, /^HTTP\/1\.1 408 /);
  } finally {
    await h.kill();
  }
});

test('an unknown setting fails the module load with a clear error', async () => {
  const h = await startHrmr({ dir: site.modules, args: ['--set', 'http.nope=1', '--set', 'http.root=' + site.root] });
  try {
    const r = await admin(h.port, 'STATUS');
    assert.match(r, /^OK /);
    const all = JSON.stringify(h.logs);
    assert.match(all, /unknown setting/);
    // Not serving: no module owns HTTP, so a request gets the router's ERR no route, not a file.
    const got = await exchange(h.port, 'GET /hello.txt HTTP/1.1\r\nHost: x\r\n\r\n', { timeoutMs: 5000 });
    assert.equal(got, 'ERR no route\n');
    assert.deepEqual((JSON.parse(r.slice(3)) as { modules: unknown[] }).modules, []);
  } finally {
    await h.kill();
  }
});

test('a slow-client setting that moved to the core names its new flag', async () => {
  const h = await startHrmr({ dir: site.modules, args: ['--set', 'http.keep-alive-timeout=100', '--set', 'http.root=' + site.root] });
  try {
    await h.waitForLog((l) => JSON.stringify(l).includes('moved to the server flag --http-keep-alive-timeout'));
  } finally {
    await h.kill();
  }
});

test('RELOAD swaps the module while serving; the old version is disposed', async () => {
  const h = await startHrmr({ dir: site.modules, args: ['--set', 'http.root=' + site.root] });
  try {
    assert.equal((await request(h.port, '/hello.txt')).status, 200);
    appendFileSync(join(site.modules, 'http.mjs'), '\n// changed\n');
    const r = await admin(h.port, 'RELOAD');
    assert.match(r, /^OK/);
    const res = await request(h.port, '/hello.txt');
    assert.equal(res.status, 200);
    assert.equal(res.body.toString(), HELLO);
    await h.waitForLog((l) => l.msg === 'version disposed' && l.version === 1);
    assert.deepEqual(h.logs.filter((l) => l.level >= 50), []);
    assert.equal((await request(h.port, '/hello.txt')).status, 200);
  } finally {
    await h.kill();
  }
});
