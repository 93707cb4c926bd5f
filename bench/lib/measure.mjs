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
