// SPDX-License-Identifier: LGPL-3.0-or-later
// Pool HTTP routes: a handler may answer synchronously, with a promise, with any
// thenable, or throw (sync or async); each request gets its own answer whether it
// crosses to the worker alone or in a batch (issue 26: the worker runs a sync
// handler of a loaded version without a promise step).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { admin, startHrmr } from './helpers/hrmr.ts';

const MODULE = `export default { routes: [
  { http: '/sync', pool: true, request: (req) => ({ status: 201, headers: { 'x-k': 'sync' }, body: 'sync ' + req.query }) },
  { http: '/async', pool: true, request: async (req) => { await null; return { status: 202, body: 'async ' + req.query }; } },
  { http: '/thenable', pool: true, request: (req) => ({ then(ok) { ok({ status: 203, body: 'thenable ' + req.query }); } }) },
  { http: '/nothing', pool: true, request: () => undefined },
  { http: '/throw', pool: true, request: () => { throw new Error('sync boom'); } },
  { http: '/reject', pool: true, request: async () => { throw new Error('async boom'); } },
] };\n`;

function get(port: number, path: string, agent: http.Agent): Promise<{ status: number; body: string; k: string | undefined }> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path, agent }, (res) => {
      let b = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (b += d));
      res.on('end', () => resolve({ status: res.statusCode!, body: b, k: res.headers['x-k'] as string | undefined }));
    });
    req.setTimeout(30_000, () => req.destroy(new Error('no answer in 30 s')));
    req.on('error', reject);
  });
}

const EXPECT: Record<string, (q: string) => { status: number; body: string }> = {
  sync: (q) => ({ status: 201, body: `sync ${q}` }),
  async: (q) => ({ status: 202, body: `async ${q}` }),
  thenable: (q) => ({ status: 203, body: `thenable ${q}` }),
  nothing: () => ({ status: 200, body: '' }),
  throw: () => ({ status: 500, body: '' }),
  reject: () => ({ status: 500, body: '' }),
};

test('pool HTTP handlers: sync, promise, thenable, nothing, sync and async throws: alone and in batches', async (t) => {
  const h = await startHrmr({ modules: { p: MODULE }, args: ['--threads', '1'] });
  const agent = new http.Agent({ keepAlive: true, maxSockets: 48 });
  t.after(async () => {
    agent.destroy();
    await h.kill();
  });
  const kinds = Object.keys(EXPECT);
  // One at a time: each crosses alone.
  for (const k of kinds) {
    const r = await get(h.port, `/${k}?one`, agent);
    const want = EXPECT[k]!('one');
    assert.equal(r.status, want.status, k);
    if (want.status !== 500) assert.equal(r.body, want.body, k);
    if (k === 'sync') assert.equal(r.k, 'sync');
  }
  // Many at once, mixed: they queue behind the one thread and cross in batches.
  for (let round = 0; round < 5; round++) {
    const paths = Array.from({ length: 48 }, (_, i) => [kinds[i % kinds.length]!, `r${round}i${i}`] as const);
    const got = await Promise.all(paths.map(([k, q]) => get(h.port, `/${k}?${q}`, agent)));
    got.forEach((r, i) => {
      const [k, q] = paths[i]!;
      const want = EXPECT[k]!(q);
      assert.equal(r.status, want.status, `${k}?${q}`);
      if (want.status !== 500) assert.equal(r.body, want.body, `${k}?${q}`);
    });
  }
  const st = JSON.parse((await admin(h.port, 'STATUS')).slice(3)) as { pool: { batches: number; batchedTasks: number } };
  assert.ok(st.pool.batches > 0, 'some requests crossed in batches');
});
