// SPDX-License-Identifier: LGPL-3.0-or-later
/**
 * A real Prometheus server (Debian's prometheus package) scrapes hrmr every
 * second, with the admin token as its Bearer credentials: its HTTP API
 * answers `up == 1` for the hrmr target and an hrmr counter with exactly
 * the messages sent.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { startBundled } from './helpers/bundled.ts';
import { exchange, type Hrmr } from './helpers/hrmr.ts';
import { get } from './helpers/metrics.ts';
import { freePort } from './helpers/redis.ts';

const TOKEN = 'prom-scrape-token';
let h: Hrmr;
let prom: ChildProcess | null = null;
let promPort = 0;
let promLog = '';
const dir = mkdtempSync(join(tmpdir(), 'hrmr-prom-'));

before(async () => {
  h = await startBundled(['hash'], { args: ['--admin-token', TOKEN] });
  promPort = await freePort();
  const config = join(dir, 'prometheus.yml');
  writeFileSync(
    config,
    [
      'global:',
      '  scrape_interval: 1s',
      '  evaluation_interval: 1s',
      'scrape_configs:',
      '  - job_name: hrmr',
      '    scrape_interval: 1s',
      '    scrape_timeout: 1s',
      '    authorization:',
      '      type: Bearer',
      `      credentials: ${TOKEN}`,
      '    static_configs:',
      `      - targets: ['127.0.0.1:${h.port}']`,
      '',
    ].join('\n'),
  );
  prom = spawn('/usr/bin/prometheus', [`--config.file=${config}`, `--storage.tsdb.path=${join(dir, 'data')}`, `--web.listen-address=127.0.0.1:${promPort}`, '--log.level=warn'], { stdio: ['ignore', 'pipe', 'pipe'] });
  prom.stdout!.on('data', (d: Buffer) => (promLog += d.toString()));
  prom.stderr!.on('data', (d: Buffer) => (promLog += d.toString()));
});

after(async () => {
  const p = prom;
  if (p && p.exitCode === null && p.signalCode === null) {
    const exited = new Promise((r) => p.once('exit', r));
    process.kill(p.pid!, 'SIGTERM');
    const t = setTimeout(() => p.pid && process.kill(p.pid, 'SIGKILL'), 10_000);
    await exited;
    clearTimeout(t);
  }
  await h?.kill();
  rmSync(dir, { recursive: true, force: true });
});

interface Vector {
  metric: Record<string, string>;
  value: [number, string];
}

async function promQuery(q: string): Promise<Vector[]> {
  const r = await get(promPort, `/api/v1/query?query=${encodeURIComponent(q)}`);
  if (r.status !== 200) throw new Error(`prometheus answered ${r.status}: ${r.text}`);
  const j = JSON.parse(r.text) as { status: string; data: { resultType: string; result: Vector[] } };
  return j.data.result;
}

/** Polls a query until `ok` holds for its result (Prometheus scrapes every second). */
async function until(q: string, ok: (v: Vector[]) => boolean, timeoutMs = 60_000): Promise<Vector[]> {
  const end = Date.now() + timeoutMs;
  let last: Vector[] | string = 'no answer yet';
  while (Date.now() < end) {
    try {
      last = await promQuery(q);
      if (ok(last)) return last;
    } catch (err) {
      last = (err as Error).message;
    }
    await new Promise((r) => setTimeout(r, 500));
  }
  throw new Error(`query ${q} did not hold within ${timeoutMs} ms; last: ${JSON.stringify(last)}; prometheus log: ${promLog.slice(-2000)}`);
}

test('prometheus scrapes hrmr: up == 1, and an hrmr counter with exactly the messages sent', { timeout: 150_000 }, async () => {
  const up = await until('up{job="hrmr"}', (v) => v.length === 1 && v[0]!.value[1] === '1');
  assert.equal(up[0]!.metric.instance, `127.0.0.1:${h.port}`);
  const n = 7;
  const lines = Array.from({ length: n }, (_, i) => `HASH sha256 m${i}\n`).join('');
  assert.equal((await exchange(h.port, lines, { end: true, timeoutMs: 20_000 })).split('\n').length, n + 1);
  const sent = await until('hrmr_requests_total{module="hash",route="HASH ",outcome="ok"}', (v) => v.length === 1 && v[0]!.value[1] === String(n));
  assert.equal(sent[0]!.value[1], String(n));
  // Core gauges arrive too.
  const conns = await until('hrmr_connections{kind="http"}', (v) => v.length === 1);
  assert.ok(Number(conns[0]!.value[1]) >= 0);
});
