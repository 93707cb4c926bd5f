// SPDX-License-Identifier: LGPL-3.0-or-later
/**
 * lhttp's Prometheus metrics (ctx.metrics), read at scrape time from the
 * counters the hub keeps anyway (its STATUS): nothing is counted per frame.
 */
import type { ModuleMetrics } from '../../shared/index.ts';
import { statReader } from '../../shared/stat-reader.ts';

type Stats = Record<string, unknown> | null;

export function lhttpMetrics(m: ModuleMetrics, stats: () => Stats): void {
  const read = statReader(stats);
  m.gauge('hrmr_lhttp_connections', 'Open lhttp WebSocket connections', [], read('connections'));
  m.gauge('hrmr_lhttp_subscriptions', 'Channel subscriptions over every connection', [], read('subscriptions'));
  m.gauge('hrmr_lhttp_channels', 'Channels with at least one subscriber', [], read('channels'));
  m.counter('hrmr_lhttp_connections_total', 'lhttp WebSocket connections accepted', [], read('connectionsTotal'));
  m.counter('hrmr_lhttp_messages_in_total', 'lhttp messages received from clients', [], read('messagesIn'));
  m.counter('hrmr_lhttp_messages_out_total', 'lhttp messages sent to subscribers', [], read('messagesOut'));
  m.counter('hrmr_lhttp_http_published_total', 'Messages published with an HTTP POST', [], read('httpPublished'));
  m.counter('hrmr_lhttp_slow_consumers_dropped_total', 'Connections closed because they did not read fast enough', [], read('droppedSlowConsumers'));
  m.counter('hrmr_lhttp_processor_errors_total', 'Processor (lhttp-chat...) calls that threw or timed out', [], () => {
    const s = stats();
    return s === null ? null : Number(s.processorErrors ?? 0) + Number(s.processorTimeouts ?? 0);
  });
}
