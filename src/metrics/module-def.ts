// SPDX-License-Identifier: LGPL-3.0-or-later
/**
 * What the main thread and pool workers share about module metrics
 * (`ctx.metrics`): the shape of a definition and of an update a worker
 * posts, the channel they travel on, and the checks on a definition.
 * No prom-client here: pool workers load this file. Pure but for the
 * channel name.
 */
import type { MetricCounter, MetricGauge, MetricHistogram, ModuleMetrics } from '../../shared/index.ts';

export type ModuleMetricType = 'counter' | 'gauge' | 'histogram';

export interface MetricDef {
  module: string;
  name: string;
  help: string;
  type: ModuleMetricType;
  labels: string[];
  buckets?: number[];
}

export type MetricOpKind = 'inc' | 'dec' | 'set' | 'observe';
/** One update: metric name, what, its labels (null: none), value. */
export type MetricOp = [name: string, op: MetricOpKind, labels: Record<string, string | number> | null, value: number];

/** What a pool worker posts: definitions it has not posted yet, then updates. */
export interface MetricBatch {
  hrmrMetrics: 1;
  defs: MetricDef[];
  ops: MetricOp[];
}

/** The BroadcastChannel a process's pool workers post module metric updates on. */
export function metricsChannelName(): string {
  return `hrmr-metrics-${process.pid}`;
}

const NAME = /^hrmr_[a-zA-Z0-9_]+$/;
const LABEL = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

/** Checks a definition (throws a TypeError naming the problem) and returns it normalized. */
export function makeDef(module: string, type: ModuleMetricType, name: unknown, help: unknown, labels?: unknown, buckets?: unknown): MetricDef {
  if (typeof name !== 'string' || !NAME.test(name)) throw new TypeError(`ctx.metrics: metric name ${JSON.stringify(name)} must start with hrmr_ and hold only letters, digits and _`);
  if (type === 'counter' && !name.endsWith('_total')) throw new TypeError(`ctx.metrics: counter ${name} must end in _total`);
  if (type !== 'counter' && name.endsWith('_total')) throw new TypeError(`ctx.metrics: only a counter's name ends in _total (${name})`);
  if (typeof help !== 'string' || help.trim() === '') throw new TypeError(`ctx.metrics: ${name} needs a help text`);
  const list = labels === undefined ? [] : labels;
  if (!Array.isArray(list) || list.some((l) => typeof l !== 'string' || !LABEL.test(l) || l.startsWith('__') || l === 'le' || l === 'worker')) {
    throw new TypeError(`ctx.metrics: labels of ${name} must be an array of label names (not le, worker or __*)`);
  }
  const def: MetricDef = { module, name, help, type, labels: [...(list as string[])] };
  if (type === 'histogram' && buckets !== undefined) {
    if (!Array.isArray(buckets) || buckets.length === 0 || buckets.some((b, i) => typeof b !== 'number' || !Number.isFinite(b) || (i > 0 && b <= (buckets[i - 1] as number)))) {
      throw new TypeError(`ctx.metrics: buckets of ${name} must be increasing finite numbers`);
    }
    def.buckets = [...(buckets as number[])];
  }
  return def;
}

/** Whether two definitions are the same metric (a module asking again, e.g. its next version). */
export function sameDef(a: MetricDef, b: MetricDef): boolean {
  return a.module === b.module && a.type === b.type && a.labels.join(',') === b.labels.join(',');
}

export function conflict(have: MetricDef, want: MetricDef): Error {
  if (have.module !== want.module) return new TypeError(`ctx.metrics: ${want.name} is already a metric of ${have.module === '' ? 'hrmr' : `module ${have.module}`}`);
  return new TypeError(`ctx.metrics: ${want.name} was registered as a ${have.type} with labels [${have.labels.join(', ')}]`);
}

/** Splits `(labels?, value?)` / `(value?)` call forms. */
export function args(a: unknown, b: unknown, dflt: number): [Record<string, string | number> | null, number] {
  if (typeof a === 'object' && a !== null) return [a as Record<string, string | number>, typeof b === 'number' ? b : dflt];
  return [null, typeof a === 'number' ? a : dflt];
}

const noop = (): void => undefined;
const NOOP_COUNTER: MetricCounter = { inc: noop };
const NOOP_GAUGE: MetricGauge = { set: noop, inc: noop, dec: noop };
const NOOP_HISTOGRAM: MetricHistogram = { observe: noop };

/** `ctx.metrics` when metrics are off: definitions are still checked, so a module fails the same way everywhere. */
export function noopMetrics(module: string): ModuleMetrics {
  return {
    counter: (name, help, labels, _collect) => (makeDef(module, 'counter', name, help, labels), NOOP_COUNTER),
    gauge: (name, help, labels, _collect) => (makeDef(module, 'gauge', name, help, labels), NOOP_GAUGE),
    histogram: (name, help, labels, buckets) => (makeDef(module, 'histogram', name, help, labels, buckets), NOOP_HISTOGRAM),
  };
}
