// SPDX-License-Identifier: LGPL-3.0-or-later
/**
 * Matching TLS connections by the server name of their ClientHello (read,
 * not consumed). Pure: no I/O.
 *
 * Names: exact (`db.internal`) beats wildcard (`*.bots.internal`, which
 * matches one more label: `a.bots.internal`, not `bots.internal` nor
 * `a.b.bots.internal`).
 */
import { parseClientHello } from '../tls/client-hello.ts';
import type { Matcher } from './matcher.ts';
import { MatchState, type MatchResult, type PrefixEntry } from './prefix-table.ts';

/** A server-name pattern, normalised, or null if it is not one. */
export function sniPattern(raw: string): string | null {
  let s = raw.trim().toLowerCase();
  if (s.endsWith('.')) s = s.slice(0, -1);
  if (!/^(\*\.)?[a-z0-9_-]+(\.[a-z0-9_-]+)*$/.test(s) || s.length > 253) return null;
  return s;
}

/** Exact names, then `*.` wildcards one label deep. */
export class SniTable<T> {
  private readonly exact = new Map<string, T>();
  private readonly wild = new Map<string, T>();

  /** `pattern` must come from sniPattern(). Returns false if the pattern is already taken. */
  add(pattern: string, target: T): boolean {
    const wild = pattern.startsWith('*.');
    const map = wild ? this.wild : this.exact;
    const key = wild ? pattern.slice(2) : pattern;
    if (map.has(key)) return false;
    map.set(key, target);
    return true;
  }

  get size(): number {
    return this.exact.size + this.wild.size;
  }

  lookup(servername: string | null): T | undefined {
    if (servername === null) return undefined;
    const hit = this.exact.get(servername);
    if (hit !== undefined) return hit;
    const dot = servername.indexOf('.');
    return dot > 0 ? this.wild.get(servername.slice(dot + 1)) : undefined;
  }
}

/** What a TLS connection becomes when no SNI route takes it. */
export interface TlsOutcomes<T> {
  /** Terminate here (null: no certificate configured; the byte-prefix table decides instead). */
  readonly terminate: PrefixEntry<T> | null;
  /** The ClientHello has not all arrived: the best answer so far (timeouts and the byte limit end here). */
  readonly incomplete: PrefixEntry<T>;
  /** Not a ClientHello: closed. */
  readonly malformed: PrefixEntry<T>;
}

export class SniMatcher<T> implements Matcher<T> {
  constructor(
    private readonly routes: SniTable<PrefixEntry<T>>,
    private readonly outcomes: TlsOutcomes<T>,
    /** Decides when neither an SNI route nor termination does. */
    private readonly fallback: Matcher<T>,
  ) {}

  match(data: Buffer): MatchResult<T> {
    const hello = parseClientHello(data);
    if (hello.state === 'incomplete') return { state: MatchState.Undecided, entry: this.outcomes.incomplete };
    if (hello.state === 'invalid') return { state: MatchState.Matched, entry: this.outcomes.malformed };
    const route = this.routes.lookup(hello.servername);
    if (route !== undefined) return { state: MatchState.Matched, entry: route };
    if (this.outcomes.terminate !== null) return { state: MatchState.Matched, entry: this.outcomes.terminate };
    return this.fallback.match(data);
  }
}
