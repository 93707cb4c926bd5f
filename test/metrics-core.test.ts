// SPDX-License-Identifier: LGPL-3.0-or-later
/**
 * /metrics on the main port with every bundled module serving (real Redis
 * for relay, lhttp and rhttp's broker, SQLite for db): after real traffic to
 * each module the scrape passes `promtool check metrics` (Debian's
 * prometheus package) without an error or a lint warning, has the names the
 * issue asks for, and the per-module counters moved by exactly the requests
 * sent.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { startBundled } from './helpers/bundled.ts';
import { exchange, ROOT, type Hrmr } from './helpers/hrmr.ts';
import { frame, LhttpClient, sync } from './helpers/lhttp-client.ts';
import { get, has, promtool, scrape, value, type Sample } from './helpers/metrics.ts';
import { startRedis, type RedisServer } from './helpers/redis.ts';
import { call } from './helpers/rhttp-client.ts';
import { startService, type Service } from './helpers/rhttp-service.ts';
import { closeAgent, query } from './helpers/db-client.ts';
import { relayClient } from './helpers/relay-client.ts';

const ALL = ['db', 'hash', 'http', 'lhttp', 'lhttp-chat', 'relay', 'rhttp'];
let redis: RedisServer;
let svc: Service;
let h: Hrmr;
const dir = mkdtempSync(join(tmpdir(), 'hrmr-metrics-'));

before(async () => {
  redis = await startRedis();
  svc = await startService(redis.url, 'svcM', { 'GET /hello': () => ({ body: '{"msg":"hello"}' }) });
  h = await startBundled(ALL, {
    args: ['--redis', redis.url, '--set', `http.root=${join(ROOT, 'static_html')}`, '--set', `db.url=sqlite:${join(dir, 'm.db')}`, '--set', 'rhttp.heartbeat_interval=1', '--set', 'rhttp.timeout=5'],
  });
  await h.waitForLog((l) => l.msg === 'rhttp service joined' && l.service === 'svcM', 20_000);
});

after(async () => {
  closeAgent();
  await h?.kill();
  await svc?.stop();
  await redis?.stop();
  rmSync(dir, { recursive: true, force: true });
});

const req = (s: readonly Sample[], module: string, route: string, outcome: string): number => value(s, 'hrmr_requests_total', { module, route, outcome });

test('traffic to every bundled module: promtool passes, and each module counter moves by exactly the requests sent', { timeout: 120_000 }, async () => {
  const before = (await scrape(h.port)).samples;
  // http: 3 files and one 404.
  for (let i = 0; i < 3; i++) assert.equal((await get(h.port, '/index.html')).status, 200);
  assert.equal((await get(h.port, '/no-such-file.html')).status, 404);
  // hash: 3 messages on one connection (main thread), 1 on the pool route.
  assert.equal((await exchange(h.port, 'HASH sha256 a\nHASH sha256 b\nHASH md5 c\nHASH scrypt d\n', { end: true, timeoutMs: 20_000 })).split('\n').length, 5);
  // relay: 2 produce, 2 consume.
  const relay = relayClient(h.port);
  const tunnel = `/t/m-${process.pid}`;
  for (const body of ['one', 'two']) assert.ok([200, 201, 202].includes((await relay.post(tunnel, body)).status));
  for (let i = 0; i < 2; i++) assert.equal((await relay.get(tunnel)).status, 200);
  // lhttp (with the lhttp-chat processor loaded): one WebSocket, messages through it; one HTTP publish.
  const ws = await LhttpClient.open(h.port);
  await sync(ws, 'metrics-room');
  ws.send(frame('m', { publish: 'metrics-room' }, 'hello room'));
  assert.match(await ws.next(), /hello room/);
  // rhttp: 2 requests answered by the service.
  for (let i = 0; i < 2; i++) assert.equal((await call(h.port, 'GET', '/api/hello')).status, 200);
  // db: 2 queries over HTTP, 1 line.
  for (let i = 0; i < 2; i++) assert.equal((await query(h.port, 'SELECT 1 AS one')).status, 200);
  assert.match(await exchange(h.port, 'DB {"sql":"SELECT 2 AS two"}\n', { end: true, timeoutMs: 20_000 }), /two/);

  // Pool workers post module metrics within 200 ms.
  await new Promise((r) => setTimeout(r, 600));
  const { text, samples: after } = await scrape(h.port);
  ws.ws.close();
  const delta = (module: string, route: string, outcome: string): number => req(after, module, route, outcome) - req(before, module, route, outcome);
  assert.equal(delta('http', '/', '2xx'), 3);
  assert.equal(delta('http', '/', '4xx'), 1);
  assert.equal(delta('hash', 'HASH ', 'ok'), 3);
  assert.equal(delta('hash', 'HASH scrypt ', 'ok'), 1);
  assert.equal(delta('relay', '/t/', '2xx'), 4);
  assert.equal(delta('lhttp', '/lhttp', 'upgraded'), 1);
  assert.equal(delta('rhttp', '/api/', '2xx'), 2);
  assert.equal(delta('db', '/db/query', '2xx'), 2);
  assert.equal(delta('db', 'DB ', 'ok'), 1);
  // Latency histograms per module and route count the same requests.
  const count = (m: string, r: string, s: readonly Sample[]): number => value(s, 'hrmr_request_duration_seconds_count', { module: m, route: r });
  assert.equal(count('http', '/', after) - count('http', '/', before), 4);
  assert.equal(count('hash', 'HASH ', after) - count('hash', 'HASH ', before), 3);

  // The names the issue asks for.
  for (const kind of ['message', 'stream', 'http', 'upgraded', 'admin']) assert.ok(has(after, 'hrmr_connections', { kind }), `hrmr_connections{kind="${kind}"}`);
  assert.ok(value(after, 'hrmr_reloads_total', { result: 'loaded' }) >= ALL.length);
  assert.ok(has(after, 'hrmr_request_duration_seconds_bucket', { module: 'http', route: '/', le: '+Inf' }));
  for (const n of ['process_resident_memory_bytes', 'nodejs_eventloop_lag_seconds', 'hrmr_peek_duration_seconds_count', 'hrmr_pool_tasks_queued', 'hrmr_pool_task_duration_seconds_count', 'hrmr_connections_accepted_total', 'hrmr_module_version']) {
    assert.ok(has(after, n), n);
  }
  assert.ok(has(after, 'hrmr_connections_refused_total', { reason: 'no_route' }));
  assert.equal(value(after, 'hrmr_module_version', { module: 'relay' }), 1);
  // Service metrics, one family per bundled service at least.
  for (const n of ['hrmr_relay_messages_stored_total', 'hrmr_lhttp_messages_in_total', 'hrmr_rhttp_requests_total', 'hrmr_db_queries_total']) assert.ok(has(after, n), `service metric ${n}`);
  assert.ok(value(after, 'hrmr_relay_messages_stored_total') >= 2);
  assert.ok(value(after, 'hrmr_rhttp_requests_total', { outcome: 'answered' }) >= 2);
  assert.ok(value(after, 'hrmr_db_queries_total', { outcome: 'ok' }) >= 3);

  const check = promtool(text);
  assert.equal(check.code, 0, `promtool: ${check.output}`);
  assert.doesNotMatch(check.output, /hrmr_/, `promtool warnings about hrmr metrics: ${check.output}`);
});

test('the scrape is the Prometheus text format, and HEAD and other methods are answered', async () => {
  const r = await get(h.port, '/metrics');
  assert.equal(r.status, 200);
  assert.match(String(r.headers['content-type']), /^text\/plain; version=0\.0\.4/);
  assert.match(r.text, /^# HELP /m);
  const head = await get(h.port, '/metrics', {}, 'HEAD');
  assert.equal(head.status, 200);
  assert.equal(head.text, '');
  const post = await get(h.port, '/metrics', {}, 'POST');
  assert.equal(post.status, 405);
  assert.equal(post.headers.allow, 'GET, HEAD');
});
