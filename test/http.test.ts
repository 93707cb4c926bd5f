// SPDX-License-Identifier: LGPL-3.0-or-later
/**
 * The static HTTP module through the real server over real sockets: types and
 * headers, methods, redirects, conditional requests, ranges, precompressed
 * siblings, keep-alive, pipelining, HTTP/1.0, traversal and malformed
 * requests, a file changed on disk, access logs.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { join } from 'node:path';
import { renameSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import { admin, sleep, type Hrmr } from './helpers/hrmr.ts';
import { parseResponses, request } from './helpers/http-client.ts';
import { BIG_SIZE, HELLO, makeSite, rawExchange, removeSite, SECRET, startSite, type Site } from './helpers/http-fixture.ts';

let site: Site;
let h: Hrmr;

before(async () => {
  site = await makeSite();
  h = await startSite(site);
});
after(async () => {
  await h?.kill();
  if (site) removeSite(site);
});

const get = (path: string, headers: Record<string, string> = {}, method = 'GET') => request(h.port, path, { headers, method });

describe('files and headers', () => {
  test('/ serves index.html with the standard headers', async () => {
    const r = await get('/');
    assert.equal(r.status, 200);
    assert.equal(r.body.toString(), '<!doctype html><h1>home</h1>\n');
    assert.equal(r.headers['content-type'], 'text/html; charset=utf-8');
    assert.equal(r.headers['content-length'], String(r.body.length));
    assert.equal(r.headers['accept-ranges'], 'bytes');
    assert.equal(r.headers['x-content-type-options'], 'nosniff');
    assert.match(r.headers.etag!, /^"[^"]+"$/, 'strong ETag');
    assert.ok(!Number.isNaN(Date.parse(r.headers['last-modified']!)));
    assert.equal(r.headers.vary, undefined);
  });

  const types: Array<[string, string]> = [
    ['/index.html', 'text/html; charset=utf-8'],
    ['/style.css', 'text/css; charset=utf-8'],
    ['/app.js', 'text/javascript; charset=utf-8'],
    ['/data.json', 'application/json; charset=utf-8'],
    ['/pic.svg', 'image/svg+xml; charset=utf-8'],
    ['/img.png', 'image/png'],
    ['/img.jpg', 'image/jpeg'],
    ['/img.webp', 'image/webp'],
    ['/favicon.ico', 'image/x-icon'],
    ['/mod.wasm', 'application/wasm'],
    ['/hello.txt', 'text/plain; charset=utf-8'],
    ['/font.woff2', 'font/woff2'],
    ['/blob.unknownext', 'application/octet-stream'],
  ];
  for (const [path, type] of types) {
    test(`Content-Type of ${path}`, async () => {
      const r = await get(path);
      assert.equal(r.status, 200);
      assert.equal(r.headers['content-type'], type);
    });
  }

  test('percent-encoded names, symlinks inside the root', async () => {
    assert.equal((await get('/with%20space.txt')).body.toString(), 'spaced');
    assert.equal((await get('/link-in.txt')).body.toString(), HELLO);
  });

  test('HEAD: same headers, no body', async () => {
    const g = await get('/hello.txt');
    const r = await get('/hello.txt', {}, 'HEAD');
    assert.equal(r.status, 200);
    assert.equal(r.body.length, 0);
    assert.equal(r.headers['content-length'], String(HELLO.length));
    assert.equal(r.headers.etag, g.headers.etag);
  });

  test('missing files and folders without index.html are 404', async () => {
    assert.equal((await get('/nope.html')).status, 404);
    assert.equal((await get('/nodir/')).status, 404);
    assert.equal((await get('/hello.txt/')).status, 404);
  });
});

describe('methods and redirects', () => {
  for (const method of ['POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS']) {
    test(`${method} gets 405 with Allow`, async () => {
      const r = await get('/hello.txt', {}, method);
      assert.equal(r.status, 405);
      assert.equal(r.headers.allow, 'GET, HEAD');
    });
  }

  test('a POST body does not break the next request on the connection', async () => {
    const { data } = await rawExchange(h.port, 'POST /hello.txt HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nabcdeGET /hello.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
    const rs = parseResponses(data);
    assert.deepEqual(rs.map((r) => r.status), [405, 200]);
    assert.equal(rs[1]!.body.toString(), HELLO);
  });

  test('a folder without a trailing slash redirects (301), keeping the query', async () => {
    const r = await get('/sub');
    assert.equal(r.status, 301);
    assert.equal(r.headers.location, '/sub/');
    assert.equal((await get('/sub?a=1')).headers.location, '/sub/?a=1');
    const s = await get('/sub/');
    assert.equal(s.status, 200);
    assert.equal(s.body.toString(), '<p>sub index</p>');
    assert.equal((await get('/sub/page.html')).body.toString(), '<p>sub page</p>');
  });

  test('a redirect never points to another host', async () => {
    const { data } = await rawExchange(h.port, 'GET //sub HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
    const [r] = parseResponses(data);
    assert.equal(r!.status, 301);
    assert.equal(r!.headers.get('location'), '/sub/');
  });
});

describe('conditional requests', () => {
  test('If-None-Match and If-Modified-Since give 304', async () => {
    const r = await get('/hello.txt');
    const etag = r.headers.etag!;
    const lm = r.headers['last-modified']!;
    const a = await get('/hello.txt', { 'If-None-Match': etag });
    assert.equal(a.status, 304);
    assert.equal(a.body.length, 0);
    assert.equal(a.headers.etag, etag);
    assert.equal((await get('/hello.txt', { 'If-None-Match': `"other", W/${etag}` })).status, 304);
    assert.equal((await get('/hello.txt', { 'If-None-Match': '*' })).status, 304);
    assert.equal((await get('/hello.txt', { 'If-None-Match': '"other"' })).status, 200);
    assert.equal((await get('/hello.txt', { 'If-Modified-Since': lm })).status, 304);
    assert.equal((await get('/hello.txt', { 'If-Modified-Since': new Date(Date.parse(lm) + 60_000).toUTCString() })).status, 304);
    assert.equal((await get('/hello.txt', { 'If-Modified-Since': 'Thu, 01 Jan 1970 00:00:00 GMT' })).status, 200);
    assert.equal((await get('/hello.txt', { 'If-Modified-Since': 'garbage' })).status, 200);
    // If-None-Match wins over If-Modified-Since.
    assert.equal((await get('/hello.txt', { 'If-None-Match': '"other"', 'If-Modified-Since': lm })).status, 200);
    assert.equal((await get('/hello.txt', { 'If-None-Match': etag }, 'HEAD')).status, 304);
  });
});

describe('ranges', () => {
  const cases: Array<[string, number, string]> = [
    ['bytes=0-4', 206, 'hello'],
    ['bytes=6-', 206, 'world\n'],
    ['bytes=-6', 206, 'world\n'],
    ['bytes=6-1000', 206, 'world\n'],
    ['bytes=0-0', 206, 'h'],
  ];
  for (const [range, status, body] of cases) {
    test(`Range ${range}`, async () => {
      const r = await get('/hello.txt', { Range: range });
      assert.equal(r.status, status);
      assert.equal(r.body.toString(), body);
      const start = HELLO.indexOf(body);
      assert.equal(r.headers['content-range'], `bytes ${start}-${start + body.length - 1}/${HELLO.length}`);
      assert.equal(r.headers['content-length'], String(body.length));
    });
  }

  test('unsatisfiable ranges give 416 with Content-Range */size', async () => {
    for (const range of ['bytes=12-', 'bytes=100-200', 'bytes=-0']) {
      const r = await get('/hello.txt', { Range: range });
      assert.equal(r.status, 416, range);
      assert.equal(r.headers['content-range'], `bytes */${HELLO.length}`);
    }
  });

  test('multiple, malformed or stale (If-Range) ranges give the whole file', async () => {
    for (const headers of [{ Range: 'bytes=0-1,4-5' } as Record<string, string>, { Range: 'items=0-1' }, { Range: 'bytes=5-2' }, { Range: 'bytes=0-1', 'If-Range': '"stale"' }]) {
      const r = await get('/hello.txt', headers);
      assert.equal(r.status, 200, JSON.stringify(headers));
      assert.equal(r.body.toString(), HELLO);
    }
    const etag = (await get('/hello.txt')).headers.etag!;
    assert.equal((await get('/hello.txt', { Range: 'bytes=0-1', 'If-Range': etag })).status, 206);
  });

  test('ranges of a streamed (uncached) big file', async () => {
    const full = await get('/big.bin');
    assert.equal(full.status, 200);
    assert.equal(full.body.length, BIG_SIZE);
    for (let i = 0; i < full.body.length; i += 4099) assert.equal(full.body[i], i % 251);
    const start = 2_000_000;
    const r = await get('/big.bin', { Range: `bytes=${start}-${start + 999}` });
    assert.equal(r.status, 206);
    assert.equal(r.body.length, 1000);
    assert.equal(r.headers['content-range'], `bytes ${start}-${start + 999}/${BIG_SIZE}`);
    for (let i = 0; i < 1000; i++) assert.equal(r.body[i], (start + i) % 251);
    const tail = await get('/big.bin', { Range: 'bytes=-10' });
    assert.equal(tail.body.length, 10);
    assert.equal(tail.body[9], (BIG_SIZE - 1) % 251);
  });
});

