// SPDX-License-Identifier: LGPL-3.0-or-later
/**
 * Issue 20 point 5, the static module's cache, observed from outside:
 * - many spellings of one cached 1 MiB file (`//big.bin`, `/%62ig.bin`, …)
 *   read it from disk once, counted by the server process's `rchar` in
 *   /proc/PID/io (every read(2) it made, page cache or not);
 * - concurrent first requests for one file through different spellings read
 *   it once too;
 * - a file changed on disk is served fresh whichever spelling asks;
 * - an encoded separator (`%2F`, `%5C`) inside a segment is a 400 even when
 *   the decoded path names a real file (`sub%2Fpage.html`, a file literally
 *   named `a\b.txt`), and even after the plain spelling was cached;
 * - a 404 is not remembered past the file's creation.
 * Issue 21 point 5: the chat page asks for no /favicon.ico.
 */
import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { MAX_PATHS, ResourceCache } from '../modules_src/http/cache.ts';
import { FileStore, sameFiles, type Located } from '../modules_src/http/file-store.ts';
import { buildModule } from './helpers/build-module.ts';
import { request } from './helpers/http-client.ts';
import { chromium } from 'playwright-core';
import { admin, ROOT, sleep, startHrmr, tempDir, waitUntil, type Hrmr } from './helpers/hrmr.ts';

const MIB = 1024 * 1024;
let base: string;
let root: string;
let h: Hrmr;

/** Bytes the server process has read through read(2) and friends so far. */
function rchar(pid: number): number {
  const m = /^rchar:\s*(\d+)$/m.exec(readFileSync(`/proc/${pid}/io`, 'utf8'));
  assert.ok(m, 'rchar in /proc/PID/io');
  return Number(m[1]);
}

/** Up to `n` distinct spellings of `/name`: some letters percent-encoded, extra leading slashes. */
function spellings(name: string, n: number): string[] {
  const out: string[] = [];
  for (let mask = 1; out.length < n && mask < 1 << name.length; mask++) {
    let p = '';
    for (let i = 0; i < name.length; i++) p += mask & (1 << i) ? '%' + name.charCodeAt(i).toString(16).padStart(2, '0') : name[i];
    out.push(`${'/'.repeat(1 + (mask % 3))}${p}`);
  }
  return out;
}

function fill(size: number, seed: number): Buffer {
  const b = Buffer.alloc(size);
  for (let i = 0; i < size; i++) b[i] = (i * 7 + seed) % 251;
  return b;
}

before(async () => {
  base = tempDir('hrmr-static2-');
  root = join(base, 'root');
  mkdirSync(join(root, 'sub'), { recursive: true });
  writeFileSync(join(root, 'big.bin'), fill(MIB, 1));
  writeFileSync(join(root, 'cold.bin'), fill(MIB, 2));
  writeFileSync(join(root, 'edit.bin'), fill(64 * 1024, 3));
  writeFileSync(join(root, 'sub', 'page.html'), '<p>sub page</p>');
  writeFileSync(join(root, 'a\\b.txt'), 'a file whose name has a backslash');
  const modules = join(base, 'modules');
  await buildModule(join(ROOT, 'modules_src', 'http.ts'), modules);
  h = await startHrmr({ dir: modules, args: ['--set', 'http.root=' + root, '--set', 'http.access-log=off'] });
});

after(async () => {
  await h?.kill();
  if (base) rmSync(base, { recursive: true, force: true });
});

