// SPDX-License-Identifier: LGPL-3.0-or-later
/**
 * HTTP routes in the core (issue 17): per-request routing by path prefix
 * over every module, keep-alive and pipelining across modules, 404/405/413,
 * the per-module 503 window, graceful mode, WebSocket upgrades that keep
 * their version, kept state across a reload, routes from config, pool HTTP.
 * Real server, real sockets.
 */
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import net from 'node:net';
import { after, test } from 'node:test';
import WebSocket from 'ws';
import { repoTempDir } from './helpers/bundled.ts';
import { admin, exchange, startHrmr, waitUntil, type Hrmr } from './helpers/hrmr.ts';
import { parseResponses, type RawResponse } from './helpers/http-client.ts';

const dirs: string[] = [];
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

/** hrmr with modules in a folder inside the repo (so `ws` resolves). */
async function start(modules: Record<string, string>, args: string[] = []): Promise<Hrmr> {
  const dir = repoTempDir('http-routes-');
  dirs.push(dir);
  return startHrmr({ dir, modules, args });
}

/** A keep-alive client on one raw connection: send request bytes, read whole responses (Content-Length bodies). */
class KeepAlive {
  private buf = Buffer.alloc(0);
  private waiter: (() => void) | null = null;
  closed = false;
  private constructor(readonly socket: net.Socket) {
    socket.on('data', (d: Buffer) => {
      this.buf = Buffer.concat([this.buf, d]);
      this.waiter?.();
    });
    socket.on('error', () => undefined);
    socket.on('close', () => {
      this.closed = true;
      this.waiter?.();
    });
  }
  static open(port: number): Promise<KeepAlive> {
    return new Promise((resolve, reject) => {
      const s = net.connect(port, '127.0.0.1', () => resolve(new KeepAlive(s)));
      s.once('error', reject);
    });
  }
  send(raw: string): void {
    this.socket.write(raw);
  }
  /** Waits until `n` whole responses are buffered, returns them (and consumes them). */
  async read(n = 1, timeoutMs = 8000, noBody: boolean[] = []): Promise<RawResponse[]> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      try {
        const all = parseResponses(this.buf, noBody);
        if (all.length >= n) {
          this.buf = Buffer.alloc(0);
          return all;
        }
      } catch {
        /* incomplete */
      }
      if (this.closed) throw new Error(`connection closed after ${JSON.stringify(this.buf.toString('latin1'))}`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no ${n} responses within ${timeoutMs} ms; got ${JSON.stringify(this.buf.toString('latin1').slice(0, 300))}`);
      await new Promise<void>((r) => {
        const t = setTimeout(r, left);
        this.waiter = () => {
          clearTimeout(t);
          this.waiter = null;
          r();
        };
      });
    }
  }
  async get(path: string, extra = ''): Promise<RawResponse> {
    this.send(`GET ${path} HTTP/1.1\r\nHost: x\r\n${extra}\r\n`);
    return (await this.read(1))[0]!;
  }
  close(): void {
    this.socket.destroy();
  }
}

const A = `export default { routes: [
  { http: '/a/', request(req, res) { res.end('A ' + req.url + '\\n'); } },
  { http: '/a/deep/', request(req, res) { res.end('A-DEEP ' + req.url + '\\n'); } },
  { http: '/health', methods: ['GET'], request(req, res) { res.end('healthy\\n'); } },
] };`;
const B = `export default { routes: [
  { http: '/b', methods: ['POST', 'PUT'], request(req, res) { let n = 0; req.on('data', (d) => (n += d.length)); req.on('end', () => res.end('B ' + req.method + ' ' + n + '\\n')); } },
  { http: '/', request(req, res) { res.end('ROOT ' + req.url + '\\n'); } },
  { prefix: 'PING', message: () => 'PONG\\n' },
] };`;

test('one keep-alive connection alternates between two modules; pipelined requests come back in order', async (t) => {
  const h = await start({ a: A, b: B });
  t.after(() => h.kill());
  const c = await KeepAlive.open(h.port);
  t.after(() => c.close());
  assert.equal((await c.get('/a/x')).body.toString(), 'A /a/x\n');
  c.send('POST /b HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc');
  assert.equal((await c.read())[0]!.body.toString(), 'B POST 3\n');
  assert.equal((await c.get('/a/y?q=1')).body.toString(), 'A /a/y?q=1\n');
  assert.equal((await c.get('/other')).body.toString(), 'ROOT /other\n');
  // Pipelined: three requests to two modules in one write.
  c.send('GET /a/1 HTTP/1.1\r\nHost: x\r\n\r\nPUT /b HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nxyGET /a/2 HTTP/1.1\r\nHost: x\r\n\r\n');
  const three = await c.read(3);
  assert.deepEqual(three.map((r) => r.body.toString()), ['A /a/1\n', 'B PUT 2\n', 'A /a/2\n']);
  assert.equal(c.closed, false);
  // Byte-prefix routes still route as before on their own connections.
  assert.equal(await exchange(h.port, 'PING\n', { end: true }), 'PONG\n');
});

test('path prefixes: longest wins, / boundaries, trailing slash, /health never /healthz, query ignored', async (t) => {
  const h = await start({ a: A, b: B });
  t.after(() => h.kill());
  const c = await KeepAlive.open(h.port);
  t.after(() => c.close());
  const body = async (p: string): Promise<string> => (await c.get(p)).body.toString();
  assert.equal(await body('/a/deep/x'), 'A-DEEP /a/deep/x\n');
  assert.equal(await body('/a/deeper'), 'A /a/deeper\n');
  assert.equal(await body('/a/deep'), 'A-DEEP /a/deep\n');
  assert.equal(await body('/a'), 'A /a\n');
  assert.equal(await body('/ab'), 'ROOT /ab\n');
  assert.equal(await body('/health'), 'healthy\n');
  assert.equal(await body('/health/'), 'healthy\n');
  assert.equal(await body('/health?x=1'), 'healthy\n');
  assert.equal(await body('/healthz'), 'ROOT /healthz\n');
});

test('404 without a route, 405 with Allow (HEAD with GET), 413 on a pool route; the connection stays open', async (t) => {
  const h = await start({
    a: A,
    p: `export default { routes: [{ http: '/up', pool: true, maxBody: 10, request: (req) => ({ body: 'got ' + req.body.length }) }] };`,
  });
  t.after(() => h.kill());
  const c = await KeepAlive.open(h.port);
  t.after(() => c.close());
  const nf = await c.get('/nowhere');
  assert.equal(nf.status, 404);
  assert.equal(nf.headers.get('content-type'), 'text/plain; charset=utf-8');
  assert.equal(nf.body.toString(), '404 Not Found\n');
  assert.equal(nf.headers.get('content-length'), String(nf.body.length));
  c.send('DELETE /health HTTP/1.1\r\nHost: x\r\n\r\n');
  const na = (await c.read())[0]!;
  assert.equal(na.status, 405);
  assert.equal(na.headers.get('allow'), 'GET, HEAD');
  c.send('HEAD /health HTTP/1.1\r\nHost: x\r\n\r\n');
  assert.equal((await c.read(1, 8000, [true]))[0]!.status, 200);
  c.send('POST /up HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello');
  const ok = (await c.read())[0]!;
  assert.equal(ok.body.toString(), 'got 5');
  assert.equal(ok.headers.get('content-length'), '5');
  assert.equal(c.closed, false);
  c.send('POST /up HTTP/1.1\r\nHost: x\r\nContent-Length: 11\r\n\r\nhello world');
  assert.equal((await c.read())[0]!.status, 413);
  // A chunked body over the limit is cut off too.
  const d = await KeepAlive.open(h.port);
  t.after(() => d.close());
  d.send('POST /up HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n8\r\n12345678\r\n8\r\n12345678\r\n0\r\n\r\n');
  assert.equal((await d.read())[0]!.status, 413);
});

const SLOW_SETUP = (tag: string): string => `export default { routes: [{ http: '/slow', request(req, res) { res.end('${tag}\\n'); } }],
  async setup() { if ('${tag}' !== 'v1') await new Promise((r) => setTimeout(r, 1500)); } };`;

test('while a module is swapped only its requests get 503 (Retry-After); another module answers on the same connection', async (t) => {
  const h = await start({ a: A, slow: SLOW_SETUP('v1') });
  t.after(() => h.kill());
  const c = await KeepAlive.open(h.port);
  t.after(() => c.close());
  assert.equal((await c.get('/slow')).body.toString(), 'v1\n');
  h.writeModule('slow', SLOW_SETUP('v2'));
  const reloaded = admin(h.port, 'RELOAD');
  // setup of v2 takes 1.5 s: poll until the 503 window is seen.
  const r503 = await waitUntil(async () => {
    const r = await c.get('/slow');
    return r.status === 503 ? r : null;
  }, '503 during the swap', 5000);
  assert.equal(r503.headers.get('retry-after'), '1');
  assert.equal(r503.headers.get('content-length'), String(r503.body.length));
  // Same connection, another module: served.
  assert.equal((await c.get('/a/z')).body.toString(), 'A /a/z\n');
  assert.match(await reloaded, /^OK/);
  assert.equal((await c.get('/slow')).body.toString(), 'v2\n');
  assert.equal(c.closed, false);
});

test('--reload-mode graceful: the old version answers until the new one is ready (zero 503s)', async (t) => {
  const h = await start({ slow: SLOW_SETUP('v1') }, ['--reload-mode', 'graceful']);
  t.after(() => h.kill());
  const c = await KeepAlive.open(h.port);
  t.after(() => c.close());
  h.writeModule('slow', SLOW_SETUP('v2'));
  const reloaded = admin(h.port, 'RELOAD');
  const seen = new Set<string>();
  let done = false;
  void reloaded.finally(() => (done = true));
  while (!done) {
    const r = await c.get('/slow');
    assert.equal(r.status, 200);
    seen.add(r.body.toString());
  }
  assert.match(await reloaded, /^OK/);
  assert.equal((await c.get('/slow')).body.toString(), 'v2\n');
  assert.ok(seen.has('v1\n'), 'the old version answered during the swap');
});

const COUNTER = (tag: string): string => `export default { routes: [
  { http: '/count', request(req, res, ctx) { const s = ctx.keep('state', () => ({ n: 0 })); s.n++; res.end('${tag} ' + s.n + '\\n'); } },
  { http: '/long', request(req, res, ctx) { const s = ctx.keep('state', () => ({ n: 0 })); setTimeout(() => { s.n++; res.end('${tag} long ' + s.n + '\\n'); }, 800); } },
] };`;

test('kept state outlives a reload: the count continues, and an old long request and a new request share it', async (t) => {
  const h = await start({ c: COUNTER('v1') });
  t.after(() => h.kill());
  const c = await KeepAlive.open(h.port);
  t.after(() => c.close());
  assert.equal((await c.get('/count')).body.toString(), 'v1 1\n');
  assert.equal((await c.get('/count')).body.toString(), 'v1 2\n');
  const longConn = await KeepAlive.open(h.port);
  t.after(() => longConn.close());
  longConn.send('GET /long HTTP/1.1\r\nHost: x\r\n\r\n');
  await waitUntil(async () => {
    const st = JSON.parse((await admin(h.port, 'STATUS')).slice(3)) as { modules: Array<{ routes: Array<{ http?: string; requestsInFlight?: number }> }> };
    return st.modules[0]!.routes.find((r) => r.http === '/long')?.requestsInFlight === 1;
  }, 'the long request in flight');
  h.writeModule('c', COUNTER('v2'));
  assert.match(await admin(h.port, 'RELOAD'), /^OK/);
  assert.equal((await c.get('/count')).body.toString(), 'v2 3\n');
  // The old version finishes its request, on the same state.
  assert.equal((await longConn.read())[0]!.body.toString(), 'v1 long 4\n');
  assert.equal((await c.get('/count')).body.toString(), 'v2 5\n');
  await h.waitForLog((l) => l.msg === 'version disposed' && l.version === 1);
  const st = JSON.parse((await admin(h.port, 'STATUS')).slice(3)) as { modules: Array<{ routes: Array<{ http?: string; requestsServed?: number }> }> };
  assert.equal(st.modules[0]!.routes.find((r) => r.http === '/count')?.requestsServed, 4);
});

test('routes from config: --set NAME.mount moves a module; two modules on one mount conflict, /x and /x/ alike', async (t) => {
  const MOUNTED = `export default { routes: (config) => [{ http: (config.mount ?? '/m/') + 'hello', request(req, res) { res.end('hello from ' + req.url + '\\n'); } }] };`;
  const h = await start({ m: MOUNTED, n: `export default { routes: [{ http: '/relay/hello/', request(req, res) { res.end('n\\n'); } }] };` }, ['--set', 'm.mount=/relay/']);
  t.after(() => h.kill());
  const c = await KeepAlive.open(h.port);
  t.after(() => c.close());
  assert.equal((await c.get('/relay/hello')).body.toString(), 'hello from /relay/hello\n');
  assert.equal((await c.get('/m/hello')).status, 404);
  const r = await admin(h.port, 'RELOAD');
  assert.match(r, /conflicts: path \/relay\/hello\/ of n is already claimed by m|conflicts: prefix \/relay\/hello\/ of n is already claimed by m/);
  const st = JSON.parse((await admin(h.port, 'STATUS')).slice(3)) as { conflicts: string[] };
  assert.equal(st.conflicts.length, 1);
});

test('a pool HTTP route runs off the main thread: a 400 ms blocking request does not hold up a ping', async (t) => {
  const h = await start({
    p: `export default { routes: [
      { http: '/block', pool: true, request: (req, ctx) => { Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 400); return { status: 200, headers: { 'x-thread': String(ctx.threadId) }, body: 'done' }; } },
      { http: '/boom', pool: true, request: () => { throw new Error('kaput'); } },
      { http: '/echo', pool: true, request: (req) => ({ status: 202, headers: { 'content-type': 'application/json' }, body: JSON.stringify({ method: req.method, path: req.path, query: req.query, h: req.headers['x-test'], body: req.body.toString() }) }) },
      { http: '/ping', request: (req, res) => res.end('pong') },
    ] };`,
  });
  t.after(() => h.kill());
  const slow = await KeepAlive.open(h.port);
  const fast = await KeepAlive.open(h.port);
  t.after(() => (slow.close(), fast.close()));
  slow.send('GET /block HTTP/1.1\r\nHost: x\r\n\r\n');
  let blockedDone = false;
  const blocked = slow.read().then((r) => ((blockedDone = true), r));
  await waitUntil(async () => {
    const st = JSON.parse((await admin(h.port, 'STATUS')).slice(3)) as { modules: Array<{ routes: Array<{ http?: string; requestsInFlight?: number }> }> };
    return st.modules[0]!.routes[0]!.requestsInFlight === 1;
  }, 'the blocking request running');
  assert.equal((await fast.get('/ping')).body.toString(), 'pong');
  assert.equal(blockedDone, false, 'the ping answered while the pool request was still blocking');
  const b = (await blocked)[0]!;
  assert.equal(b.body.toString(), 'done');
  assert.notEqual(b.headers.get('x-thread'), '0');
  const boom = await fast.get('/boom');
  assert.equal(boom.status, 500);
  assert.doesNotMatch(boom.body.toString(), /kaput/);
  await h.waitForLog((l) => l.module === 'p' && JSON.stringify(l).includes('kaput'));
  fast.send('POST /echo?a=1 HTTP/1.1\r\nHost: x\r\nX-Test: yes\r\nContent-Length: 4\r\n\r\nbody');
  const e = (await fast.read())[0]!;
  assert.equal(e.status, 202);
  assert.deepEqual(JSON.parse(e.body.toString()), { method: 'POST', path: '/echo', query: 'a=1', h: 'yes', body: 'body' });
});

test('a pool HTTP request over --task-timeout answers 504', async (t) => {
  const h = await start({ p: `export default { routes: [{ http: '/spin', pool: true, request: () => { const end = Date.now() + 3000; while (Date.now() < end); return { body: 'late' }; } }] };` }, ['--task-timeout', '300']);
  t.after(() => h.kill());
  const c = await KeepAlive.open(h.port);
  t.after(() => c.close());
  assert.equal((await c.get('/spin')).status, 504);
});

const WS = (tag: string): string => `import { WebSocketServer } from 'ws';
let wss = null;
export default {
  routes: [{ http: '/ws', request(req, res) { res.end('plain ${tag}\\n'); }, upgrade(req, socket, head) { wss.handleUpgrade(req, socket, head, (ws) => ws.on('message', (m) => ws.send('${tag}:' + m))); } },
           { http: '/nows', request(req, res) { res.end('no upgrade here\\n'); } }],
  setup(ctx) { if (ctx.thread === 'main') wss = new WebSocketServer({ noServer: true }); },
  dispose() { wss?.close(); wss = null; },
};`;

function wsOpen(port: number, path: string): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`ws://127.0.0.1:${port}${path}`);
    ws.once('open', () => resolve(ws));
    ws.once('error', reject);
  });
}
function wsAsk(ws: WebSocket, m: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error('no ws reply')), 5000);
    ws.once('message', (d) => {
      clearTimeout(t);
      resolve(d.toString());
    });
    ws.send(m);
  });
}

