// SPDX-License-Identifier: LGPL-3.0-or-later
/**
 * The matcher seam: what decides a connection's route from its first bytes.
 * The peek only knows this interface. Implementations:
 *   - PrefixTable (prefix-table.ts): longest byte prefix;
 *   - SniMatcher (matcher-sni.ts): a TLS ClientHello's server name;
 *   - FirstByteSplit (below): one byte compare picks one of two matchers,
 *     so plain connections pay a single compare when TLS is on, and nothing
 *     when it is off (the table is then the PrefixTable itself).
 */
import type { MatchResult } from './prefix-table.ts';

export interface Matcher<T> {
  /** Decided, undecided (more bytes could change it) or no match; see MatchState. */
  match(data: Buffer): MatchResult<T>;
}

/** Connections whose first byte is `byte` go to `special`, every other one to `rest`. */
export class FirstByteSplit<T> implements Matcher<T> {
  constructor(
    private readonly byte: number,
    readonly special: Matcher<T>,
    readonly rest: Matcher<T>,
  ) {}

  match(data: Buffer): MatchResult<T> {
    return data.length > 0 && data[0] === this.byte ? this.special.match(data) : this.rest.match(data);
  }
}