describe('precompressed siblings', () => {
  test('br preferred, then gzip, else identity; Vary on all', async () => {
    const br = await get('/comp.js', { 'Accept-Encoding': 'gzip, deflate, br' });
    assert.equal(br.headers['content-encoding'], 'br');
    assert.deepEqual(br.body, site.compBr);
    assert.equal(br.headers['content-type'], 'text/javascript; charset=utf-8');
    assert.equal(br.headers['content-length'], String(site.compBr.length));
    assert.equal(br.headers.vary, 'Accept-Encoding');
    const gz = await get('/comp.js', { 'Accept-Encoding': 'gzip' });
    assert.equal(gz.headers['content-encoding'], 'gzip');
    assert.deepEqual(gz.body, site.compGz);
    assert.equal(gz.headers.vary, 'Accept-Encoding');
    const id = await get('/comp.js');
    assert.equal(id.headers['content-encoding'], undefined);
    assert.deepEqual(id.body, site.comp);
    assert.equal(id.headers.vary, 'Accept-Encoding');
    const refused = await get('/comp.js', { 'Accept-Encoding': 'br;q=0, gzip;q=0' });
    assert.equal(refused.headers['content-encoding'], undefined);
    assert.deepEqual(refused.body, site.comp);
    assert.notEqual(br.headers.etag, gz.headers.etag);
    assert.notEqual(gz.headers.etag, id.headers.etag);
    assert.equal((await get('/gzonly.css', { 'Accept-Encoding': 'br, gzip' })).headers['content-encoding'], 'gzip');
    assert.equal((await get('/comp.js', { 'Accept-Encoding': 'gzip', 'If-None-Match': gz.headers.etag! })).status, 304);
    const part = await get('/comp.js', { 'Accept-Encoding': 'gzip', Range: 'bytes=0-9' });
    assert.equal(part.status, 206);
    assert.deepEqual(part.body, site.compGz.subarray(0, 10));
  });
});

