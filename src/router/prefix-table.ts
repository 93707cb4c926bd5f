// SPDX-License-Identifier: LGPL-3.0-or-later
/**
 * Longest-prefix matching over the first bytes of a connection. Pure: no I/O.
 *
 * `match(bytes)` answers one of three things, so the peek loop knows whether
 * to keep reading: a decided match, "undecided" (a longer prefix could still
 * match once more bytes arrive), or no match at all.
 */

import type { Matcher } from './matcher.ts';

export interface PrefixEntry<T> {
  readonly prefix: Buffer;
  readonly target: T;
}

export const MatchState = {
  /** `entry` is final: no longer prefix can match whatever comes next. */
  Matched: 0,
  /** More bytes could change the answer; `entry` is the best match so far (may be null). */
  Undecided: 1,
  /** Nothing matches and nothing can; `entry` is null. */
  NoMatch: 2,
} as const;
export type MatchState = (typeof MatchState)[keyof typeof MatchState];

export interface MatchResult<T> {
  state: MatchState;
  entry: PrefixEntry<T> | null;
}

export class PrefixTable<T> implements Matcher<T> {
  /** Non-empty prefixes bucketed by first byte, longest first, so the first full match is the longest. */
  private readonly buckets: (PrefixEntry<T>[] | undefined)[] = new Array(256);
  private readonly fallback: PrefixEntry<T> | null;
  readonly size: number;

  constructor(entries: Iterable<PrefixEntry<T>>) {
    let fallback: PrefixEntry<T> | null = null;
    let size = 0;
    for (const e of entries) {
      size++;
      if (e.prefix.length === 0) {
        if (fallback) throw new Error('two default routes');
        fallback = e;
        continue;
      }
      const b = e.prefix[0]!;
      (this.buckets[b] ??= []).push(e);
    }
    for (const bucket of this.buckets) {
      if (!bucket) continue;
      bucket.sort((a, b) => b.prefix.length - a.prefix.length);
      for (let i = 1; i < bucket.length; i++) {
        if (bucket[i - 1]!.prefix.equals(bucket[i]!.prefix)) throw new Error(`duplicate prefix ${JSON.stringify(bucket[i]!.prefix.toString('latin1'))}`);
      }
    }
    this.fallback = fallback;
    this.size = size;
  }

  /** Longest prefix length in the table: reading more than this never changes a decision. */
  get maxPrefixLength(): number {
    let max = 0;
    for (const bucket of this.buckets) if (bucket && bucket[0]!.prefix.length > max) max = bucket[0]!.prefix.length;
    return max;
  }

  match(data: Buffer): MatchResult<T> {
    if (data.length === 0) {
      return { state: this.size === 0 ? MatchState.NoMatch : MatchState.Undecided, entry: null };
    }
    const bucket = this.buckets[data[0]!];
    let undecided = false;
    if (bucket) {
      const n = data.length;
      for (let i = 0; i < bucket.length; i++) {
        const e = bucket[i]!;
        const p = e.prefix;
        if (p.length > n) {
          // Could still match if what we have so far agrees with it.
          if (!undecided && sameBytes(p, data, n)) undecided = true;
        } else if (sameBytes(data, p, p.length)) {
          return { state: undecided ? MatchState.Undecided : MatchState.Matched, entry: e };
        }
      }
    }
    if (undecided) return { state: MatchState.Undecided, entry: this.fallback };
    return this.fallback ? { state: MatchState.Matched, entry: this.fallback } : { state: MatchState.NoMatch, entry: null };
  }
}

/**
 * Whether `a` and `b` agree on their first `n` bytes. A plain loop: a prefix
 * is a few bytes, and `Buffer#compare` with offsets first validates four
 * numbers and then crosses into C++ (measured: its `compareOffset` was 1-2%
 * of a new connection's server CPU).
 */
export function sameBytes(a: Uint8Array, b: Uint8Array, n: number): boolean {
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** Prefix as bytes: strings are UTF-8. */
export function prefixBytes(prefix: string | Uint8Array): Buffer {
  // A copy, so a module mutating its array later cannot change the table.
  return typeof prefix === 'string' ? Buffer.from(prefix, 'utf8') : Buffer.from(prefix);
}
