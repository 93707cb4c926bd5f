// SPDX-License-Identifier: LGPL-3.0-or-later
/**
 * The status page (/_hrmr/status) in headless Chromium, opened with the
 * admin token as the HTTP Basic password: the modules and their live
 * versions (`NAME vN`) are on the page, and after a RELOAD of a changed
 * module the version shown changes within a few seconds, without reloading
 * the page. HRMR_UPDATE_SCREENSHOT=1 writes docs/status-page.png.
 */
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { chromium, type Browser } from 'playwright-core';
import { startBundled } from './helpers/bundled.ts';
import { exchange, LineClient, ROOT, tempDir, type Hrmr } from './helpers/hrmr.ts';
import { get } from './helpers/metrics.ts';

// Runs in the page (evaluated by Chromium); the project's tsconfig has no DOM types.
declare const document: { querySelectorAll(sel: string): Iterable<{ textContent: string | null }> };

const TOKEN = 'status-page-token';
const VER = (n: number): string => `export default { name: 'ver', routes: [{ prefix: 'VER', message: () => 'v${n}\\n' }] };\n`;

let h: Hrmr;
let browser: Browser;

before(async () => {
  h = await startBundled(['hash', 'http'], { modules: { ver: VER(1) }, args: ['--admin-token', TOKEN, '--set', `http.root=${join(ROOT, 'static_html')}`] });
  browser = await chromium.launch({
    executablePath: '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    timeout: 30_000,
  });
});

after(async () => {
  await browser?.close();
  await h?.kill();
});

test('the page needs the token like /metrics: 401 with a Basic challenge without it', async () => {
  const r = await get(h.port, '/_hrmr/status');
  assert.equal(r.status, 401);
  assert.match(String(r.headers['www-authenticate']), /^Basic /);
});

test('modules with their versions are shown, and a RELOAD shows the new version within a few seconds', { timeout: 120_000 }, async () => {
  const ctx = await browser.newContext({ httpCredentials: { username: 'admin', password: TOKEN }, viewport: { width: 1100, height: 900 } });
  try {
    const page = await ctx.newPage();
    // Some traffic, so the page has numbers to show.
    for (let i = 0; i < 5; i++) await get(h.port, '/index.html', { Authorization: `Bearer ${TOKEN}` });
    await exchange(h.port, 'HASH sha256 a\nHASH sha256 b\nVER\n', { end: true });
    await page.goto(`http://127.0.0.1:${h.port}/_hrmr/status`, { timeout: 15_000 });
    const modules = (): Promise<string[]> => page.$$eval('td.module', (els) => els.map((e) => (e.firstChild?.textContent ?? e.textContent ?? '').trim()));
    await page.waitForFunction(() => [...document.querySelectorAll('td.module')].length >= 3, undefined, { timeout: 15_000 });
    assert.deepEqual(await modules(), ['hash v1', 'http v1', 'ver v1']);
    const html = await page.content();
    assert.doesNotMatch(html, /<(script|link|img)[^>]+(src|href)=/i, 'no external assets');

    h.writeModule('ver', VER(2));
    const c = await LineClient.open(h.port);
    try {
      assert.match((await c.request(`AUTH ${TOKEN}`)) ?? '', /^OK/);
      assert.match((await c.request('RELOAD', 30_000)) ?? '', /^OK/);
    } finally {
      c.close();
    }
    const t0 = Date.now();
    await page.waitForFunction(() => [...document.querySelectorAll('td.module')].some((e) => (e.textContent ?? '').startsWith('ver v2')), undefined, { timeout: 10_000 });
    assert.ok(Date.now() - t0 < 10_000);
    assert.deepEqual(await modules(), ['hash v1', 'http v1', 'ver v2']);
    // The reload is listed under recent reloads.
    await page.waitForFunction(() => [...document.querySelectorAll('#reloads td')].some((e) => e.textContent === 'v2'), undefined, { timeout: 10_000 });

    await exchange(h.port, 'VER\nVER\n', { end: true });
    await new Promise((r) => setTimeout(r, 1500));
    const keep = process.env.HRMR_UPDATE_SCREENSHOT === '1';
    const dir = keep ? join(ROOT, 'docs') : tempDir('hrmr-shot-');
    const png = await page.screenshot({ path: join(dir, 'status-page.png'), fullPage: true });
    assert.ok(png.length > 10_000, 'a screenshot of the page');
    if (!keep) rmSync(dir, { recursive: true, force: true });
  } finally {
    await ctx.close();
  }
});
