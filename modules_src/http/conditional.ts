// SPDX-License-Identifier: LGPL-3.0-or-later
/**
 * Conditional requests and byte ranges (RFC 9110 sections 13 and 14), pure.
 */

/** True if an `If-None-Match` list matches the ETag (weak comparison, as the RFC asks for this header). */
export function noneMatch(header: string, etag: string): boolean {
  const h = header.trim();
  if (h === '*') return true;
  const bare = etag.startsWith('W/') ? etag.slice(2) : etag;
  for (const part of h.split(',')) {
    let t = part.trim();
    if (t.startsWith('W/')) t = t.slice(2);
    if (t === bare) return true;
  }
  return false;
}

/** True if the resource was not modified since the `If-Modified-Since` date (mtime in ms). */
export function notModifiedSince(header: string, mtimeMs: number): boolean {
  const since = Date.parse(header);
  if (Number.isNaN(since)) return false;
  return Math.floor(mtimeMs / 1000) * 1000 <= since;
}

/** Whether a GET with these validators gets 304 (If-None-Match wins over If-Modified-Since). */
export function isNotModified(ifNoneMatch: string | undefined, ifModifiedSince: string | undefined, etag: string, mtimeMs: number): boolean {
  if (ifNoneMatch !== undefined) return noneMatch(ifNoneMatch, etag);
  if (ifModifiedSince !== undefined) return notModifiedSince(ifModifiedSince, mtimeMs);
  return false;
}

/** An inclusive byte range. */
export interface ByteRange {
  readonly start: number;
  readonly end: number;
}

/** `null`: ignore the header and send the whole body; `'unsatisfiable'`: 416. */
export type RangeResult = ByteRange | 'unsatisfiable' | null;

/**
 * Parses a single `bytes=` range against a body of `size` bytes. Multiple
 * ranges and syntax it does not know are ignored (a 200 is always allowed).
 */
export function parseRange(header: string, size: number): RangeResult {
  const m = /^\s*bytes\s*=\s*(\d*)\s*-\s*(\d*)\s*$/i.exec(header);
  if (!m) return null;
  const a = m[1]!;
  const b = m[2]!;
  if (a === '' && b === '') return null;
  if (a === '') {
    // Suffix range: the last N bytes.
    const n = Number(b);
    if (n === 0 || size === 0) return 'unsatisfiable';
    return { start: Math.max(0, size - n), end: size - 1 };
  }
  const start = Number(a);
  let end = b === '' ? size - 1 : Number(b);
  if (b !== '' && end < start) return null;
  if (start >= size) return 'unsatisfiable';
  if (end >= size) end = size - 1;
  return { start, end };
}

/** Whether `If-Range` allows the range: it must match the strong ETag or the exact Last-Modified date. */
export function ifRangeMatches(header: string, etag: string, lastModified: string): boolean {
  const h = header.trim();
  if (h.startsWith('"')) return h === etag && !etag.startsWith('W/');
  return h === lastModified;
}

/** Which precompressed variant to serve for an Accept-Encoding header, given what exists. */
export function pickEncoding(accept: string | undefined, hasBr: boolean, hasGzip: boolean): 'br' | 'gzip' | null {
  if (accept === undefined || (!hasBr && !hasGzip)) return null;
  let br = false;
  let gzip = false;
  for (const part of accept.split(',')) {
    const [name, ...params] = part.split(';');
    const coding = name!.trim().toLowerCase();
    let q = 1;
    for (const p of params) {
      const kv = p.trim().toLowerCase();
      if (kv.startsWith('q=')) q = Number(kv.slice(2));
    }
    if (!(q > 0)) continue;
    if (coding === 'br' || coding === '*') br = true;
    if (coding === 'gzip' || coding === 'x-gzip' || coding === '*') gzip = true;
  }
  if (br && hasBr) return 'br';
  if (gzip && hasGzip) return 'gzip';
  return null;
}
