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

/** Percentile (0..1) of finite numbers, nearest rank; NaN when there are none. */
export function percentile(xs, p) {
  const v = xs.filter((x) => typeof x === 'number' && Number.isFinite(x)).sort((a, b) => a - b);
  if (v.length === 0) return NaN;
  return v[Math.min(v.length - 1, Math.max(0, Math.ceil(p * v.length) - 1))];
}