test('a WebSocket keeps the version it upgraded on across RELOAD; that version is disposed after it closes', async (t) => {
  const h = await start({ w: WS('v1') });
  t.after(() => h.kill());
  const ws1 = await wsOpen(h.port, '/ws');
  assert.equal(await wsAsk(ws1, 'hi'), 'v1:hi');
  h.writeModule('w', WS('v2'));
  assert.match(await admin(h.port, 'RELOAD'), /^OK/);
  const ws2 = await wsOpen(h.port, '/ws');
  assert.equal(await wsAsk(ws2, 'a'), 'v2:a');
  assert.equal(await wsAsk(ws1, 'b'), 'v1:b');
  const st = JSON.parse((await admin(h.port, 'STATUS')).slice(3)) as { modules: Array<{ routes: Array<{ http?: string; upgradedSockets?: number }>; draining: Array<{ version: number; state: string }> }> };
  assert.equal(st.modules[0]!.routes[0]!.upgradedSockets, 2);
  assert.deepEqual(st.modules[0]!.draining.map((d) => [d.version, d.state]), [[1, 'retired']]);
  assert.equal(h.logs.some((l) => l.msg === 'version disposed' && l.version === 1), false);
  ws1.close();
  await h.waitForLog((l) => l.msg === 'version disposed' && l.version === 1);
  assert.equal(await wsAsk(ws2, 'c'), 'v2:c');
  ws2.close();
});

