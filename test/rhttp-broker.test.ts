// SPDX-License-Identifier: LGPL-3.0-or-later
/**
 * The rhttp module and its broker: 418 with no service; a service that
 * stops acknowledging is dropped after the dead-beat window (its requests
 * then get 418); Redis killed mid-test (503 at once, in-flight requests
 * too) and recovery when it returns; two hrmr servers on one Redis with
 * concurrent clients; mount and strip settings; RELOAD keeps the Redis
 * connections (no leak, no double counting).
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { appendFileSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { Redis } from 'ioredis';
import { repoTempDir, startBundled } from './helpers/bundled.ts';
import { admin, ROOT, waitUntil, type Hrmr } from './helpers/hrmr.ts';
import { startRedis } from './helpers/redis.ts';
import { call } from './helpers/rhttp-client.ts';
import { startService } from './helpers/rhttp-service.ts';

const FAST = ['--set', 'rhttp.heartbeat_interval=0.2', '--set', 'rhttp.dead_server_beats=3', '--set', 'rhttp.timeout=20'];

interface RhttpStatus {
  broker: string;
  services: Array<{ name: string; description: string; lastAck: string }>;
  inFlight: number;
  answered: number;
  rejected: number;
  lost: number;
  timedOut: number;
}

/** The rhttp module's part of an `OK {json}` STATUS reply. */
function rhttpStatus(reply: string): RhttpStatus {
  assert.match(reply, /^OK /);
  const all = JSON.parse(reply.slice(3)) as { modules: Array<{ name: string; status?: unknown }> };
  const m = all.modules.find((x) => x.name === 'rhttp');
  assert.ok(m?.status, `rhttp in STATUS: ${reply.slice(0, 300)}`);
  return m.status as RhttpStatus;
}

function joined(h: Hrmr, service: string, after = 0): Promise<unknown> {
  return h.waitForLog((l) => l.msg === 'rhttp service joined' && l.service === service && h.logs.indexOf(l) >= after);
}

test('418 with no service; a service that stops acking is dropped after the dead-beat window and its requests get 418', async () => {
  const redis = await startRedis();
  let h: Hrmr | undefined;
  const svc = await startService(redis.url, 'beater', { 'GET /ping': () => ({ body: 'pong' }), 'GET /hang': () => null });
  try {
    // A second Redis with no service at all.
    const empty = await startRedis();
    try {
      const e = await startBundled(['rhttp'], { args: ['--redis', empty.url, ...FAST] });
      try {
        await e.waitForLog((l) => l.msg === 'rhttp: connected to Redis');
        const r = await call(e.port, 'GET', '/api/anything');
        assert.equal(r.status, 418);
        assert.equal(r.text, '{"err":"Lost request"}');
        assert.equal(r.headers['content-type'], 'application/json');
      } finally {
        await e.kill();
      }
    } finally {
      await empty.stop();
    }

    h = await startBundled(['rhttp'], { args: ['--redis', redis.url, ...FAST] });
    await joined(h, 'beater');
    assert.equal((await call(h.port, 'GET', '/api/ping')).text, 'pong');
    // STATUS shows the live service and the counters.
    const st = rhttpStatus(await admin(h.port, 'STATUS'));
    assert.equal(st.broker, 'connected');
    assert.deepEqual(
      st.services.map((x) => [x.name, x.description]),
      [['beater', 'NODEJS']],
    );
    assert.ok(!Number.isNaN(Date.parse(st.services[0]!.lastAck)));
    assert.equal(st.answered, 1);
    assert.equal(st.inFlight, 0);
    // A request the service will never answer; then the service stops acknowledging.
    const inflight = call(h.port, 'GET', '/api/hang', { timeoutMs: 15_000 });
    await waitUntil(() => svc.received.some((q) => q.path === '/hang'), 'the service receiving /hang');
    svc.acking = false;
    const r = await inflight;
    // Dropped after 3 beats of 0.2 s: 418 long before the 20 s timeout.
    assert.equal(r.status, 418);
    assert.equal(r.text, '{"err":"Lost request"}');
    const left = await h.waitForLog((l) => l.msg === 'rhttp service left');
    assert.equal(left.service, 'beater');
    const st2 = rhttpStatus(await admin(h.port, 'STATUS'));
    assert.deepEqual(st2.services, []);
    assert.equal(st2.lost, 1);
    // No live service now: 418 at once, even though the service would still answer.
    const before = svc.received.length;
    assert.equal((await call(h.port, 'GET', '/api/ping')).status, 418);
    assert.equal(svc.received.length, before, 'nothing published with no live service');
    // It acknowledges again: it is back.
    const mark = h.logs.length;
    svc.acking = true;
    await joined(h, 'beater', mark);
    assert.equal((await call(h.port, 'GET', '/api/ping')).text, 'pong');
  } finally {
    await h?.kill();
    await svc.stop();
    await redis.stop();
  }
});

