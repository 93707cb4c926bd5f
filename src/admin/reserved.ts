// SPDX-License-Identifier: LGPL-3.0-or-later
/** Words that open an admin session. A module prefix starting with one is rejected at load. */
export const ADMIN_COMMANDS = ['RELOAD', 'CLOSE', 'SHUTDOWN', 'STATUS'] as const;
/** `AUTH <token>` also opens an admin session (needed when --admin-token is set). */
export const RESERVED_WORDS: readonly string[] = [...ADMIN_COMMANDS, 'AUTH'];

/** The prefixes the router claims for admin sessions. */
export function adminPrefixes(): string[] {
  const out: string[] = [];
  for (const w of ADMIN_COMMANDS) out.push(`${w}\n`, `${w}\r\n`);
  out.push('AUTH ');
  return out;
}

/** The reserved word a prefix would shadow, or null. */
export function shadowedWord(prefix: Buffer): string | null {
  for (const w of RESERVED_WORDS) {
    if (prefix.length >= w.length && prefix.toString('latin1', 0, w.length) === w) return w;
  }
  return null;
}
