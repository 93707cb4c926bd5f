// SPDX-License-Identifier: LGPL-3.0-or-later
/**
 * The built-in HTTP routes the HTTP host answers before module routing:
 * the metrics path (`--metrics-path`, default /metrics), the status page
 * /_hrmr/status and its JSON /_hrmr/status.json. All follow the admin
 * channel's access rule (access.ts).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { AggregatorRegistry, Registry } from 'prom-client';
import { BASIC_CHALLENGE, checkAccess } from './access.ts';
import type { MetricJson } from './computed.ts';
import type { MetricsHub } from './hub.ts';
import { buildStatusJson } from './status-json.ts';
import { STATUS_PAGE } from './status-page.ts';

export const STATUS_PATH = '/_hrmr/status';
export const STATUS_JSON_PATH = '/_hrmr/status.json';

export interface BuiltinOptions {
  metricsPath: string | null;
  adminToken: string | null;
  /** STATUS as the admin channel answers it (the whole server with --workers). */
  status(): Promise<unknown>;
}

type Kind = 'metrics' | 'page' | 'json';

export class BuiltinRoutes {
  private readonly paths = new Map<string, Kind>();

  constructor(
    private readonly hub: MetricsHub,
    private readonly opts: BuiltinOptions,
  ) {
    if (opts.metricsPath !== null) this.paths.set(opts.metricsPath, 'metrics');
    this.paths.set(STATUS_PATH, 'page');
    this.paths.set(STATUS_JSON_PATH, 'json');
  }

  /** The request-line prefixes the router must send to the HTTP host even when no module has an HTTP route. */
  bytePrefixes(): string[] {
    const out: string[] = [];
    for (const p of [...(this.opts.metricsPath === null ? [] : [this.opts.metricsPath]), '/_hrmr/']) out.push(`GET ${p}`, `HEAD ${p}`);
    return out;
  }

  /** Whether `path` (before `?`) is one of these routes. One Map probe: this runs for every HTTP request. */
  has(path: string): boolean {
    return this.paths.has(path);
  }

  serve(req: IncomingMessage, res: ServerResponse, path: string): void {
    const start = performance.now();
    const kind = this.paths.get(path)!;
    const send = (status: number, type: string, body: string | Buffer, extra: Record<string, string> = {}): void => {
      if (res.destroyed) return;
      const b = typeof body === 'string' ? Buffer.from(body) : body;
      res.writeHead(status, { 'Content-Type': type, 'Content-Length': b.length, 'Cache-Control': 'no-store', ...extra });
      res.end(req.method === 'HEAD' ? undefined : b);
      this.hub.builtinDone(req, status, path, start);
    };
    if (req.method !== 'GET' && req.method !== 'HEAD') return send(405, 'text/plain; charset=utf-8', '405 Method Not Allowed\n', { Allow: 'GET, HEAD' });
    const access = checkAccess(this.opts.adminToken, req.socket.remoteAddress, req.headers.authorization);
    if (access === 401) return send(401, 'text/plain; charset=utf-8', '401 Unauthorized: the admin token is needed (Bearer, or as the Basic password)\n', { 'WWW-Authenticate': BASIC_CHALLENGE });
    if (access === 403) return send(403, 'text/plain; charset=utf-8', '403 Forbidden\n');
    if (kind === 'page') return send(200, 'text/html; charset=utf-8', STATUS_PAGE);
    const work = kind === 'metrics' ? this.metricsText().then((t) => ({ type: this.hub.registry.contentType, body: t })) : this.statusJson().then((j) => ({ type: 'application/json; charset=utf-8', body: JSON.stringify(j) }));
    work.then(
      (r) => send(200, r.type, r.body),
      (err: unknown) => {
        this.hub.opts.log.error({ err, path }, 'built-in route failed');
        send(500, 'text/plain; charset=utf-8', '500 Internal Server Error\n');
      },
    );
  }

  /** Every worker's metrics with --workers (summed by prom-client's aggregator), else this process's. */
  private async aggregated(): Promise<Registry | null> {
    const gather = this.hub.gather;
    if (gather === null) return null;
    try {
      return AggregatorRegistry.aggregate((await gather()) as never);
    } catch (err) {
      // The supervisor did not answer: this worker's own metrics are better than none.
      this.hub.opts.log.warn({ err }, 'metrics of the other workers unavailable; serving this worker only');
      return null;
    }
  }

  async metricsText(): Promise<string> {
    if (!this.hub.metricsOn) return '';
    const agg = await this.aggregated();
    return agg === null ? this.hub.text() : agg.metrics();
  }

  private async statusJson(): Promise<unknown> {
    let metrics: MetricJson[] = [];
    if (this.hub.metricsOn) {
      const agg = await this.aggregated();
      metrics = agg === null ? await this.hub.localJson() : ((await agg.getMetricsAsJSON()) as unknown as MetricJson[]);
    }
    return buildStatusJson(await this.opts.status(), metrics, this.hub);
  }
}