test('Redis killed mid-test: in-flight and new requests get 503 at once; recovery when it returns', async () => {
  const redis = await startRedis();
  const svc = await startService(redis.url, 'survivor', { 'GET /ping': () => ({ body: 'pong' }), 'GET /hang': () => null });
  const h = await startBundled(['rhttp'], { args: ['--redis', redis.url, ...FAST] });
  try {
    await joined(h, 'survivor');
    assert.equal((await call(h.port, 'GET', '/api/ping')).text, 'pong');
    const inflight = call(h.port, 'GET', '/api/hang', { timeoutMs: 15_000 });
    await waitUntil(() => svc.received.some((q) => q.path === '/hang'), 'the service receiving /hang');
    await redis.stop();
    // The waiting request is answered now, not at the 20 s timeout.
    const r = await inflight;
    assert.equal(r.status, 503);
    assert.equal(r.text, '{"err":"Broker unavailable"}');
    assert.equal(r.headers['content-type'], 'application/json');
    const n = await call(h.port, 'GET', '/api/ping', { timeoutMs: 5000 });
    assert.equal(n.status, 503);
    assert.equal(n.text, '{"err":"Broker unavailable"}');
    const p = await call(h.port, 'POST', '/api/ping', { body: 'x', timeoutMs: 5000 });
    assert.equal(p.status, 503);
    await h.waitForLog((l) => l.msg === 'rhttp: Redis unavailable: requests get 503 until it is back (reconnecting)');
    await redis.restart();
    // hrmr and the service both reconnect by themselves; the service joins again at the next BEAT.
    await h.waitForLog((l) => l.msg === 'rhttp: Redis is back', 15_000);
    await waitUntil(async () => (await call(h.port, 'GET', '/api/ping', { timeoutMs: 5000 })).status === 200, 'a 200 after Redis is back', 15_000);
    assert.equal((await call(h.port, 'GET', '/api/ping')).text, 'pong');
    // One warning for the outage, not one per reconnect attempt.
    assert.equal(h.logs.filter((l) => l.msg === 'rhttp: Redis unavailable: requests get 503 until it is back (reconnecting)').length, 1);
  } finally {
    await h.kill();
    await svc.stop();
    await redis.stop();
  }
});

test('two hrmr servers on one Redis: concurrent clients each get exactly their own answer', async () => {
  const redis = await startRedis();
  const svc = await startService(redis.url, 'echoer', {
    '*': async (req) => {
      // Answer out of order.
      await new Promise((r) => setTimeout(r, Math.floor(Math.random() * 20)));
      return { body: JSON.stringify({ path: req.path, client: req.headers['X-Client'] }) };
    },
  });
  const h1 = await startBundled(['rhttp'], { args: ['--redis', redis.url, ...FAST] });
  const h2 = await startBundled(['rhttp'], { args: ['--redis', redis.url, ...FAST] });
  try {
    await Promise.all([joined(h1, 'echoer'), joined(h2, 'echoer')]);
    const N = 40;
    const calls = [];
    for (let i = 0; i < N; i++) {
      const h = i % 2 === 0 ? h1 : h2;
      const client = `c${i}-${h === h1 ? 'one' : 'two'}`;
      calls.push(call(h.port, 'GET', `/api/item/${i}?c=${client}`, { headers: { 'X-Client': client }, timeoutMs: 15_000 }).then((r) => ({ r, i, client })));
    }
    for (const { r, i, client } of await Promise.all(calls)) {
      assert.equal(r.status, 200, `client ${client}`);
      assert.deepEqual(JSON.parse(r.text), { path: `/item/${i}?c=${client}`, client });
    }
    // Each request was published once, with ids that never collide across the two servers.
    assert.equal(svc.received.length, N);
    const ids = new Set(svc.received.map((q) => q.headers['X-Socket-ID']));
    assert.equal(ids.size, N);
  } finally {
    await Promise.all([h1.kill(), h2.kill()]);
    await svc.stop();
    await redis.stop();
  }
});

test('mount and strip: --set rhttp.mount=/svc/ and rhttp.strip=false', async () => {
  const redis = await startRedis();
  const svc = await startService(redis.url, 'paths', { '*': (req) => ({ type: 'text/plain', body: req.path }) });
  const h = await startBundled(['rhttp'], { args: ['--redis', redis.url, ...FAST, '--set', 'rhttp.mount=/svc/', '--set', 'rhttp.strip=false'] });
  const s = await startBundled(['rhttp'], { args: ['--redis', redis.url, ...FAST, '--set', 'rhttp.mount=/svc/'] });
  try {
    await Promise.all([joined(h, 'paths'), joined(s, 'paths')]);
    assert.equal((await call(h.port, 'GET', '/svc/x/y?z=1')).text, '/svc/x/y?z=1');
    assert.equal((await call(h.port, 'GET', '/svc')).text, '/svc');
    // Stripped: the service sees the path below the mount.
    assert.equal((await call(s.port, 'GET', '/svc/x/y?z=1')).text, '/x/y?z=1');
    assert.equal((await call(s.port, 'GET', '/svc')).text, '/');
    // /api/ is not served by rhttp any more: nothing reaches the service.
    const before = svc.received.length;
    const r = await call(h.port, 'GET', '/api/x');
    assert.notEqual(r.status, 200);
    assert.equal(svc.received.length, before);
  } finally {
    await Promise.all([h.kill(), s.kill()]);
    await svc.stop();
    await redis.stop();
  }
});

