// SPDX-License-Identifier: LGPL-3.0-or-later
/**
 * Who may read /metrics and the status page: the admin channel's rule.
 * Without --admin-token, loopback peers only. With it, every peer (loopback
 * included) presents the token, as `Authorization: Bearer <token>` or as
 * the password of HTTP Basic auth (so a browser can open the status page).
 * Pure: no I/O.
 */
import { timingSafeEqual } from 'node:crypto';
import { isLoopback } from '../admin/session.ts';

/** 200: serve; 401: ask for credentials (WWW-Authenticate: Basic); 403: refused. */
export type Access = 200 | 401 | 403;

export const BASIC_CHALLENGE = 'Basic realm="hrmr", charset="UTF-8"';

export function checkAccess(token: string | null, peer: string | undefined, authorization: string | undefined): Access {
  if (token === null) return isLoopback(peer) ? 200 : 403;
  const given = presented(authorization);
  if (given === null) return 401;
  return sameToken(given, token) ? 200 : 403;
}

/** The token in an Authorization header (Bearer, or the password of Basic), or null if none is there. */
export function presented(authorization: string | undefined): string | null {
  if (authorization === undefined) return null;
  const h = authorization.trim();
  const sp = h.indexOf(' ');
  if (sp < 0) return null;
  const scheme = h.slice(0, sp).toLowerCase();
  const rest = h.slice(sp + 1).trim();
  if (scheme === 'bearer') return rest;
  if (scheme === 'basic') {
    const decoded = Buffer.from(rest, 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    return colon < 0 ? decoded : decoded.slice(colon + 1);
  }
  return null;
}

function sameToken(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}
