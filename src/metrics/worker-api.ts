// SPDX-License-Identifier: LGPL-3.0-or-later
/**
 * `ctx.metrics` in a pool worker: updates are gathered here (counters
 * summed per series, gauges last value, histogram observations listed) and
 * posted to the main thread's registry (module-api.ts) on a
 * BroadcastChannel at most every FLUSH_MS. No prom-client in workers.
 */
import { BroadcastChannel } from 'node:worker_threads';
import type { MetricCounter, MetricGauge, MetricHistogram, ModuleMetrics } from '../../shared/index.ts';
import { args, conflict, makeDef, metricsChannelName, sameDef, type MetricBatch, type MetricDef, type MetricOp, type MetricOpKind } from './module-def.ts';

const FLUSH_MS = 200;

const defs = new Map<string, MetricDef>();
let unsent: MetricDef[] = [];
/** Counter and gauge updates by series (summed, or the last set); observations in order. */
const series = new Map<string, MetricOp>();
let observed: MetricOp[] = [];
let timer: NodeJS.Timeout | null = null;
let channel: BroadcastChannel | null = null;
const apis = new Map<string, ModuleMetrics>();

function flush(): void {
  timer = null;
  if (unsent.length === 0 && series.size === 0 && observed.length === 0) return;
  channel ??= new BroadcastChannel(metricsChannelName());
  channel.unref();
  const batch: MetricBatch = { hrmrMetrics: 1, defs: unsent, ops: [...series.values(), ...observed] };
  unsent = [];
  series.clear();
  observed = [];
  channel.postMessage(batch);
}

function schedule(): void {
  if (timer !== null) return;
  timer = setTimeout(flush, FLUSH_MS);
  timer.unref();
}

function record(name: string, op: MetricOpKind, labels: Record<string, string | number> | null, value: number): void {
  if (op === 'observe') observed.push([name, op, labels, value]);
  else {
    const key = `${name}\0${labels === null ? '' : JSON.stringify(labels)}`;
    const prev = series.get(key);
    if (op === 'set' || prev === undefined || prev[1] === 'set') {
      // A set after earlier adds wins; an add after a set is folded into it.
      if (prev !== undefined && prev[1] === 'set' && op !== 'set') prev[3] += op === 'dec' ? -value : value;
      else series.set(key, [name, op === 'dec' ? 'inc' : op, labels, op === 'dec' ? -value : value]);
    } else prev[3] += op === 'dec' ? -value : value;
  }
  schedule();
}

function define(def: MetricDef): void {
  const have = defs.get(def.name);
  if (have !== undefined) {
    if (!sameDef(have, def)) throw conflict(have, def);
    return;
  }
  defs.set(def.name, def);
  unsent.push(def);
  schedule();
}

/** `ctx.metrics` of a module in this worker thread. */
export function workerMetrics(module: string): ModuleMetrics {
  let api = apis.get(module);
  if (api !== undefined) return api;
  api = {
    counter(name, help, labels): MetricCounter {
      const d = makeDef(module, 'counter', name, help, labels);
      define(d);
      return { inc: (a?: unknown, b?: unknown) => void record(d.name, 'inc', ...args(a, b, 1)) } as MetricCounter;
    },
    gauge(name, help, labels): MetricGauge {
      const d = makeDef(module, 'gauge', name, help, labels);
      define(d);
      return {
        set: (a: unknown, b?: unknown) => void record(d.name, 'set', ...args(a, b, 0)),
        inc: (a?: unknown, b?: unknown) => void record(d.name, 'inc', ...args(a, b, 1)),
        dec: (a?: unknown, b?: unknown) => void record(d.name, 'dec', ...args(a, b, 1)),
      } as MetricGauge;
    },
    histogram(name, help, labels, buckets): MetricHistogram {
      const d = makeDef(module, 'histogram', name, help, labels, buckets);
      define(d);
      return { observe: (a: unknown, b?: unknown) => void record(d.name, 'observe', ...args(a, b, 0)) } as MetricHistogram;
    },
  };
  apis.set(module, api);
  return api;
}
