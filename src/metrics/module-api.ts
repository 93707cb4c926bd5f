// SPDX-License-Identifier: LGPL-3.0-or-later
/**
 * `ctx.metrics` on the main thread: module metrics as prom-client metrics in
 * the server's registry, one per name for the process (every version of a
 * module gets the same one). Pool workers post their updates on a
 * BroadcastChannel (worker-api.ts); they are applied here.
 */
import { BroadcastChannel } from 'node:worker_threads';
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import type { MetricCollect, MetricCounter, MetricGauge, MetricHistogram, ModuleMetrics } from '../../shared/index.ts';
import { LATENCY_BUCKETS } from './computed.ts';
import { args, conflict, makeDef, metricsChannelName, noopMetrics, sameDef, type MetricBatch, type MetricDef } from './module-def.ts';

interface Entry {
  def: MetricDef;
  metric: Counter | Gauge | Histogram;
  api: MetricCounter | MetricGauge | MetricHistogram;
  /** The newest version's reader (see MetricCollect). */
  collect: MetricCollect | null;
}

type Labeled = Record<string, string | number>;

class ModuleMetricStore {
  private registry: Registry | null = null;
  private readonly byName = new Map<string, Entry>();
  private readonly apis = new Map<string, ModuleMetrics>();
  private channel: BroadcastChannel | null = null;
  onError: (err: unknown) => void = () => undefined;

  /** Metrics are on: module metrics go to `registry`, and pool workers' updates are taken in. */
  attach(registry: Registry, onError: (err: unknown) => void): void {
    this.registry = registry;
    this.onError = onError;
    this.apis.clear();
    this.channel = new BroadcastChannel(metricsChannelName());
    this.channel.unref();
    this.channel.onmessage = (e: unknown) => {
      const b = (e as MessageEvent).data as MetricBatch | null;
      if (b?.hrmrMetrics === 1) this.take(b);
    };
  }

  close(): void {
    this.channel?.close();
    this.channel = null;
  }

  for(module: string): ModuleMetrics {
    let api = this.apis.get(module);
    if (api === undefined) {
      api = this.registry === null ? noopMetrics(module) : this.live(module);
      this.apis.set(module, api);
    }
    return api;
  }

  private live(module: string): ModuleMetrics {
    return {
      counter: (name, help, labels, collect) => this.define(makeDef(module, 'counter', name, help, labels), collect).api as MetricCounter,
      gauge: (name, help, labels, collect) => this.define(makeDef(module, 'gauge', name, help, labels), collect).api as MetricGauge,
      histogram: (name, help, labels, buckets) => this.define(makeDef(module, 'histogram', name, help, labels, buckets)).api as MetricHistogram,
    };
  }

