// SPDX-License-Identifier: LGPL-3.0-or-later
/** The pure parts of src/metrics/: the access rule, histograms as numbers, metric definitions, the status page's data, --metrics-path. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { checkAccess, presented } from '../src/metrics/access.ts';
import { OUTCOME_INDEX, RawHistogram, RouteStats, routeMetrics, statusClass } from '../src/metrics/computed.ts';
import { makeDef, sameDef } from '../src/metrics/module-def.ts';
import { buildStatusJson } from '../src/metrics/status-json.ts';
import { metricsPath } from '../src/cli/options.ts';

const b64 = (s: string): string => Buffer.from(s).toString('base64');

test('access: without a token loopback only; with one, Bearer or the Basic password, 401 when missing, 403 when wrong', () => {
  assert.equal(checkAccess(null, '127.0.0.1', undefined), 200);
  assert.equal(checkAccess(null, '::1', undefined), 200);
  assert.equal(checkAccess(null, '::ffff:127.0.0.1', undefined), 200);
  assert.equal(checkAccess(null, '10.0.0.1', undefined), 403);
  assert.equal(checkAccess(null, '10.0.0.1', 'Bearer x'), 403);
  assert.equal(checkAccess('tok', '127.0.0.1', undefined), 401);
  assert.equal(checkAccess('tok', '10.0.0.1', undefined), 401);
  assert.equal(checkAccess('tok', '127.0.0.1', 'Bearer tok'), 200);
  assert.equal(checkAccess('tok', '10.0.0.1', 'bearer tok'), 200);
  assert.equal(checkAccess('tok', '10.0.0.1', `Basic ${b64('admin:tok')}`), 200);
  assert.equal(checkAccess('tok', '10.0.0.1', `Basic ${b64(':tok')}`), 200);
  assert.equal(checkAccess('tok', '127.0.0.1', 'Bearer nope'), 403);
  assert.equal(checkAccess('tok', '127.0.0.1', `Basic ${b64('tok:nope')}`), 403);
  assert.equal(checkAccess('tok', '127.0.0.1', 'Digest abc'), 401);
  assert.equal(presented(`Basic ${b64('u:p:q')}`), 'p:q');
});

test('histogram: cumulative buckets, +Inf, sum and count', () => {
  const h = new RawHistogram([0.1, 1]);
  for (const v of [0.05, 0.1, 0.5, 2]) h.observe(v);
  const v = h.values('x', { a: 1 });
  assert.deepEqual(
    v.map((s) => [s.metricName, s.labels.le ?? null, s.value]),
    [
      ['x_bucket', 0.1, 2],
      ['x_bucket', 1, 3],
      ['x_bucket', '+Inf', 4],
      ['x_sum', null, 2.65],
      ['x_count', null, 4],
    ],
  );
});

test('route stats: outcomes by status class, and the exposed series', () => {
  assert.equal(statusClass(204), OUTCOME_INDEX['2xx']);
  assert.equal(statusClass(404), OUTCOME_INDEX['4xx']);
  assert.equal(statusClass(503), OUTCOME_INDEX['5xx']);
  const s = new RouteStats('m', '/r', 'http');
  s.done(statusClass(200), 0.001);
  s.done(statusClass(200), 0.002);
  s.done(statusClass(500), 0.003);
  assert.equal(s.total, 3);
  assert.equal(s.failed, 1);
  const [total, latency] = routeMetrics(() => [s]);
  assert.deepEqual(total.get().values, [
    { labels: { module: 'm', route: '/r', outcome: '2xx' }, value: 2 },
    { labels: { module: 'm', route: '/r', outcome: '5xx' }, value: 1 },
  ]);
  assert.equal(latency.get().type, 'histogram');
});

test('module metric definitions: hrmr_ prefix, _total for counters only, label names, buckets', () => {
  assert.deepEqual(makeDef('m', 'counter', 'hrmr_x_total', 'help', ['a']), { module: 'm', name: 'hrmr_x_total', help: 'help', type: 'counter', labels: ['a'] });
  assert.throws(() => makeDef('m', 'counter', 'x_total', 'h'), /start with hrmr_/);
  assert.throws(() => makeDef('m', 'counter', 'hrmr_x', 'h'), /end in _total/);
  assert.throws(() => makeDef('m', 'gauge', 'hrmr_x_total', 'h'), /only a counter/);
  assert.throws(() => makeDef('m', 'gauge', 'hrmr_x', ''), /help/);
  assert.throws(() => makeDef('m', 'gauge', 'hrmr_x', 'h', ['worker']), /labels/);
  assert.throws(() => makeDef('m', 'histogram', 'hrmr_x', 'h', [], [2, 1]), /increasing/);
  assert.ok(sameDef(makeDef('m', 'gauge', 'hrmr_g', 'h', ['a']), makeDef('m', 'gauge', 'hrmr_g', 'other help', ['a'])));
  assert.ok(!sameDef(makeDef('m', 'gauge', 'hrmr_g', 'h', ['a']), makeDef('n', 'gauge', 'hrmr_g', 'h', ['a'])));
});

test('status data: NAME vN per module, route totals from the metrics, recent errors of the last 5 minutes', () => {
  const now = 1_000_000_000;
  const j = buildStatusJson(
    { uptimeSeconds: 5, modules: [{ name: 'relay', version: 3, routes: [{ http: '/t/', kind: 'http' }], draining: [{ version: 2 }] }] },
    [{ name: 'hrmr_requests_total', help: '', type: 'counter', aggregator: 'sum', values: [{ labels: { module: 'relay', route: '/t/', outcome: '2xx' }, value: 5 }, { labels: { module: 'relay', route: '/t/', outcome: '5xx' }, value: 1 }] }],
    { recentReloads: [], recentErrors: [{ time: now - 10 * 60_000, module: 'relay', route: '/t/', outcome: '500' }, { time: now - 1000, module: 'relay', route: '/t/', outcome: '502' }] },
    now,
  ) as { modules: Array<{ label: string; draining: number[]; routes: Array<{ requests: number; failed: number }> }>; errorsLast5m: number };
  assert.equal(j.modules[0]!.label, 'relay v3');
  assert.deepEqual(j.modules[0]!.draining, [2]);
  assert.equal(j.modules[0]!.routes[0]!.requests, 6);
  assert.equal(j.modules[0]!.routes[0]!.failed, 1);
  assert.equal(j.errorsLast5m, 1);
});

test('--metrics-path: a path, or off', () => {
  assert.equal(metricsPath('/metrics'), '/metrics');
  assert.equal(metricsPath('/x/prom'), '/x/prom');
  assert.equal(metricsPath('off'), null);
  for (const bad of ['metrics', '/', '/_hrmr/m', '/a b', '/a?b']) assert.throws(() => metricsPath(bad), /--metrics-path/);
});
