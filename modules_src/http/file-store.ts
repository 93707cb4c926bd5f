// SPDX-License-Identifier: LGPL-3.0-or-later
/**
 * Finds files under the root and keeps what is needed to serve them: stat
 * data, validators, the precomputed 200 headers and, for small files, the
 * bytes. A cached entry is re-checked with one statSync per request (a few
 * microseconds, and exact: an edited file is served fresh on the very next
 * request, which fs.watch cannot promise since its events arrive
 * asynchronously).
 */
import { createHash } from 'node:crypto';
import { readFileSync, realpathSync, statSync, type Stats } from 'node:fs';
import { join, relative, sep } from 'node:path';
import { contentType } from './mime.ts';
import { encodePath } from './url-path.ts';

export type Encoding = 'br' | 'gzip';

/** One representation of a resource: the file itself or a precompressed sibling. */
export interface Variant {
  /** Real (symlink-free) path, inside the root. */
  readonly file: string;
  readonly encoding: Encoding | null;
  readonly size: number;
  readonly mtimeMs: number;
  readonly ctimeMs: number;
  readonly ino: number;
  readonly etag: string;
  readonly lastModified: string;
  readonly type: string;
  /** Whether other encodings exist (then `Vary: Accept-Encoding` is sent). */
  readonly vary: boolean;
  /** The bytes, or null when the file is streamed from disk. */
  readonly body: Buffer | null;
  /** Flat [name, value, ...] headers of a full 200 response. */
  readonly headers: readonly string[];
}

export interface Resource {
  readonly identity: Variant;
  readonly br: Variant | null;
  readonly gzip: Variant | null;
  /** Bytes held in memory. */
  readonly bytes: number;
}

export type Lookup = { kind: 'file'; resource: Resource } | { kind: 'redirect'; location: string } | { kind: 'missing' };

const NO_THROW = { throwIfNoEntry: false } as const;
const MISSING: Lookup = { kind: 'missing' };

/** True while the file on disk is still the one the variant was made from. */
export function isFresh(v: Variant): boolean {
  const st = statSync(v.file, NO_THROW);
  return st !== undefined && st.mtimeMs === v.mtimeMs && st.size === v.size && st.ino === v.ino && st.ctimeMs === v.ctimeMs;
}

/** Headers shared by 200, 206 and 304 answers for a variant (no length). */
export function baseHeaders(v: Variant): string[] {
  const h = ['Content-Type', v.type, 'Last-Modified', v.lastModified, 'ETag', v.etag, 'Accept-Ranges', 'bytes', 'X-Content-Type-Options', 'nosniff'];
  if (v.encoding) h.push('Content-Encoding', v.encoding);
  if (v.vary) h.push('Vary', 'Accept-Encoding');
  return h;
}

export class FileStore {
  private readonly realRoot: string;
  private readonly rootPrefix: string;

  constructor(
    readonly root: string,
    private readonly cacheMaxFile: number,
  ) {
    let real = root;
    try {
      real = realpathSync(root);
    } catch {
      // A missing root serves 404s; the setup logs a warning.
    }
    this.realRoot = real;
    this.rootPrefix = real.endsWith(sep) ? real : real + sep;
  }

  /** Resolves validated segments (see url-path.ts) to a file, a redirect or nothing. */
  lookup(segments: readonly string[], trailingSlash: boolean): Lookup {
    let path = segments.length === 0 ? this.root : join(this.root, ...segments);
    let st = statSync(path, NO_THROW);
    if (st === undefined) return MISSING;
    if (st.isDirectory()) {
      // A folder reached through a symlink that leaves the root is as missing as any other escape: no redirect that says it exists.
      if (segments.length > 0 && this.inside(path) === null) return MISSING;
      if (!trailingSlash && segments.length > 0) return { kind: 'redirect', location: encodePath(segments, true) };
      path = join(path, 'index.html');
      st = statSync(path, NO_THROW);
      if (st === undefined) return MISSING;
    } else if (trailingSlash) return MISSING;
    if (!st.isFile()) return MISSING;
    const real = this.inside(path);
    if (real === null) return MISSING;
    const br = this.sibling(path, 'br');
    const gzip = this.sibling(path, 'gzip');
    const vary = br !== null || gzip !== null;
    const identity = this.variant(real, path, null, vary);
    if (identity === null) return MISSING;
    const brV = br === null ? null : this.variant(br, path, 'br', true);
    const gzV = gzip === null ? null : this.variant(gzip, path, 'gzip', true);
    const bytes = (identity.body?.length ?? 0) + (brV?.body?.length ?? 0) + (gzV?.body?.length ?? 0);
    return { kind: 'file', resource: { identity, br: brV, gzip: gzV, bytes } };
  }

  /** The real path if it stays inside the root and has no dot segment; else null (symlink escapes). */
  private inside(path: string): string | null {
    let real: string;
    try {
      real = realpathSync(path);
    } catch {
      return null;
    }
    if (!real.startsWith(this.rootPrefix)) return null;
    const rel = relative(this.realRoot, real);
    for (const seg of rel.split(sep)) if (seg.charCodeAt(0) === 46) return null;
    return real;
  }

  private sibling(path: string, enc: Encoding): string | null {
    const p = path + (enc === 'br' ? '.br' : '.gz');
    const st = statSync(p, NO_THROW);
    if (st === undefined || !st.isFile()) return null;
    return this.inside(p);
  }

  /** Reads one variant; `typeFrom` is the original file name (a .gz keeps its original's type). */
  private variant(file: string, typeFrom: string, encoding: Encoding | null, vary: boolean): Variant | null {
    let st: Stats | undefined = statSync(file, NO_THROW);
    if (st === undefined || !st.isFile()) return null;
    let body: Buffer | null = null;
    let etag: string;
    if (st.size <= this.cacheMaxFile) {
      try {
        body = readFileSync(file);
      } catch {
        return null;
      }
      // The file may have changed between stat and read: stat again so the freshness check sees the read version.
      const again = statSync(file, NO_THROW);
      if (again === undefined || again.size !== body.length) return null;
      st = again;
      etag = '"' + createHash('sha1').update(body).digest('base64url').slice(0, 22) + (encoding ? '-' + encoding : '') + '"';
    } else {
      etag = '"' + st.size.toString(16) + '-' + Math.floor(st.mtimeMs * 1000).toString(16) + '-' + st.ino.toString(16) + (encoding ? '-' + encoding : '') + '"';
    }
    const lastModified = new Date(Math.floor(st.mtimeMs / 1000) * 1000).toUTCString();
    const v = { file, encoding, size: st.size, mtimeMs: st.mtimeMs, ctimeMs: st.ctimeMs, ino: st.ino, etag, lastModified, type: contentType(typeFrom), vary, body, headers: [] as string[] };
    v.headers = baseHeaders(v);
    v.headers.push('Content-Length', String(st.size));
    return v;
  }
}
