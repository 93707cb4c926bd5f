// SPDX-License-Identifier: LGPL-3.0-or-later
/**
 * ctx.metrics for module authors: counters, gauges (with a collect reader)
 * and histograms from the main thread and from pool workers reach /metrics;
 * a metric is registered once per module, so its counts go on across a
 * RELOAD; a name hrmr or another module uses, or a bad name, fails the load.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { exchange, startHrmr, type Hrmr } from './helpers/hrmr.ts';
import { promtool, scrape, value } from './helpers/metrics.ts';

const CNT = (tag: string): string => `
let hits, poolHits, sizes, queue = 0;
export default {
  name: 'cnt',
  setup(ctx) {
    hits = ctx.metrics.counter('hrmr_cnt_hits_total', 'Hits by kind', ['kind']);
    sizes = ctx.metrics.histogram('hrmr_cnt_line_bytes', 'Line sizes', [], [1, 10, 100]);
    ctx.metrics.gauge('hrmr_cnt_queue', 'Queue size, read at scrape time', [], () => queue);
  },
  routes: [
    { prefix: 'HIT', message: (m, ctx) => { hits.inc({ kind: '${tag}' }); sizes.observe(m.length); queue = m.length; return 'ok\\n'; } },
    { prefix: 'PHIT', pool: true, message: (m, ctx) => { ctx.metrics.counter('hrmr_cnt_pool_hits_total', 'Hits on the pool').inc(); return 'pool ok\\n'; } },
  ],
};
`;

let h: Hrmr;
before(async () => {
  h = await startHrmr({ modules: { cnt: CNT('a') } });
});
after(() => h?.kill());

test('main-thread and pool-worker metrics of a module reach /metrics, and pass promtool', { timeout: 60_000 }, async () => {
  assert.equal(await exchange(h.port, 'HIT1\nHIT22\nHIT333\n', { end: true }), 'ok\nok\nok\n');
  assert.equal(await exchange(h.port, 'PHIT\nPHIT\n', { end: true, timeoutMs: 15_000 }), 'pool ok\npool ok\n');
  // Workers post within 200 ms.
  let s = (await scrape(h.port)).samples;
  for (let i = 0; i < 20 && value(s, 'hrmr_cnt_pool_hits_total') < 2; i++) {
    await new Promise((r) => setTimeout(r, 250));
    s = (await scrape(h.port)).samples;
  }
  assert.equal(value(s, 'hrmr_cnt_hits_total', { kind: 'a' }), 3);
  assert.equal(value(s, 'hrmr_cnt_pool_hits_total'), 2);
  assert.equal(value(s, 'hrmr_cnt_line_bytes_count'), 3);
  assert.equal(value(s, 'hrmr_cnt_line_bytes_bucket', { le: '10' }), 3);
  assert.equal(value(s, 'hrmr_cnt_queue'), 6);
  const { text } = await scrape(h.port);
  const check = promtool(text);
  assert.equal(check.code, 0, check.output);
});

test('a RELOAD keeps the metric: counts go on in the new version', { timeout: 60_000 }, async () => {
  const before = value((await scrape(h.port)).samples, 'hrmr_cnt_hits_total');
  h.writeModule('cnt', CNT('b'));
  assert.match(await exchange(h.port, 'RELOAD\n', { end: true, timeoutMs: 30_000 }), /^OK/);
  assert.equal(await exchange(h.port, 'HIT\nHIT\n', { end: true }), 'ok\nok\n');
  const s = (await scrape(h.port)).samples;
  assert.equal(value(s, 'hrmr_cnt_hits_total'), before + 2);
  assert.equal(value(s, 'hrmr_cnt_hits_total', { kind: 'b' }), 2);
  assert.equal(value(s, 'hrmr_module_version', { module: 'cnt' }), 2);
});

test("a name hrmr uses, another module's name, or a bad name fails the module's load", { timeout: 60_000 }, async () => {
  const bad = (name: string, body: string): string => `export default { name: '${name}', setup(ctx) { ${body} }, routes: [{ prefix: '${name.toUpperCase()}', message: () => 'x\\n' }] };`;
  h.writeModule('taken', bad('taken', "ctx.metrics.counter('hrmr_requests_total', 'mine');"));
  h.writeModule('other', bad('other', "ctx.metrics.counter('hrmr_cnt_hits_total', 'not yours', ['kind']);"));
  h.writeModule('badname', bad('badname', "ctx.metrics.gauge('my_gauge', 'no prefix');"));
  const r = await exchange(h.port, 'RELOAD\n', { end: true, timeoutMs: 30_000 });
  assert.match(r, /^ERR reload failed for 3 modules/);
  assert.match(r, /taken: .*hrmr_requests_total is already a metric of hrmr/);
  assert.match(r, /other: .*hrmr_cnt_hits_total is already a metric of module cnt/);
  assert.match(r, /badname: .*must start with hrmr_/);
  h.removeModule('taken');
  h.removeModule('other');
  h.removeModule('badname');
});

test('hrmr_connections by kind while connections are open; the access log line of a stream connection', { timeout: 60_000 }, async () => {
  const s = await startHrmr({
    modules: { kinds: "export default { routes: [{ prefix: 'ECHO', connection(socket) { socket.pipe(socket); } }, { prefix: 'M', message: () => 'm\\n' }] };" },
    args: ['--access-log'],
  });
  try {
    const { connect } = await import('./helpers/hrmr.ts');
    const stream = await connect(s.port);
    stream.write('ECHO hi\n');
    await new Promise((r) => stream.once('data', r));
    const msg = await connect(s.port);
    msg.write('M1\n');
    await new Promise((r) => msg.once('data', r));
    const open = (await scrape(s.port)).samples;
    assert.equal(value(open, 'hrmr_connections', { kind: 'stream' }), 1);
    assert.equal(value(open, 'hrmr_connections', { kind: 'message' }), 1);
    assert.equal(value(open, 'hrmr_connections', { kind: 'http' }), 1, 'the scrape itself');
    stream.end();
    msg.end();
    const line = await s.waitForLog((l) => l.msg === 'access' && l.kind === 'stream');
    assert.equal(line.module, 'kinds');
    assert.equal(line.route, 'ECHO');
    assert.ok((line.bytes as number) >= 16);
    const m = await s.waitForLog((l) => l.msg === 'access' && l.kind === 'message');
    assert.equal(m.messages, 1);
    stream.destroy();
    msg.destroy();
  } finally {
    await s.kill();
  }
});