  private define(def: MetricDef, collect?: MetricCollect): Entry {
    if (collect !== undefined && typeof collect !== 'function') throw new TypeError(`ctx.metrics: collect of ${def.name} must be a function`);
    const have = this.byName.get(def.name);
    if (have !== undefined) {
      if (!sameDef(have.def, def)) throw conflict(have.def, def);
      if (collect !== undefined) have.collect = collect;
      return have;
    }
    const reg = this.registry!;
    // hrmr's own metrics (and prom-client's defaults) are in the registry but not in byName.
    if (reg.getSingleMetric(def.name) !== undefined) throw conflict({ ...def, module: '' }, def);
    // The entry is filled in below; prom-client calls collect() on it at every scrape.
    const holder: { e: Entry | null } = { e: null };
    const onError = (err: unknown): void => this.onError(err);
    const common = {
      name: def.name,
      help: def.help,
      labelNames: def.labels,
      registers: [reg],
      collect(this: Counter | Gauge): void {
        const f = holder.e?.collect;
        if (f) collectInto(this, f, onError);
      },
    };
    let entry: Entry;
    if (def.type === 'counter') {
      const m = new Counter(common);
      entry = { def, metric: m, collect: collect ?? null, api: { inc: (a?: unknown, b?: unknown) => inc(m, a, b) } as MetricCounter };
    } else if (def.type === 'gauge') {
      const m = new Gauge(common);
      const set = (l: Labeled | null, v: number): void => void (l === null ? m.set(v) : m.set(l, v));
      const api = { set: (a: unknown, b?: unknown) => withArgs(a, b, 0, set), inc: (a?: unknown, b?: unknown) => gaugeAdd(m, a, b, 1), dec: (a?: unknown, b?: unknown) => gaugeAdd(m, a, b, -1) };
      entry = { collect: collect ?? null, def, metric: m, api: api as MetricGauge };
    } else {
      const m = new Histogram({ name: def.name, help: def.help, labelNames: def.labels, registers: [reg], buckets: def.buckets ?? [...LATENCY_BUCKETS] });
      const observe = (l: Labeled | null, v: number): void => void (l === null ? m.observe(v) : m.observe(l, v));
      entry = { collect: null, def, metric: m, api: { observe: (a: unknown, b?: unknown) => withArgs(a, b, 0, observe) } as MetricHistogram };
    }
    holder.e = entry;
    this.byName.set(def.name, entry);
    return entry;
  }

  /** Updates from a pool worker. */
  private take(b: MetricBatch): void {
    for (const d of b.defs) {
      try {
        this.define(d);
      } catch (err) {
        this.onError(err);
      }
    }
    for (const [name, op, labels, value] of b.ops) {
      const e = this.byName.get(name);
      if (e === undefined) continue;
      try {
        const l = (labels ?? {}) as Labeled;
        if (op === 'inc') (e.metric as Counter).inc(l, value);
        else if (op === 'dec') (e.metric as Gauge).dec(l, value);
        else if (op === 'set') (e.metric as Gauge).set(l, value);
        else (e.metric as Histogram).observe(l, value);
      } catch (err) {
        this.onError(err);
      }
    }
  }
}

/** Sets a collected counter or gauge to what its reader says now. */
function collectInto(m: Counter | Gauge, f: MetricCollect, onError: (err: unknown) => void): void {
  let v: ReturnType<MetricCollect>;
  try {
    v = f();
  } catch (err) {
    onError(err);
    return;
  }
  // Nothing to read (the module is gone or not set up): no series rather than stale ones.
  m.reset();
  if (v === null || v === undefined) return;
  const put = (labels: Labeled | null, n: number): void => {
    if (!Number.isFinite(n)) return;
    if (m instanceof Gauge) {
      if (labels === null) m.set(n);
      else m.set(labels, n);
    } else if (n > 0) {
      if (labels === null) m.inc(n);
      else m.inc(labels, n);
    }
  };
  try {
    if (typeof v === 'number') put(null, v);
    else for (const [l, n] of v) put(l as Labeled, n);
  } catch (err) {
    onError(err);
  }
}

/** A call's `(labels?, value?)` arguments, sorted out and passed on (`labels` null without them). */
function withArgs(a: unknown, b: unknown, dflt: number, call: (labels: Labeled | null, v: number) => void): void {
  const [l, v] = args(a, b, dflt);
  call(l as Labeled | null, v);
}

function inc(m: Counter, a: unknown, b: unknown): void {
  const [l, v] = args(a, b, 1);
  if (l === null) m.inc(v);
  else m.inc(l as Labeled, v);
}

function gaugeAdd(m: Gauge, a: unknown, b: unknown, sign: 1 | -1): void {
  const [l, v] = args(a, b, 1);
  if (l === null) m.inc(sign * v);
  else m.inc(l as Labeled, sign * v);
}

export const moduleMetricStore = new ModuleMetricStore();

/** `ctx.metrics` of a module on the main thread. */
export function moduleMetrics(module: string): ModuleMetrics {
  return moduleMetricStore.for(module);
}
