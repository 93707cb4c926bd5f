// SPDX-License-Identifier: LGPL-3.0-or-later
/**
 * Turns a request target into safe path segments under the root, or a status
 * to answer with. Pure: no file system access. The rules are strict on
 * purpose: anything that could step outside the root (`..`, encoded
 * separators, backslashes, NUL) is a 400, and dotfiles are a 404, so the
 * caller can join the segments to the root without further checks.
 */

export interface SafePath {
  readonly status: 0;
  /** Decoded, validated segments (no empty ones). */
  readonly segments: readonly string[];
  /** The path ended with `/` (a directory was asked for). */
  readonly trailingSlash: boolean;
}

export interface RejectedPath {
  readonly status: 400 | 404;
  readonly reason: string;
}

export type PathResult = SafePath | RejectedPath;

const bad = (reason: string): RejectedPath => ({ status: 400, reason });
const hidden = (reason: string): RejectedPath => ({ status: 404, reason });

/** Strips the scheme and authority of an absolute-form target (`http://host/x` gives `/x`). */
function originForm(target: string): string | null {
  if (target.charCodeAt(0) === 47 /* / */) return target;
  const m = /^https?:\/\/[^/?#]*/i.exec(target);
  if (!m) return null;
  const rest = target.slice(m[0].length);
  return rest === '' ? '/' : rest.charCodeAt(0) === 47 ? rest : null;
}

/** The path part of a request target (no query, no fragment), raw. */
export function rawPath(target: string): string {
  let end = target.length;
  const q = target.indexOf('?');
  if (q >= 0) end = q;
  const h = target.indexOf('#');
  if (h >= 0 && h < end) end = h;
  return end === target.length ? target : target.slice(0, end);
}

export function resolveUrlPath(target: string): PathResult {
  const form = originForm(target);
  if (form === null) return bad('not an origin-form or absolute-form target');
  const path = rawPath(form);
  if (path.includes('\\')) return bad('backslash');
  if (path.includes('\0')) return bad('NUL byte');
  const parts = path.split('/');
  const segments: string[] = [];
  for (let i = 1; i < parts.length; i++) {
    const raw = parts[i]!;
    if (raw === '') continue;
    let seg: string;
    try {
      seg = raw.includes('%') ? decodeURIComponent(raw) : raw;
    } catch {
      return bad('malformed percent-encoding');
    }
    if (seg === '.' || seg === '..') return bad('dot segment');
    if (seg.includes('/') || seg.includes('\\')) return bad('encoded separator');
    if (seg.includes('\0')) return bad('NUL byte');
    // eslint-disable-next-line no-control-regex
    if (/[\x00-\x1f\x7f]/.test(seg)) return bad('control character');
    if (seg.charCodeAt(0) === 46 /* . */) return hidden('dotfile');
    segments.push(seg);
  }
  return { status: 0, segments, trailingSlash: path.length > 1 && path.endsWith('/') };
}

/** The canonical URL path for segments (each re-encoded), for redirects: never starts with `//`. */
export function encodePath(segments: readonly string[], trailingSlash: boolean): string {
  let out = '';
  for (const s of segments) out += '/' + encodeURIComponent(s);
  return trailingSlash || out === '' ? out + '/' : out;
}
