// SPDX-License-Identifier: LGPL-3.0-or-later
/**
 * The chat page (static_html/chat.html) in headless Chromium, served by the
 * http module, speaking lhttp to the lhttp module with the lhttp-chat
 * processor: two pages in the same room see each other's messages (with
 * the server's time stamp), a page in another room does not.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { chromium, type Browser, type Page } from 'playwright-core';
import { startBundled } from './helpers/bundled.ts';
import { ROOT, type Hrmr } from './helpers/hrmr.ts';
import { httpRequest } from './helpers/lhttp-client.ts';

// Runs in the page (evaluated by Chromium); the project's tsconfig has no DOM types.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
declare const document: { querySelectorAll(sel: string): Iterable<{ textContent: string | null; querySelector(sel: string): { textContent: string | null } | null; lastChild: { textContent: string | null } | null }> };

let h: Hrmr;
let browser: Browser;

before(async () => {
  h = await startBundled(['http', 'lhttp', 'lhttp-chat'], { args: ['--set', `http.root=${join(ROOT, 'static_html')}`] });
  browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'], timeout: 30_000 });
});

after(async () => {
  await browser?.close();
  await h?.kill();
});

async function join_(page: Page, nick: string, room: string): Promise<void> {
  await page.goto(`http://127.0.0.1:${h.port}/chat.html`, { timeout: 15_000 });
  await page.fill('#nick', nick);
  await page.fill('#room', room);
  await page.click('#join-button');
  await page.waitForSelector('#status[data-state="online"]', { timeout: 15_000 });
  // Our own join notice comes back once the subscription is in place.
  await page.waitForFunction((n) => [...document.querySelectorAll('#messages .system')].some((e) => e.textContent === `${n} joined`), nick, { timeout: 15_000 });
}

async function say(page: Page, text: string): Promise<void> {
  await page.fill('#text', text);
  await page.click('#send');
}

function lines(page: Page): Promise<string[]> {
  return page.$$eval('#messages li', (els) => els.map((e) => (e.querySelector('.nick')?.textContent ?? '') + (e.querySelector('.system')?.textContent ?? '') + (e.querySelector('.nick') ? e.lastChild?.textContent ?? '' : '')));
}

async function waitLine(page: Page, line: string): Promise<void> {
  await page.waitForFunction(
    (l) => [...document.querySelectorAll('#messages li')].some((e) => (e.querySelector('.nick')?.textContent ?? '') + (e.lastChild?.textContent ?? '') === l),
    line,
    { timeout: 15_000 },
  );
}

test('the page is served by the http module', async () => {
  const r = await httpRequest(h.port, '/chat.html', 'GET', null);
  assert.equal(r.status, 200);
  assert.match(r.body, /<script src="chat.js"><\/script>/);
  assert.equal((await httpRequest(h.port, '/chat.js', 'GET', null)).status, 200);
});

test('two pages in the same room see each other; another room does not', async () => {
  const ctx = await browser.newContext();
  try {
    const [ann, bob, eve] = await Promise.all([ctx.newPage(), ctx.newPage(), ctx.newPage()]);
    await join_(ann!, 'ann', 'r1');
    await join_(bob!, 'bob', 'r1');
    await join_(eve!, 'eve', 'other');
    await waitLine(ann!, 'bob joined');
    await say(ann!, 'hello bob <b>not bold</b>');
    await waitLine(bob!, 'ann:hello bob <b>not bold</b>');
    await say(bob!, 'hi ann 👋');
    await waitLine(ann!, 'bob:hi ann 👋');
    await waitLine(bob!, 'bob:hi ann 👋'); // own messages come back through the room
    // The server stamped the time: every chat line shows one.
    const times = await bob!.$$eval('#messages li .time', (els) => els.map((e) => e.textContent));
    assert.ok(times.every((t) => t !== ''), JSON.stringify(times));
    // No markup injection.
    assert.equal(await bob!.$$eval('#messages b', (els) => els.length), 0);
    // Eve, in another room, saw only her own join.
    await say(eve!, 'anyone?');
    await waitLine(eve!, 'eve:anyone?');
    const eveLines = await lines(eve!);
    assert.deepEqual(eveLines, ['eve joined', 'eve:anyone?']);
    assert.ok(!(await lines(ann!)).includes('eve:anyone?'));
  } finally {
    await ctx.close();
  }
});