test('upgrade requests: 404 and 405 are answered and closed; a route without upgrade answers normally and closes', async (t) => {
  const h = await start({ w: WS('v1'), a: A });
  t.after(() => h.kill());
  const up = (path: string, method = 'GET'): Promise<string> =>
    exchange(h.port, `${method} ${path} HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n`, { timeoutMs: 5000 });
  assert.match(await up('/nothing'), /^HTTP\/1\.1 404 Not Found\r\n[\s\S]*Connection: close\r\n\r\n404 Not Found\n$/);
  assert.match(await up('/health', 'POST'), /^HTTP\/1\.1 405 [\s\S]*Allow: GET, HEAD/);
  assert.match(await up('/nows'), /^HTTP\/1\.1 200 OK\r\n[\s\S]*Connection: close[\s\S]*\r\n\r\nno upgrade here\n$/);
});

test('a byte-prefix route on exactly "GET " takes those connections whole; a longer one takes only its own', async (t) => {
  const h = await start({
    a: A,
    legacy: `export default { routes: [{ prefix: 'GET /legacy', connection(s) { s.end('LEGACY\\n'); } }] };`,
  });
  t.after(() => h.kill());
  assert.equal(await exchange(h.port, 'GET /legacy HTTP/1.1\r\nHost: x\r\n\r\n', { timeoutMs: 5000 }), 'LEGACY\n');
  const c = await KeepAlive.open(h.port);
  t.after(() => c.close());
  assert.equal((await c.get('/a/q')).body.toString(), 'A /a/q\n');
  h.writeModule('zget', `export default { routes: [{ prefix: 'GET ', connection(s) { s.end('ALL GETS\\n'); } }] };`);
  assert.match(await admin(h.port, 'RELOAD'), /^OK/);
  await h.waitForLog((l) => l.module === 'zget' && l.prefix === 'GET ');
  assert.equal(await exchange(h.port, 'GET /a/q HTTP/1.1\r\nHost: x\r\n\r\n', { timeoutMs: 5000 }), 'ALL GETS\n');
});

