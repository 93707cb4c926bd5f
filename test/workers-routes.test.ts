// SPDX-License-Identifier: LGPL-3.0-or-later
// --workers 2: every kind of route served, STATUS with both pids, RELOAD fan-out (one worker failing), SHUTDOWN draining every worker.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import { admin, exchange, LineClient, runCli, startHrmr, waitUntil, type Hrmr } from './helpers/hrmr.ts';
import { repoTempDir } from './helpers/bundled.ts';
import { ask, onWorker, Pids, PROBE, readyWorkers, status, stopAll, twoPids } from './workers-lib.ts';

const KINDS = `
export default {
  routes: [
    { prefix: 'ECHO', connection(socket) { socket.pipe(socket); } },
    { prefix: 'MSG ', message: (m) => 'msg ' + process.pid + '\\n' },
    { prefix: 'POOL ', pool: true, message: (m, ctx) => 'pool ' + process.pid + ' ' + (ctx.threadId > 0) + '\\n' },
    { http: '/h', request(req, res) { res.setHeader('x-pid', String(process.pid)); res.end('http ' + req.url); } },
    { http: '/p', pool: true, request(req, ctx) { return { status: 201, headers: { 'x-pid': String(process.pid) }, body: 'pool-http ' + req.path + ' ' + (ctx.threadId > 0) }; } },
    { http: '/ws', request(req, res) { res.statusCode = 426; res.end(); },
      upgrade(req, socket, head) {
        socket.write('HTTP/1.1 101 Switching Protocols\\r\\nUpgrade: echo\\r\\nConnection: Upgrade\\r\\n\\r\\n');
        socket.pipe(socket);
      } },
  ],
};
`;

const FLAKY = (v: number): string => `
export default {
  routes: [{ prefix: 'FLAKY', message: () => 'flaky v${v} ' + process.pid + '\\n' }],
  setup(ctx) {
    if (${v} > 1 && process.env.HRMR_WORKER_ID === '2') throw new Error('nope on worker 2');
    if (ctx.processes !== 2) throw new Error('processes is ' + ctx.processes);
  },
};
`;

let h: Hrmr | null = null;
const pids = new Pids();
let A = 0;
let B = 0;

before(async () => {
  h = await startHrmr({ dir: repoTempDir('workers-'), modules: { probe: PROBE, kinds: KINDS, flaky: FLAKY(1) }, args: ['--workers', '2', '--drain-timeout', '8000'] });
  const listening = await h.waitForLog((l) => l.msg === 'listening');
  assert.equal(listening.workers, 2);
  pids.add(...(listening.pids as number[]));
  [A, B] = await twoPids(h.port);
  pids.add(A, B);
});

after(async () => {
  await stopAll(h, pids);
});

function httpGet(port: number, path: string, headers: Record<string, string> = {}): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path, headers: { connection: 'close', ...headers }, timeout: 15_000 }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body }));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
  });
}

function upgradeEcho(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = net.connect({ port, host: '127.0.0.1' });
    let got = '';
    const t = setTimeout(() => {
      s.destroy();
      reject(new Error(`no echo: ${JSON.stringify(got)}`));
    }, 15_000);
    s.on('error', reject);
    s.write('GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: echo\r\nConnection: Upgrade\r\n\r\n');
    s.setEncoding('utf8');
    s.on('data', (d: string) => {
      got += d;
      if (got.includes('\r\n\r\n') && !got.includes('ping')) s.write('ping');
      if (got.endsWith('ping')) {
        clearTimeout(t);
        s.destroy();
        resolve(got);
      }
    });
  });
}

test('--workers 2 serves every kind of route, on each worker', async () => {
  const port = h!.port;
  for (const pid of [A, B]) {
    // Connections are opened while the other worker is blocked, so each lands on `pid`.
    const got = await onWorker(port, pid, async () => {
      const echo = exchange(port, 'ECHO hello', { end: true });
      const msg = ask(port, 'MSG x');
      const pool = ask(port, 'POOL x');
      const get = httpGet(port, '/h/a?b=1');
      const poolHttp = httpGet(port, '/p/z');
      const ws = upgradeEcho(port);
      return Promise.all([echo, msg, pool, get, poolHttp, ws]);
    });
    const [echo, msg, pool, get, poolHttp, ws] = got;
    assert.equal(echo, 'ECHO hello');
    assert.equal(msg, `msg ${pid}`);
    assert.equal(pool, `pool ${pid} true`);
    assert.equal(get.status, 200);
    assert.equal(get.body, 'http /h/a?b=1');
    assert.equal(get.headers['x-pid'], String(pid));
    assert.equal(poolHttp.status, 201);
    assert.equal(poolHttp.body, 'pool-http /p/z true');
    assert.equal(poolHttp.headers['x-pid'], String(pid));
    assert.match(ws, /^HTTP\/1\.1 101 Switching Protocols\r\n/);
    assert.ok(ws.endsWith('\r\n\r\nping'));
  }
});

