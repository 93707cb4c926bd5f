// SPDX-License-Identifier: LGPL-3.0-or-later
/**
 * Metrics whose values are computed at scrape time: from counters the core
 * keeps anyway (STATUS's), or from the plain-number accumulators below that
 * the hot paths bump (a few array writes per request instead of prom-client's
 * label hashing). Each is a prom-client metric as far as its Registry is
 * concerned (name, help, type, aggregator, get()), so prom-client still does
 * the text exposition and the `--workers` aggregation. Pure: no I/O.
 */

export type Labels = Record<string, string | number>;
export type MetricType = 'counter' | 'gauge' | 'histogram';

export interface MetricValue {
  value: number;
  labels: Labels;
  metricName?: string;
}

/** What prom-client's Registry reads from a metric. */
export interface MetricJson {
  name: string;
  help: string;
  type: MetricType;
  values: MetricValue[];
  aggregator: 'sum';
}

export class Computed {
  readonly aggregator = 'sum' as const;
  constructor(
    readonly name: string,
    readonly help: string,
    readonly type: MetricType,
    private readonly values: () => MetricValue[],
  ) {}
  get(): MetricJson {
    return { name: this.name, help: this.help, type: this.type, values: this.values(), aggregator: this.aggregator };
  }
}

/** Request latency buckets (seconds): from 0.1 ms, since most routes answer in well under 1 ms. */
export const LATENCY_BUCKETS = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10] as const;

/** A histogram as plain numbers: per-bucket counts (not cumulative until exposed), sum and count. */
export class RawHistogram {
  readonly counts: number[];
  sum = 0;
  count = 0;
  constructor(readonly bounds: readonly number[] = LATENCY_BUCKETS) {
    this.counts = new Array<number>(bounds.length + 1).fill(0);
  }
  observe(seconds: number): void {
    const b = this.bounds;
    let i = 0;
    while (i < b.length && seconds > b[i]!) i++;
    this.counts[i]!++;
    this.sum += seconds;
    this.count++;
  }
  /** prom-client's histogram values for one label set: cumulative `_bucket`s (le), `_sum`, `_count`. */
  values(name: string, labels: Labels, out: MetricValue[] = []): MetricValue[] {
    let acc = 0;
    for (let i = 0; i < this.bounds.length; i++) {
      acc += this.counts[i]!;
      out.push({ metricName: `${name}_bucket`, labels: { ...labels, le: this.bounds[i]! }, value: acc });
    }
    out.push({ metricName: `${name}_bucket`, labels: { ...labels, le: '+Inf' }, value: this.count });
    out.push({ metricName: `${name}_sum`, labels, value: this.sum });
    out.push({ metricName: `${name}_count`, labels, value: this.count });
    return out;
  }
}

/** Outcomes of HTTP requests (status class) and messages. Fixed, so label values stay bounded. */
export const OUTCOMES = ['1xx', '2xx', '3xx', '4xx', '5xx', 'aborted', 'upgraded', 'ok', 'error', 'timeout', 'busy'] as const;
export type Outcome = (typeof OUTCOMES)[number];
export const OUTCOME_INDEX: Readonly<Record<Outcome, number>> = Object.fromEntries(OUTCOMES.map((o, i) => [o, i])) as Record<Outcome, number>;

/** The outcome index of an HTTP status code (1xx..5xx). */
export function statusClass(status: number): number {
  const c = (status / 100) | 0;
  return c >= 1 && c <= 5 ? c - 1 : 4;
}

/** One module route's counts: by outcome, and a latency histogram. Shared by every version of the module. */
export class RouteStats {
  readonly outcomes = new Array<number>(OUTCOMES.length).fill(0);
  readonly latency = new RawHistogram();
  constructor(
    readonly module: string,
    readonly route: string,
    readonly kind: string,
  ) {}
  done(outcome: number, seconds: number): void {
    this.outcomes[outcome]!++;
    this.latency.observe(seconds);
  }
  get total(): number {
    let n = 0;
    for (const c of this.outcomes) n += c;
    return n;
  }
  /** Requests that failed: 5xx, aborted, error, timeout, busy. */
  get failed(): number {
    const o = this.outcomes;
    return o[OUTCOME_INDEX['5xx']]! + o[OUTCOME_INDEX.aborted]! + o[OUTCOME_INDEX.error]! + o[OUTCOME_INDEX.timeout]! + o[OUTCOME_INDEX.busy]!;
  }
}

/** `hrmr_requests_total` and `hrmr_request_duration_seconds` over every route's stats. */
export function routeMetrics(all: () => Iterable<RouteStats>): [Computed, Computed] {
  const total = new Computed('hrmr_requests_total', 'Requests (HTTP) and messages answered, by module, route and outcome (HTTP status class; ok, error, timeout or busy for messages)', 'counter', () => {
    const out: MetricValue[] = [];
    for (const s of all()) {
      for (let i = 0; i < OUTCOMES.length; i++) if (s.outcomes[i]! > 0) out.push({ labels: { module: s.module, route: s.route, outcome: OUTCOMES[i]! }, value: s.outcomes[i]! });
    }
    return out;
  });
  const latency = new Computed('hrmr_request_duration_seconds', 'Time from a request head (or message) to its response (reply), by module and route', 'histogram', () => {
    const out: MetricValue[] = [];
    for (const s of all()) s.latency.values('hrmr_request_duration_seconds', { module: s.module, route: s.route }, out);
    return out;
  });
  return [total, latency];
}