describe('connections', () => {
  test('keep-alive: several requests on one connection', async () => {
    const { data } = await rawExchange(h.port, 'GET /hello.txt HTTP/1.1\r\nHost: x\r\n\r\n'.repeat(1) + 'GET /style.css HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
    const rs = parseResponses(data);
    assert.equal(rs.length, 2);
    assert.equal(rs[0]!.headers.get('connection'), 'keep-alive');
  });

  test('pipelining: ten requests in one write, answered in order', async () => {
    const paths = ['/hello.txt', '/style.css', '/', '/nope', '/sub', '/data.json', '/hello.txt', '/big.bin', '/app.js', '/hello.txt'];
    const methods = paths.map((_, i) => (i === 7 ? 'HEAD' : 'GET'));
    let req = '';
    paths.forEach((p, i) => (req += `${methods[i]} ${p} HTTP/1.1\r\nHost: x\r\n${i === paths.length - 1 ? 'Connection: close\r\n' : ''}\r\n`));
    const { data } = await rawExchange(h.port, req);
    const rs = parseResponses(data, methods.map((m) => m === 'HEAD'));
    assert.deepEqual(rs.map((r) => r.status), [200, 200, 200, 404, 301, 200, 200, 200, 200, 200]);
    assert.equal(rs[0]!.body.toString(), HELLO);
    assert.equal(rs[1]!.body.toString(), 'body{color:red}');
    assert.equal(rs[7]!.headers.get('content-length'), String(BIG_SIZE));
    assert.equal(rs[9]!.body.toString(), HELLO);
  });

  test('pipelining with a streamed body in the middle', async () => {
    const req = 'GET /big.bin HTTP/1.1\r\nHost: x\r\n\r\nGET /hello.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n';
    const rs = parseResponses((await rawExchange(h.port, req)).data);
    assert.equal(rs[0]!.body.length, BIG_SIZE);
    assert.equal(rs[1]!.body.toString(), HELLO);
  });

  test('HTTP/1.0: answered, then closed', async () => {
    const { data } = await rawExchange(h.port, 'GET /hello.txt HTTP/1.0\r\n\r\n');
    const [r] = parseResponses(data);
    assert.equal(r!.status, 200);
    assert.equal(r!.body.toString(), HELLO);
    const ka = parseResponses((await rawExchange(h.port, 'GET /hello.txt HTTP/1.0\r\nConnection: keep-alive\r\n\r\nGET /style.css HTTP/1.0\r\n\r\n')).data);
    assert.deepEqual(ka.map((x) => x.status), [200, 200]);
  });
});

describe('safety', () => {
  // [request target, why]; every one must get 400 or 404 and never the secret.
  const attempts: Array<[string, string]> = [
    ['/../secret.txt', 'dot-dot'],
    ['/../../../../../../etc/passwd', 'deep dot-dot'],
    ['/sub/../../secret.txt', 'dot-dot after a folder'],
    ['/./hello.txt/../../secret.txt', 'dot and dot-dot'],
    ['/%2e%2e/secret.txt', 'encoded dot-dot'],
    ['/%2E%2E/secret.txt', 'encoded dot-dot, upper case'],
    ['/.%2e/secret.txt', 'half-encoded dot-dot'],
    ['/%2e%2e%2fsecret.txt', 'encoded dot-dot and slash'],
    ['/..%2fsecret.txt', 'encoded slash'],
    ['/sub%2f..%2f..%2fsecret.txt', 'encoded slashes'],
    ['/%252e%252e/secret.txt', 'double encoding'],
    ['/%252e%252e%252fsecret.txt', 'double-encoded slash'],
    ['/..\\secret.txt', 'backslash'],
    ['/sub\\..\\..\\secret.txt', 'backslashes'],
    ['/%5c..%5csecret.txt', 'encoded backslash'],
    ['/..%5csecret.txt', 'encoded backslash after dot-dot'],
    ['/hello.txt%00.html', 'NUL byte'],
    ['/%00', 'NUL only'],
    ['/%c0%ae%c0%ae/secret.txt', 'overlong UTF-8 dot'],
    ['/..%c0%afsecret.txt', 'overlong UTF-8 slash'],
    ['/%e0%80%ae%e0%80%ae/secret.txt', 'overlong 3-byte dot'],
    ['/%zz', 'bad percent-encoding'],
    ['//etc/passwd', 'absolute path'],
    ['/etc/passwd', 'absolute path inside the root'],
    ['http://x/../secret.txt', 'absolute-form target with dot-dot'],
    ['/link-out', 'symlink to a file outside'],
    ['/linkdir-out/secret.txt', 'symlink to a folder outside'],
    ['/link-dot.txt', 'symlink to a dotfile'],
    ['/.env', 'dotfile'],
    ['/.git/config', 'dot folder'],
    ['/%2eenv', 'encoded dotfile'],
    ['/sub/.hidden', 'dotfile in a folder'],
    ['/.git/', 'dot folder listing'],
    ['/.', 'dot'],
    ['/..', 'dot-dot alone'],
    ['/...', 'triple dot'],
  ];
  for (const [target, why] of attempts) {
    test(`traversal: ${why} (${target})`, async () => {
      const { data } = await rawExchange(h.port, `GET ${target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`);
      const text = data.toString('latin1');
      assert.ok(!text.includes(SECRET), 'secret leaked');
      assert.ok(!text.includes('root:'), '/etc/passwd leaked');
      const [r] = parseResponses(data);
      assert.ok(r!.status === 400 || r!.status === 404, `status ${r!.status}`);
    });
  }

  // Request lines that start with a method (so they reach the module) but are malformed.
  const malformed: Array<[string, string | Buffer, number]> = [
    ['bad version', 'GET / HTTP/9.x\r\nHost: x\r\n\r\n', 400],
    ['no version (HTTP/0.9)', 'GET /\r\nHost: x\r\n\r\n', 400],
    ['HTTP/2.0 over HTTP/1 framing', 'GET / HTTP/2.0\r\nHost: x\r\n\r\n', 400],
    ['space in target', 'GET /a b HTTP/1.1\r\nHost: x\r\n\r\n', 400],
    ['bare CR in a header', 'GET / HTTP/1.1\r\nHost: x\rX: y\r\n\r\n', 400],
    ['obsolete line folding', 'GET / HTTP/1.1\r\nHost: x\r\nX: a\r\n b\r\n\r\n', 400],
    ['header name with a space', 'GET / HTTP/1.1\r\nHost: x\r\nX Y: z\r\n\r\n', 400],
    ['header without colon', 'GET / HTTP/1.1\r\nHost: x\r\nBad Header\r\n\r\n', 400],
    ['space before colon', 'GET / HTTP/1.1\r\nHost : x\r\n\r\n', 400],
    ['control byte in target', 'GET /\x01 HTTP/1.1\r\nHost: x\r\n\r\n', 400],
    ['bad Content-Length', 'GET / HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n', 400],
    ['smuggling: CL and TE', 'POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n', 400],
    ['no Host in HTTP/1.1', 'GET / HTTP/1.1\r\n\r\n', 400],
    ['oversized header', 'GET / HTTP/1.1\r\nHost: x\r\nX-Big: ' + 'a'.repeat(20_000) + '\r\n\r\n', 431],
    ['too many headers', 'GET / HTTP/1.1\r\nHost: x\r\n' + 'X-Aaaa: bbbbbbbbbbbb\r\n'.repeat(3000) + '\r\n', 431],
    ['NUL in header', Buffer.from('GET / HTTP/1.1\r\nHost: x\r\nX: a\0b\r\n\r\n', 'latin1'), 400],
  ];
  for (const [why, bytes, status] of malformed) {
    test(`malformed: ${why} gives ${status} and a close`, async () => {
      const { data, closed } = await rawExchange(h.port, bytes);
      const [r] = parseResponses(data);
      assert.equal(r!.status, status);
      assert.ok(closed);
    });
  }

  test('the server survived all of it', async () => {
    assert.equal((await get('/hello.txt')).status, 200);
    assert.equal(h.proc.exitCode, null);
  });
});

describe('changes on disk', () => {
  test('an edited file is served fresh on the next request', async () => {
    const file = join(site.root, 'edit.txt');
    writeFileSync(file, 'version 1');
    assert.equal((await get('/edit.txt')).body.toString(), 'version 1');
    const etag1 = (await get('/edit.txt')).headers.etag;
    writeFileSync(file, 'version 2, longer');
    const r = await get('/edit.txt');
    assert.equal(r.body.toString(), 'version 2, longer');
    assert.notEqual(r.headers.etag, etag1);
    // Same size, in place.
    writeFileSync(file, 'version 3, LONGER');
    assert.equal((await get('/edit.txt')).body.toString(), 'version 3, LONGER');
    // Replaced by rename (what editors do).
    writeFileSync(file + '.tmp', 'version 4');
    renameSync(file + '.tmp', file);
    assert.equal((await get('/edit.txt')).body.toString(), 'version 4');
    rmSync(file);
    assert.equal((await get('/edit.txt')).status, 404);
    writeFileSync(file, 'back');
    assert.equal((await get('/edit.txt')).body.toString(), 'back');
  });

  test('a precompressed sibling added later is used', async () => {
    const file = join(site.root, 'late.css');
    writeFileSync(file, 'x{y:z}');
    assert.equal((await get('/late.css', { 'Accept-Encoding': 'gzip' })).headers['content-encoding'], undefined);
    const gz = gzipSync('x{y:z}');
    writeFileSync(file + '.gz', gz);
    const r = await get('/late.css', { 'Accept-Encoding': 'gzip' });
    assert.equal(r.headers['content-encoding'], 'gzip');
    assert.deepEqual(r.body, gz);
  });
});

describe('access log', () => {
  test('one line per request with method, path, status, bytes and duration', async () => {
    await get('/hello.txt?log=1');
    const line = await h.waitForLog((l) => l.msg === 'http' && l.path === '/hello.txt?log=1');
    assert.equal(line.method, 'GET');
    assert.equal(line.status, 200);
    assert.equal(line.bytes, HELLO.length);
    assert.equal(typeof line.ms, 'number');
    assert.equal(line.level, 20, 'debug level by default');
  });
});

describe('memory', () => {
  test('ten slow clients on a big file hold little memory', async () => {
    const HUGE = 96 * 1024 * 1024;
    const huge = join(site.root, 'huge.bin');
    writeFileSync(huge, '');
    truncateSync(huge, HUGE);
    const status = async (): Promise<{ memory: { rssBytes: number } }> => JSON.parse((await admin(h.port, 'STATUS')).replace(/^OK /, '')) as { memory: { rssBytes: number } };
    const before = (await status()).memory.rssBytes;
    const net = await import('node:net');
    const sockets = await Promise.all(
      Array.from({ length: 10 }, () => new Promise<import('node:net').Socket>((resolve) => {
        const s = net.connect({ port: h.port, host: '127.0.0.1' }, () => {
          s.write('GET /huge.bin HTTP/1.1\r\nHost: x\r\n\r\n');
          resolve(s);
        });
        s.on('error', () => undefined);
        // Read one chunk, then stop reading: the server must stop reading the file too.
        s.once('data', () => s.pause());
      })),
    );
    await sleep(500);
    const during = (await status()).memory.rssBytes;
    for (const s of sockets) s.destroy();
    rmSync(huge);
    // Ten full copies would be 960 MiB more; streaming holds what the kernel socket buffers took (a few MiB each, until GC).
    assert.ok(during - before < 160 * 1024 * 1024, `rss grew by ${during - before} bytes`);
  });
});