test('100 spellings of one cached 1 MiB file read it from disk once, not 100 times', async () => {
  const want = readFileSync(join(root, 'big.bin'));
  const first = await request(h.port, '/big.bin');
  assert.equal(first.status, 200);
  assert.ok(first.body.equals(want));
  const before = rchar(h.proc.pid!);
  const paths = spellings('big.bin', 100);
  assert.equal(new Set(paths).size, 100);
  for (const p of paths) {
    const r = await request(h.port, p, { timeoutMs: 15_000 });
    assert.equal(r.status, 200, p);
    assert.equal(r.body.length, MIB, p);
  }
  // The same bytes whatever the spelling (spot check; every length was checked above).
  assert.ok((await request(h.port, paths[99]!)).body.equals(want));
  const read = rchar(h.proc.pid!) - before;
  // Before the fix: every new spelling re-read the file (>= 100 MiB). Requests themselves are a few KiB.
  assert.ok(read < 8 * MIB, `the server read ${(read / MIB).toFixed(1)} MiB for 100 spellings of a cached 1 MiB file`);
  // STATUS: one file in memory, every spelling pointing at it.
  const reply = await admin(h.port, 'STATUS');
  const mods = (JSON.parse(reply.slice(3)) as { modules: Array<{ name: string; status?: { cache: { files: number; paths: number; bytes: number; loads: number } } }> }).modules;
  const cache = mods.find((m) => m.name === 'http')!.status!.cache;
  assert.equal(cache.files, 1);
  assert.equal(cache.loads, 1);
  assert.equal(cache.bytes, MIB);
  assert.equal(cache.paths, 101);
});

test('concurrent first requests through 40 spellings read the file once', async () => {
  const before = rchar(h.proc.pid!);
  const answers = await Promise.all(spellings('cold.bin', 40).map((p) => request(h.port, p, { timeoutMs: 20_000 })));
  for (const r of answers) {
    assert.equal(r.status, 200);
    assert.equal(r.body.length, MIB);
  }
  const read = rchar(h.proc.pid!) - before;
  assert.ok(read < 8 * MIB, `the server read ${(read / MIB).toFixed(1)} MiB for 40 concurrent spellings of a 1 MiB file`);
});

test('a file changed on disk is served fresh through every spelling', async () => {
  const a = await request(h.port, '/edit.bin');
  const b = await request(h.port, '/%65dit.bin');
  assert.equal(a.status, 200);
  assert.ok(a.body.equals(b.body));
  const next = fill(64 * 1024 + 5, 9);
  writeFileSync(join(root, 'edit.bin'), next);
  for (const p of ['/edit.bin', '/%65dit.bin', '//edit.bin']) {
    const r = await waitUntil(async () => {
      const x = await request(h.port, p);
      return x.body.equals(next) ? x : null;
    }, `fresh content through ${p}`);
    assert.equal(r.status, 200);
  }
});

test('an encoded separator inside a segment is 400 even where the decoded path names a real file', async () => {
  // The plain spellings exist (and are cached first): the 400 is the separator rule, not a miss.
  assert.equal((await request(h.port, '/sub/page.html')).status, 200);
  for (const p of ['/sub%2Fpage.html', '/sub%2fpage.html', '/%73ub%2Fpage.html']) {
    const r = await request(h.port, p);
    assert.equal(r.status, 400, p);
    assert.equal(r.headers.connection, 'close', p);
  }
  for (const p of ['/a%5Cb.txt', '/a%5cb.txt']) {
    const r = await request(h.port, p);
    assert.equal(r.status, 400, p);
    assert.equal(r.headers.connection, 'close', p);
  }
});

test('a 404 is not remembered after the file appears', async () => {
  assert.equal((await request(h.port, '/later.txt')).status, 404);
  assert.equal((await request(h.port, '/nodir/later.txt')).status, 404);
  writeFileSync(join(root, 'later.txt'), 'here now');
  mkdirSync(join(root, 'nodir'));
  writeFileSync(join(root, 'nodir', 'later.txt'), 'here too');
  for (const [p, body] of [
    ['/later.txt', 'here now'],
    ['/nodir/later.txt', 'here too'],
  ] as const) {
    const r = await waitUntil(async () => {
      const x = await request(h.port, p);
      return x.status === 200 ? x : null;
    }, `200 for ${p} once it exists`);
    assert.equal(r.body.toString(), body);
  }
});