test('an upgraded socket whose client half-closed is ended by the core, so its version can drain', async (t) => {
  const HOLD = (tag: string): string => `export default { routes: [{ http: '/hold', request(req, res) { res.end('${tag}'); }, upgrade(req, socket) { socket.write('HTTP/1.1 101 Switching Protocols\\r\\nUpgrade: raw\\r\\nConnection: Upgrade\\r\\n\\r\\n${tag}'); } }] };`;
  const h = await start({ hold: HOLD('v1') });
  t.after(() => h.kill());
  const s = net.connect(h.port, '127.0.0.1');
  let got = '';
  const closed = new Promise<void>((r) => s.on('close', () => r()));
  s.on('data', (d) => (got += d.toString()));
  s.write('GET /hold HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: raw\r\n\r\n');
  await waitUntil(() => got.endsWith('v1'), 'the 101');
  h.writeModule('hold', HOLD('v2'));
  assert.match(await admin(h.port, 'RELOAD'), /^OK/);
  s.end();
  await closed;
  await h.waitForLog((l) => l.msg === 'version disposed' && l.version === 1);
});

test('STATUS writes byte prefixes as plain strings and lists HTTP routes with their counters', async (t) => {
  const h = await start({ a: A, b: B });
  t.after(() => h.kill());
  const st = JSON.parse((await admin(h.port, 'STATUS')).slice(3)) as { modules: Array<{ name: string; routes: Array<Record<string, unknown>> }> };
  const b = st.modules.find((m) => m.name === 'b')!;
  assert.deepEqual(b.routes.map((r) => r.prefix ?? r.http), ['/b', '/', 'PING']);
  assert.deepEqual(b.routes[0], { http: '/b', kind: 'http', methods: ['POST', 'PUT'], pool: false, requestsInFlight: 0, requestsServed: 0, upgradedSockets: 0 });
});

