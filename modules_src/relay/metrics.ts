// SPDX-License-Identifier: LGPL-3.0-or-later
/**
 * The relay's Prometheus metrics (ctx.metrics): tunnels, queued messages
 * and bytes, waiting polls (read from the store's stats at scrape time), and
 * produce/consume outcomes counted from each answered request's status.
 *
 * The outcome counters are plain numbers (`RelayCounts`, kept across
 * reloads) that the handler bumps where it answers, read at scrape time:
 * no `finish` listener, no label lookup and no second parse of the path per
 * request (they cost a produce about a tenth of its CPU).
 */
import type { ModuleMetrics } from '../../shared/index.ts';
import { statReader } from '../../shared/stat-reader.ts';
import type { EndpointKind } from './parse.ts';

/** Outcome counts since the relay first started in this process (kept with ctx.keep). */
export interface RelayCounts {
  readonly shape: 'relay-counts-1';
  produceStored: number;
  produceFull: number;
  produceRefused: number;
  consumeMessage: number;
  consumeEmpty: number;
  consumeRefused: number;
  /** Bytes of the bodies of stored messages. */
  bytes: number;
}

export function newCounts(): RelayCounts {
  return { shape: 'relay-counts-1', produceStored: 0, produceFull: 0, produceRefused: 0, consumeMessage: 0, consumeEmpty: 0, consumeRefused: 0, bytes: 0 };
}

/** What a request counts as: not at all, a produce (POST of a tunnel), a consume (GET of a tunnel or its poll). */
export const NOT_COUNTED = 0;
export const PRODUCE = 1;
export const CONSUME = 2;
export type CountKind = typeof NOT_COUNTED | typeof PRODUCE | typeof CONSUME;

export function countKind(kind: EndpointKind, method: string): CountKind {
  if (kind === 'tunnel') return method === 'POST' ? PRODUCE : method === 'GET' ? CONSUME : NOT_COUNTED;
  return kind === 'poll' && method === 'GET' ? CONSUME : NOT_COUNTED;
}

/** Counts an answer with `status` (produce: 201 stored, 507 full, else refused; consume: 200 message, 204 empty, else refused). */
export function countAnswer(c: RelayCounts, k: CountKind, status: number, bytes: number): void {
  if (k === PRODUCE) {
    if (status === 201) {
      c.produceStored++;
      c.bytes += bytes;
    } else if (status === 507) c.produceFull++;
    else c.produceRefused++;
  } else if (k === CONSUME) {
    if (status === 200) c.consumeMessage++;
    else if (status === 204) c.consumeEmpty++;
    else c.consumeRefused++;
  }
}

export function relayMetrics(m: ModuleMetrics, stats: () => Record<string, unknown> | null, c: RelayCounts): void {
  const read = statReader(stats);
  m.gauge('hrmr_relay_tunnels', 'Tunnels holding messages or waiting consumers (memory store)', [], read('tunnels'));
  m.gauge('hrmr_relay_messages_queued', 'Messages waiting in tunnels (memory store)', [], read('messages'));
  m.gauge('hrmr_relay_bytes_queued', 'Bytes of the messages waiting in tunnels (memory store)', [], read('bytes'));
  m.gauge('hrmr_relay_waiting_polls', 'Long polls waiting for a message or a reply', [], read('waiting'));
  m.counter('hrmr_relay_produce_total', 'POSTs to a tunnel by result: stored (201), full (507), refused (other)', ['result'], () => [
    [{ result: 'stored' }, c.produceStored],
    [{ result: 'full' }, c.produceFull],
    [{ result: 'refused' }, c.produceRefused],
  ]);
  m.counter('hrmr_relay_consume_total', 'GETs of a tunnel and its long polls by result: message (200), empty (204), refused (other)', ['result'], () => [
    [{ result: 'message' }, c.consumeMessage],
    [{ result: 'empty' }, c.consumeEmpty],
    [{ result: 'refused' }, c.consumeRefused],
  ]);
  m.counter('hrmr_relay_messages_stored_total', 'Messages stored in tunnels', [], () => c.produceStored);
  m.counter('hrmr_relay_message_bytes_stored_total', 'Bytes of the messages stored in tunnels', [], () => c.bytes);
}
