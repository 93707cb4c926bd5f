// SPDX-License-Identifier: LGPL-3.0-or-later
// Memory at rest (issue 26, point 3): pool threads start as they are needed
// (one per generation at first, more only while tasks wait), versions loaded
// together share one generation, and npm packages a feature needs (pg,
// ioredis, ws, pino-pretty; better-sqlite3 outside the pool) load only when
// it is used.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { admin, LineClient, startHrmr, waitUntil } from './helpers/hrmr.ts';
import { startBundled } from './helpers/bundled.ts';
import { LhttpClient } from './helpers/lhttp-client.ts';

const ALL = ['db', 'hash', 'http', 'lhttp', 'lhttp-chat', 'relay', 'rhttp'];

interface Pool {
  liveThreads: number;
  generations: number;
  generation: number | null;
  running: number;
}

async function pool(port: number): Promise<Pool> {
  const r = await admin(port, 'STATUS');
  assert.match(r, /^OK \{/);
  return (JSON.parse(r.slice(3)) as { pool: Pool }).pool;
}

test('idle with every bundled module and --threads 4: one pool thread, one generation', async (t) => {
  const h = await startBundled(ALL, { args: ['--threads', '4', '--log-level', 'info'] });
  t.after(() => h.kill());
  await h.waitForLog((l) => l.msg === 'listening', 30_000);
  const p = await pool(h.port);
  assert.equal(p.liveThreads, 1, 'threads start when tasks need them');
  // db and hash load at start-up together: into one generation, not one each.
  assert.equal(p.generations, 1);
  assert.equal(p.generation, 1);
});

const SLEEPER = `
export default {
  routes: [{ prefix: 'SLEEP ', pool: true, message: async (m) => { await new Promise((r) => setTimeout(r, Number(m.toString().slice(6)))); return 'SLEPT\\n'; } }],
};
`;

test('tasks that wait start more threads, up to --threads and no more', async (t) => {
  const h = await startHrmr({ modules: { sleeper: SLEEPER }, args: ['--threads', '3'] });
  t.after(() => h.kill());
  assert.equal((await pool(h.port)).liveThreads, 1);
  const clients = await Promise.all(Array.from({ length: 6 }, () => LineClient.open(h.port)));
  for (const c of clients) c.send('SLEEP 1500');
  // Three run at once: one per thread.
  await waitUntil(async () => (await pool(h.port)).running === 3, 'three tasks running', 20_000);
  const replies = await Promise.all(clients.map((c) => c.read(30_000)));
  assert.deepEqual(replies, Array(6).fill('SLEPT'));
  assert.equal((await pool(h.port)).liveThreads, 3, 'the threads started stay (module timers keep running in them)');
  for (const c of clients) c.close();
});

/** Node's CommonJS loader names every file it loads under NODE_DEBUG=module, once per thread: lines loading files under `path`. */
function loads(stderr: string, path: string): number {
  return stderr.split('\n').filter((l) => /^MODULE \d+: load "/.test(l) && l.includes(`node_modules/${path}`)).length;
}

test('npm packages load only for the features that use them', async (t) => {
  const h = await startBundled(ALL, { args: ['--threads', '1', '--log-level', 'info'], env: { NODE_DEBUG: 'module' } });
  t.after(() => h.kill());
  await h.waitForLog((l) => l.msg === 'listening', 30_000);
  const err = (): string => h.stderr();
  assert.ok(loads(err(), 'pino/') > 0, `NODE_DEBUG=module lists loads: ${err().slice(0, 500)}`);
  // No --redis, no PostgreSQL URL, JSON logs, no WebSocket yet.
  for (const pkg of ['ioredis/', 'pg/', 'ws/', 'pino-pretty/']) assert.equal(loads(err(), pkg), 0, `${pkg} loaded`);
  // SQLite opens in the pool worker only (one thread).
  assert.equal(loads(err(), 'better-sqlite3/lib/index.js"'), 1, 'better-sqlite3 loaded by one thread');
  // The first WebSockets (several at once) load ws and are all served.
  const cs = await Promise.all(Array.from({ length: 5 }, () => LhttpClient.open(h.port, '/lhttp')));
  assert.equal(cs.length, 5);
  assert.ok(loads(err(), 'ws/') > 0, 'ws loaded with the first WebSocket');
  for (const c of cs) c.ws.close();
});