test('the chat page makes headless Chromium ask for no /favicon.ico (a control page without an icon does)', async () => {
  // A copy of static_html plus a control page with no icon link, served by the http module; the access log shows each path asked for.
  const site = join(base, 'site');
  mkdirSync(site);
  for (const f of readdirSync(join(ROOT, 'static_html'))) copyFileSync(join(ROOT, 'static_html', f), join(site, f));
  writeFileSync(join(site, 'control.html'), '<!doctype html><html><head><meta charset="utf-8"><title>control</title></head><body>control</body></html>');
  const web = await startHrmr({ dir: join(base, 'modules'), args: ['--set', 'http.root=' + site, '--set', 'http.access-log=info'] });
  const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'], timeout: 30_000 });
  try {
    const asked = (path: string, from: number): boolean => web.logs.slice(from).some((l) => l.msg === 'http' && l.path === path);
    // The chat page first (Chromium asks for an origin's /favicon.ico once per browser): no /favicon.ico
    // within WAIT ms of its load event, and no 404 in its console.
    const WAIT = 4000;
    const ctx = await browser.newContext();
    const page = await ctx.newPage();
    const notFound: string[] = [];
    page.on('console', (m) => {
      if (/404/.test(m.text())) notFound.push(m.text());
    });
    await page.goto(`http://127.0.0.1:${web.port}/chat.html`, { timeout: 15_000 });
    await waitUntil(() => asked('/chat.js', 0), 'the chat page loading chat.js', 15_000);
    await sleep(WAIT);
    assert.equal(asked('/favicon.ico', 0), false, 'the chat page asked for /favicon.ico');
    assert.deepEqual(notFound, []);
    await ctx.close();
    // The control: a page naming no icon does make Chromium ask, well within WAIT (so the wait above was long enough).
    const mark = web.logs.length;
    const ctl = await browser.newContext();
    await (await ctl.newPage()).goto(`http://127.0.0.1:${web.port}/control.html`, { timeout: 15_000 });
    const t0 = Date.now();
    await waitUntil(() => asked('/favicon.ico', mark), 'the control page asking for /favicon.ico', 15_000);
    assert.ok(Date.now() - t0 < WAIT, `the control page asked for /favicon.ico only ${Date.now() - t0} ms after its load event`);
    await ctl.close();
  } finally {
    await browser.close();
    await web.kill();
  }
});

test('ResourceCache (in process): spellings share one entry, are bounded, and go with their entry', async () => {
  const dir = join(base, 'unit');
  mkdirSync(dir);
  writeFileSync(join(dir, 'a.txt'), 'aaa');
  const store = new FileStore(dir, 1024);
  const cache = new ResourceCache(store, 1024 * 1024, false);
  const loc = (await store.locate(['a.txt'], false)) as Located;
  assert.equal(loc.kind, 'file');
  const first = (await cache.obtain(loc))!;
  assert.ok(first.e !== null);
  for (let i = 0; i <= MAX_PATHS; i++) cache.alias(`/${'/'.repeat(i % 7)}a.txt?${i}`, first.e);
  const st = cache.status();
  assert.equal(st.files, 1);
  assert.equal(st.loads, 1);
  assert.equal(st.paths, MAX_PATHS);
  // The same files: the cached resource, no second read.
  const again = (await cache.obtain((await store.locate(['a.txt'], false)) as Located))!;
  assert.equal(again.r, first.r);
  assert.equal(cache.status().loads, 1);
  // Changed on disk: the identity differs, so it is read again and the old spellings are gone.
  writeFileSync(join(dir, 'a.txt'), 'bbbb');
  const loc2 = (await store.locate(['a.txt'], false)) as Located;
  assert.equal(sameFiles(first.r, loc2), false);
  const fresh = (await cache.obtain(loc2))!;
  assert.equal(fresh.r.identity.body!.toString(), 'bbbb');
  assert.deepEqual({ files: cache.status().files, paths: cache.status().paths, loads: cache.status().loads }, { files: 1, paths: 0, loads: 2 });
  // A missing file: found missing without a read.
  assert.deepEqual(await store.locate(['nope.txt'], false), { kind: 'missing' });
  cache.close();
});