test('RELOAD keeps the Redis connections and the requests in flight; a rejection is counted once; unload closes them', async () => {
  const redis = await startRedis();
  const a = await startService(redis.url, 'ra', { 'GET /a': () => ({ body: 'A' }), 'GET /hang': () => null });
  const b = await startService(redis.url, 'rb', { 'GET /b': () => ({ body: 'B' }) });
  const h = await startBundled(['rhttp'], { args: ['--redis', redis.url, '--set', 'rhttp.heartbeat_interval=0.2', '--set', 'rhttp.timeout=20'] });
  const probe = new Redis(redis.url);
  try {
    await Promise.all([joined(h, 'ra'), joined(h, 'rb')]);
    const inflight = call(h.port, 'GET', '/api/hang', { timeoutMs: 15_000 });
    await waitUntil(() => a.received.some((q) => q.path === '/hang'), 'ra receiving /hang');
    // Three new versions (the file changes each time, so each RELOAD swaps the code).
    for (let i = 0; i < 3; i++) {
      appendFileSync(join(h.dir, 'rhttp.mjs'), `\n// version ${i + 2}\n`);
      assert.match(await admin(h.port, 'RELOAD'), /^OK/);
    }
    const mods = JSON.parse((await admin(h.port, 'STATUS')).slice(3)) as { modules: Array<{ name: string; version: number }> };
    assert.equal(mods.modules.find((x) => x.name === 'rhttp')!.version, 4);
    // The request from before the reloads is still waiting; its answer reaches the client.
    const id = a.received.find((q) => q.path === '/hang')!.headers['X-Socket-ID']!;
    await a.publishRaw('RESPONSE_PIPE', `HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX-Socket-ID: ${id}\r\n\r\nlater`);
    const r = await inflight;
    assert.equal(r.status, 200);
    assert.equal(r.text, 'later');
    // Two services, one rejects: still waiting for the other (a rejection handled twice would give 418 here).
    assert.equal((await call(h.port, 'GET', '/api/b')).text, 'B');
    assert.equal((await call(h.port, 'GET', '/api/a')).text, 'A');
    // One heartbeat after three reloads: BEAT (exactly that payload) at most every 0.2 s, never one timer per version.
    const beats: string[] = [];
    const listener = new Redis(redis.url);
    try {
      listener.on('message', (_ch: string, m: string) => beats.push(m));
      await listener.subscribe('HEARTBEAT');
      await new Promise((r) => setTimeout(r, 2000));
    } finally {
      listener.disconnect();
    }
    assert.ok(beats.length >= 1 && beats.length <= 12, `${beats.length} beats in 2 s at 0.2 s`);
    assert.ok(beats.every((b) => b === 'BEAT'));
    // Still exactly the two connections of the first version.
    const list = String(await probe.call('CLIENT', 'LIST'));
    assert.equal(list.split('\n').filter((l) => /name=hrmr-rhttp-(pub|sub)\b/.test(l)).length, 2);
    // The module removed for good: its connections close.
    h.removeModule('rhttp');
    assert.match(await admin(h.port, 'RELOAD'), /^OK/);
    await waitUntil(async () => !/name=hrmr-rhttp-/.test(String(await probe.call('CLIENT', 'LIST'))), 'the rhttp connections closing after unload');
  } finally {
    probe.disconnect();
    await h.kill();
    await a.stop();
    await b.stop();
    await redis.stop();
  }
});

test('the service example in docs/rhttp.md works as written', async () => {
  const doc = readFileSync(join(ROOT, 'docs', 'rhttp.md'), 'utf8');
  const section = doc.slice(doc.indexOf('## Writing a service'));
  const m = /```js\n([\s\S]*?)```/.exec(section);
  assert.ok(m, 'a js block under "Writing a service"');
  const code = m[1]!;
  // It is the 15-line example the issue asks for.
  assert.ok(code.trim().split('\n').length <= 15, `${code.trim().split('\n').length} lines`);
  const dir = repoTempDir('rhttp-doc-');
  writeFileSync(join(dir, 'hello-service.mjs'), code);
  const redis = await startRedis();
  const proc = spawn(process.execPath, [join(dir, 'hello-service.mjs')], { env: { ...process.env, REDIS_URL: redis.url }, stdio: 'ignore' });
  const exited = new Promise((r) => proc.once('exit', r));
  const h = await startBundled(['rhttp'], { args: ['--redis', redis.url, ...FAST] });
  try {
    await joined(h, 'hello');
    const r = await call(h.port, 'GET', '/api/hello');
    assert.equal(r.status, 200);
    assert.equal(r.text, '{"msg":"hello","got":0}');
    assert.equal(r.headers['content-type'], 'application/json');
    assert.equal((await call(h.port, 'GET', '/api/other')).status, 418);
  } finally {
    await h.kill();
    if (proc.exitCode === null && proc.signalCode === null) {
      proc.kill('SIGKILL');
      await exited;
    }
    await redis.stop();
    rmSync(dir, { recursive: true, force: true });
  }
});
