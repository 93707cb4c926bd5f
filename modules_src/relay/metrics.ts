// SPDX-License-Identifier: LGPL-3.0-or-later
/**
 * The relay's Prometheus metrics (ctx.metrics): tunnels, queued messages
 * and bytes, waiting polls (read from the store's stats at scrape time), and
 * produce/consume outcomes counted from each answered request's status.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { ModuleMetrics } from '../../shared/index.ts';
import { statReader } from '../../shared/stat-reader.ts';
import { parseEndpoint } from './parse.ts';

export type RelayCount = (tPrefix: string, req: IncomingMessage, res: ServerResponse) => void;

export function relayMetrics(m: ModuleMetrics, stats: () => Record<string, unknown> | null): RelayCount {
  const read = statReader(stats);
  m.gauge('hrmr_relay_tunnels', 'Tunnels holding messages or waiting consumers (memory store)', [], read('tunnels'));
  m.gauge('hrmr_relay_messages_queued', 'Messages waiting in tunnels (memory store)', [], read('messages'));
  m.gauge('hrmr_relay_bytes_queued', 'Bytes of the messages waiting in tunnels (memory store)', [], read('bytes'));
  m.gauge('hrmr_relay_waiting_polls', 'Long polls waiting for a message or a reply', [], read('waiting'));
  const produce = m.counter('hrmr_relay_produce_total', 'POSTs to a tunnel by result: stored (201), full (507), refused (other)', ['result']);
  const consume = m.counter('hrmr_relay_consume_total', 'GETs of a tunnel and its long polls by result: message (200), empty (204), refused (other)', ['result']);
  const stored = m.counter('hrmr_relay_messages_stored_total', 'Messages stored in tunnels');
  const bytes = m.counter('hrmr_relay_message_bytes_stored_total', 'Bytes of the messages stored in tunnels');
  return (tPrefix, req, res) => {
    const url = req.url ?? '';
    const qi = url.indexOf('?');
    const path = qi < 0 ? url : url.slice(0, qi);
    if (!path.startsWith(tPrefix)) return;
    const ep = parseEndpoint(path.slice(tPrefix.length));
    if (ep === null || (ep.kind !== 'tunnel' && ep.kind !== 'poll')) return;
    const post = req.method === 'POST' && ep.kind === 'tunnel';
    if (!post && req.method !== 'GET') return;
    res.once('finish', () => {
      const s = res.statusCode;
      if (post) {
        produce.inc({ result: s === 201 ? 'stored' : s === 507 ? 'full' : 'refused' });
        if (s !== 201) return;
        stored.inc();
        bytes.inc(Number(req.headers['content-length'] ?? 0) || 0);
      } else consume.inc({ result: s === 200 ? 'message' : s === 204 ? 'empty' : 'refused' });
    });
  };
}