const PERSIST = (tag: string): string => `import { WebSocketServer } from 'ws';
export default {
  routes: [{ http: '/live', persistent: true, request(req, res) { res.end('ws only'); }, upgrade(req, socket, head, ctx) {
    const st = ctx.keep('st', () => ({ wss: new WebSocketServer({ noServer: true }), tag: '', socks: new Set() }), (s) => { for (const w of s.socks) w.close(1001, 'bye'); s.wss.close(); });
    // Messages are answered through kept state, so the current version's tag is used: no old code runs for old sockets.
    st.wss.handleUpgrade(req, socket, head, (ws) => { st.socks.add(ws); ws.on('close', () => st.socks.delete(ws)); ws.on('message', (m) => ws.send(st.tag + ':' + m)); });
  } }],
  setup(ctx) { ctx.keep('st', () => ({ wss: new WebSocketServer({ noServer: true }), tag: '', socks: new Set() }), (s) => { for (const w of s.socks) w.close(1001, 'bye'); s.wss.close(); }).tag = '${tag}'; },
};`;

test('persistent upgrades: sockets outlive their version (disposed at once), and SHUTDOWN lets kept state close them (1001)', async (t) => {
  const h = await start({ p: PERSIST('v1') }, ['--drain-timeout', '20000']);
  t.after(() => h.kill());
  const ws = await wsOpen(h.port, '/live');
  assert.equal(await wsAsk(ws, 'a'), 'v1:a');
  h.writeModule('p', PERSIST('v2'));
  assert.match(await admin(h.port, 'RELOAD'), /^OK/);
  // The old version does not wait for the socket: it is disposed now, not after the 20 s drain.
  await h.waitForLog((l) => l.msg === 'version disposed' && l.version === 1, 5000);
  assert.equal(await wsAsk(ws, 'b'), 'v2:b');
  const closed = new Promise<number>((r) => ws.once('close', (code) => r(code)));
  assert.equal(await admin(h.port, 'SHUTDOWN'), 'OK shutting down');
  assert.equal(await closed, 1001);
  assert.equal(await h.exited, 0);
});
