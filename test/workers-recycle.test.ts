// SPDX-License-Identifier: LGPL-3.0-or-later
// --recycle-after: a worker that imported that many module versions is replaced by a fresh one, under load, without a failed request.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { admin, startHrmr, waitUntil, type Hrmr } from './helpers/hrmr.ts';
import { ask, Pids, PROBE, readyWorkers, status, stopAll } from './workers-lib.ts';

const HTTP = `export default { routes: [{ http: '/r', request(req, res) { res.end('r ' + process.pid); } }] };\n`;
const churn = (i: number): string => `export default { routes: [{ prefix: 'CHURN', message: () => 'churn ${i}\\n' }] };\n`;

let h: Hrmr | null = null;
const pids = new Pids();
after(() => stopAll(h, pids));

function get(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path: '/r', agent: false, headers: { connection: 'close' }, timeout: 15_000 }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d) => (body += d));
      res.on('end', () => resolve(`${res.statusCode} ${body}`));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
  });
}

test('--recycle-after 5 under load: both workers are replaced gracefully and no request fails', async (t) => {
  h = await startHrmr({ modules: { probe: PROBE, web: HTTP, churn: churn(0) }, args: ['--workers', '2', '--recycle-after', '5', '--drain-timeout', '5000'] });
  const l = await h.waitForLog((x) => x.msg === 'listening', 30_000);
  const port = h.port;
  const first = l.pids as number[];
  pids.add(...first);

  let running = true;
  let ok = 0;
  const failures: string[] = [];
  const loop = async (kind: 'line' | 'http'): Promise<void> => {
    while (running) {
      try {
        const r = kind === 'line' ? await ask(port, 'VER') : await get(port);
        if (kind === 'line' ? /^1 \d+$/.test(r ?? '') : /^200 r \d+$/.test(r ?? '')) ok++;
        else failures.push(`${kind}: ${JSON.stringify(r)}`);
      } catch (err) {
        failures.push(`${kind}: ${(err as Error).message}`);
      }
    }
  };
  const loops = [loop('line'), loop('line'), loop('line'), loop('http'), loop('http')];
  try {
    for (let i = 1; i <= 12; i++) {
      h.writeModule('churn', churn(i));
      assert.match(await admin(port, 'RELOAD', 60_000), /^OK reloaded 3 modules in \d+ ms on 2 workers$/);
      await new Promise((r) => setTimeout(r, 150));
    }
    // The recycles of the first two workers have completed: fresh ones serve, the old ones are gone.
    await waitUntil(async () => (await status(port)).supervisor.recycled >= 2, 'two recycles', 40_000);
    const s = await readyWorkers(port, 2, first, 40_000);
    pids.addStatus(s);
    await new Promise((r) => setTimeout(r, 500));
  } finally {
    running = false;
    await Promise.all(loops);
  }
  t.diagnostic(`recycle test: ${ok} answers, ${h.logs.filter((x) => x.msg === 'worker retired').length} retired, recycled ${(await status(port)).supervisor.recycled}`);
  assert.deepEqual(failures, []);
  assert.ok(ok > 50, `${ok} requests answered during the recycles`);
  const retired = h.logs.filter((x) => x.msg === 'worker retired');
  assert.ok(retired.length >= 2);
  for (const p of first) assert.ok(retired.some((x) => x.pid === p), `worker ${p} retired`);
  assert.ok(h.logs.every((x) => !String(x.msg).startsWith('worker exited unexpectedly')));
  assert.equal(await ask(port, 'CHURN'), 'churn 12');
});
