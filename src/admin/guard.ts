// SPDX-License-Identifier: LGPL-3.0-or-later
/**
 * Per-server counters and limits that protect the admin channel and bound
 * the work spent on refused connections: AUTH failures (logged at warn and
 * counted), the admin reserve (sessions accepted beyond --max-connections so
 * a full server can still be inspected and stopped), and the connections
 * over the limit that are being answered.
 */
import type { Logger } from 'pino';

/** Admin sessions accepted beyond --max-connections. */
export const ADMIN_RESERVE = 16;
/** Wrong AUTH tokens a connection may send; the last one closes it. */
export const MAX_AUTH_FAILURES = 3;
/** Connections over --max-connections answered at once (peeked for their protocol, then told busy); more are closed unanswered. */
export const MAX_OVER_LIMIT = 256;
/** How long a connection over the limit may take to send its first bytes (capped by --peek-timeout). */
export const OVER_LIMIT_PEEK_MS = 1000;
/**
 * Every admin session must complete a command within this time (and be
 * authorized by then), or it is closed: an unfinished line must not hold a
 * --max-connections slot (or a reserve slot) for good.
 */
export const ADMIN_FIRST_COMMAND_MS = 5000;
/** The same rule for the reserve (its first command must also leave it authorized). */
export const RESERVE_FIRST_COMMAND_MS = ADMIN_FIRST_COMMAND_MS;

export class ConnectionGuard {
  authFailures = 0;
  reserveInUse = 0;
  /** Connections over the limit still open (being answered, or in the admin reserve). */
  overLimit = 0;
  /** Connections over the limit closed without an answer (MAX_OVER_LIMIT reached). */
  unanswered = 0;

  constructor(readonly log: Logger) {}

  /** One wrong `AUTH` token; `n` is the count on this connection. */
  authFailed(peer: string, n: number): void {
    this.authFailures++;
    this.log.warn({ peer, failures: n, closing: n >= MAX_AUTH_FAILURES }, 'admin AUTH failed: wrong token');
  }

  /** Fields merged into STATUS. */
  stats(): Record<string, unknown> {
    return {
      authFailures: this.authFailures,
      adminReserve: { size: ADMIN_RESERVE, inUse: this.reserveInUse },
      overLimit: { open: this.overLimit, max: MAX_OVER_LIMIT, unanswered: this.unanswered },
    };
  }
}