test('STATUS: one JSON line with totals and both workers (pid, uptime, connections, restarts, memory, reloads)', async () => {
  const s = await status(h!.port);
  assert.deepEqual(s.workers.map((w) => w.pid).sort(), [A, B].sort());
  assert.deepEqual(s.workers.map((w) => w.worker).sort(), [1, 2]);
  for (const w of s.workers) {
    assert.equal(w.state, 'ready');
    assert.equal(w.restarts, 0);
    assert.equal(typeof w.uptimeSeconds, 'number');
    assert.equal(typeof w.connections, 'number');
    assert.equal(typeof w.reloads, 'number');
    assert.ok(w.memory!.rssBytes > 0 && w.memory!.heapUsedBytes > 0);
  }
  assert.equal(typeof s.connections, 'number');
  assert.ok((s.adminSessions as number) >= 1, 'the STATUS session is counted as an admin session');
  assert.equal(s.supervisor.workers, 2);
  assert.ok((s.modules as unknown[]).length === 3);
  assert.ok((s.memory as { rssBytes: number }).rssBytes > s.workers[0]!.memory!.rssBytes + s.workers[1]!.memory!.rssBytes);
});

test('RELOAD fans out: a module failing on worker 2 only is named in ERR; worker 2 keeps its old version, worker 1 runs the new one', async () => {
  const port = h!.port;
  const s0 = await status(port);
  const w2 = s0.workers.find((w) => w.worker === 2)!.pid;
  const w1 = s0.workers.find((w) => w.worker === 1)!.pid;
  h!.writeModule('flaky', FLAKY(2));
  const r = await admin(port, 'RELOAD', 60_000);
  assert.match(r, new RegExp(`^ERR reload failed on 1 of 2 workers: worker 2 \\(pid ${w2}\\): flaky: .*nope on worker 2`));
  assert.equal(await onWorker(port, w1, () => ask(port, 'FLAKY')), `flaky v2 ${w1}`);
  assert.equal(await onWorker(port, w2, () => ask(port, 'FLAKY')), `flaky v1 ${w2}`);
  // Back to a version every worker accepts: one OK line for both.
  h!.writeModule('flaky', FLAKY(1).replace("'flaky v1 '", "'flaky v3 '"));
  assert.match(await admin(port, 'RELOAD', 60_000), /^OK reloaded 3 modules in \d+ ms on 2 workers$/);
  assert.equal(await onWorker(port, w2, () => ask(port, 'FLAKY')), `flaky v3 ${w2}`);
  const s1 = await status(port);
  assert.equal(s1.reloads, 2);
  for (const w of s1.workers) assert.equal(w.reloads, 2);
  // SIGHUP to the supervisor reloads every worker too.
  const isFanout = (l: { msg: string; pid?: unknown }): boolean => /^OK reloaded 3 modules in \d+ ms on 2 workers$/.test(l.msg) && l.pid === h!.proc.pid;
  const before = h!.logs.filter(isFanout).length;
  assert.equal(before, 1, 'the supervisor logged the RELOAD above');
  process.kill(h!.proc.pid!, 'SIGHUP');
  await waitUntil(() => h!.logs.filter(isFanout).length === 2, 'the SIGHUP fan-out', 30_000);
  for (const w of (await status(port)).workers) assert.equal(w.reloads, 3);
  // And so does the `hrmr reload` client, whichever worker it reaches.
  const cli = await runCli(['reload', '--port', String(port)], { timeoutMs: 30_000 });
  assert.equal(cli.code, 0);
  assert.match(cli.stdout + cli.stderr, /OK reloaded 3 modules in \d+ ms on 2 workers/);
});

test('SHUTDOWN drains an in-flight message on every worker, then exits 0', async () => {
  const port = h!.port;
  const slow = async (pid: number): Promise<LineClient> =>
    onWorker(port, pid, async () => {
      const c = await LineClient.open(port);
      c.send('SLOW 1500');
      return c;
    });
  const ca = await slow(A);
  const cb = await slow(B);
  const r = await admin(port, 'SHUTDOWN');
  assert.equal(r, 'OK shutting down');
  const [ra, rb] = await Promise.all([ca.read(20_000), cb.read(20_000)]);
  assert.equal(ra, `slow ${A}`);
  assert.equal(rb, `slow ${B}`);
  assert.equal(await ca.read(), null, 'the connection ends after its reply');
  assert.equal(await h!.exited, 0);
  await h!.waitForLog((l) => l.msg === 'shutdown complete' && l.code === 0);
});
