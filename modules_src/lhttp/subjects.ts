// SPDX-License-Identifier: LGPL-3.0-or-later
/**
 * Channel names as NATS subjects (the original's bus): tokens separated by
 * `.`; in a subscription `*` matches exactly one token and `>` (last token
 * only) one or more. Pure.
 */

/** Longest channel name accepted (bytes). */
export const MAX_CHANNEL = 256;

/** Is `name` a valid subscription (wildcards allowed)? */
export function validPattern(name: string): boolean {
  if (name.length === 0 || name.length > MAX_CHANNEL || hasBadChar(name)) return false;
  const t = name.split('.');
  for (let i = 0; i < t.length; i++) {
    const tok = t[i]!;
    if (tok === '') return false;
    if (tok === '>' && i !== t.length - 1) return false;
  }
  return true;
}

/** Is `name` a valid publish subject (no wildcard tokens)? */
export function validSubject(name: string): boolean {
  if (name.length === 0 || name.length > MAX_CHANNEL || hasBadChar(name)) return false;
  const t = name.split('.');
  for (const tok of t) if (tok === '' || tok === '*' || tok === '>') return false;
  return true;
}

/** Does the pattern hold a wildcard token? */
export function isWildcard(pattern: string): boolean {
  if (!pattern.includes('*') && !pattern.includes('>')) return false;
  return pattern.split('.').some((t) => t === '*' || t === '>');
}

/** Pattern tokens, for {@link matchTokens}. */
export function tokens(pattern: string): string[] {
  return pattern.split('.');
}

/** Does the subject match the pattern's tokens (NATS rules)? */
export function matchTokens(pattern: readonly string[], subject: string): boolean {
  const s = subject.split('.');
  for (let i = 0; i < pattern.length; i++) {
    const p = pattern[i]!;
    if (p === '>') return s.length > i;
    if (i >= s.length) return false;
    if (p !== '*' && p !== s[i]) return false;
  }
  return s.length === pattern.length;
}

export function match(pattern: string, subject: string): boolean {
  return matchTokens(tokens(pattern), subject);
}

/**
 * A Redis PSUBSCRIBE glob that matches at least every subject the pattern
 * matches (a superset: `*` in a glob also crosses dots), so deliveries are
 * filtered again with {@link matchTokens}.
 */
export function toGlob(pattern: string): string {
  return pattern
    .split('.')
    .map((t) => (t === '*' || t === '>' ? '*' : t.replace(/[*?[\]\\^]/g, (c) => `\\${c}`)))
    .join('.');
}

function hasBadChar(name: string): boolean {
  // Control characters, spaces and DEL never make a channel name.
  // eslint-disable-next-line no-control-regex
  return /[\x00-\x20\x7f]/.test(name);
}
