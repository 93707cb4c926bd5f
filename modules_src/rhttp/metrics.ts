// SPDX-License-Identifier: LGPL-3.0-or-later
/**
 * rhttp's Prometheus metrics (ctx.metrics), read at scrape time from the
 * gateway's kept state: live services, requests waiting, and requests by
 * how they ended (answered by a service, or hrmr's own 418/408/503/413).
 */
import type { ModuleMetrics } from '../../shared/index.ts';
import type { State } from './gateway.ts';

export function rhttpMetrics(m: ModuleMetrics, state: () => State | null): void {
  m.gauge('hrmr_rhttp_services', 'Services alive (acknowledged the last heartbeats)', [], () => state()?.services.size ?? null);
  m.gauge('hrmr_rhttp_requests_in_flight', 'Requests published and waiting for an answer', [], () => state()?.pending.size ?? null);
  m.counter('hrmr_rhttp_requests_total', 'Requests by how they ended: answered (by a service), 418 (no service took it), 408 (timeout), 503 (no broker), 413 (too large)', ['outcome'], () => {
    const s = state()?.stats;
    if (!s) return null;
    return [
      [{ outcome: 'answered' }, s.answered],
      [{ outcome: '418' }, s.lost + s.rejected],
      [{ outcome: '408' }, s.timedOut],
      [{ outcome: '503' }, s.brokerUnavailable],
      [{ outcome: '413' }, s.tooLarge],
    ];
  });
}
