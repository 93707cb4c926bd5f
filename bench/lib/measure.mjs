// SPDX-License-Identifier: LGPL-3.0-or-later
/**
 * Paired measurement on a noisy machine: the subject and its baseline are
 * run alternately (A B, B A, A B, ...: the order flips each round so a slow
 * drift hits both sides alike), and the medians are compared.
 */
import { config } from './config.mjs';

export function median(xs) {
  const v = xs.filter((x) => typeof x === 'number' && Number.isFinite(x));
  if (v.length === 0) return NaN;
  v.sort((a, b) => a - b);
  const m = v.length >> 1;
  return v.length % 2 ? v[m] : (v[m - 1] + v[m]) / 2;
}

/**
 * Runs `a` and `b` (each `(seconds) => Promise<result>`) alternately for
 * `rounds` rounds, after one warm-up run each, and returns every result of
 * each side (in run order).
 */
export async function alternate({ a, b, rounds = config.rounds, durationS = config.durationS, warmupS = config.warmupS }) {
  if (warmupS > 0) {
    await a(warmupS);
    await b(warmupS);
  }
  const as = [];
  const bs = [];
  for (let r = 0; r < rounds; r++) {
    if (r % 2 === 0) {
      as.push(await a(durationS));
      bs.push(await b(durationS));
    } else {
      bs.push(await b(durationS));
      as.push(await a(durationS));
    }
  }
  return { a: as, b: bs };
}

/**
 * `alternate` for more than two sides: `sides` is `{ name: (seconds) => Promise<result> }`.
 * One warm-up run each, then `rounds` rounds; each round runs every side once,
 * in an order that rotates by one each round and reverses every other round,
 * so no side always runs first or right after the same neighbour. Returns
 * `{ name: [results in run order] }`.
 */
export async function rotate({ sides, rounds = config.rounds, durationS = config.durationS, warmupS = config.warmupS }) {
  const names = Object.keys(sides);
  const out = Object.fromEntries(names.map((n) => [n, []]));
  if (warmupS > 0) for (const n of names) await sides[n](warmupS);
  for (let r = 0; r < rounds; r++) {
    let order = names.map((_, i) => names[(i + r) % names.length]);
    if (r % 2 === 1) order = order.reverse();
    for (const n of order) out[n].push(await sides[n](durationS));
  }
  return out;
}

/**
 * Duet measurement (Bulej et al., "Duet Benchmarking: Improving Measurement
 * Accuracy in the Cloud", 2020): `a` and `b` run at the same time, each with
 * its own load, both servers on the one server CPU. Whatever the host does to
 * that CPU (neighbours, frequency) hits both sides in the same instant, so
 * their ratio holds where two runs one after the other do not: on this host
 * two identical plain servers measured one after the other read 0.83 to 1.10
 * of each other (5 rounds of 2 s), and 0.99 to 1.01 in CPU per request
 * measured as a duet (docs/benchmarks.md, "Duet measurement"). Each side
 * gets about half the core, so the absolute rates are about half a solo
 * run's. BENCH_SOLO=1 falls back to `alternate`.
 *
 * Same contract as `alternate`: `{ a: [...], b: [...] }`, round i of a beside round i of b.
 */
export async function duet({ a, b, rounds = config.rounds, durationS = config.durationS, warmupS = config.warmupS }) {
  if (process.env.BENCH_SOLO === '1') return alternate({ a, b, rounds, durationS, warmupS });
  if (warmupS > 0) await Promise.all([a(warmupS), b(warmupS)]);
  const as = [];
  const bs = [];
  for (let r = 0; r < rounds; r++) {
    const [x, y] = await Promise.all([a(durationS), b(durationS)]);
    as.push(x);
    bs.push(y);
  }
  return { a: as, b: bs };
}

/** Median over rounds of f(a[i]) / f(b[i]): the ratio of each round's pair, so a round that was slow for both cancels out. */
export function pairedRatio(as, bs, f) {
  const n = Math.min(as.length, bs.length);
  const q = [];
  for (let i = 0; i < n; i++) q.push(f(as[i]) / f(bs[i]));
  return median(q);
}

/** Percentile (0..1) of finite numbers, nearest rank; NaN when there are none. */
export function percentile(xs, p) {
  const v = xs.filter((x) => typeof x === 'number' && Number.isFinite(x)).sort((a, b) => a - b);
  if (v.length === 0) return NaN;
  return v[Math.min(v.length - 1, Math.max(0, Math.ceil(p * v.length) - 1))];
}
