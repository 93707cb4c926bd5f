// SPDX-License-Identifier: LGPL-3.0-or-later
/**
 * Finds files under the root and reads what is needed to serve them: stat
 * data, validators, the precomputed 200 headers and, for small files, the
 * bytes. Both steps are asynchronous (the event loop is shared by every
 * protocol): `locate` only looks at metadata (stat, realpath), so a 404 or a
 * new spelling of a cached file costs no read; `load` reads, and only files
 * up to `cacheMaxFile`. Files are known by their real path and identity
 * (dev, inode, size, mtime, ctime): see `fileKey` and `sameFiles`.
 */
import { createHash } from 'node:crypto';
import { realpathSync, statSync, type Stats } from 'node:fs';
import { open, realpath, stat } from 'node:fs/promises';
import { join, relative, sep } from 'node:path';
import { contentType } from './mime.ts';
import { wireHead } from './raw-response.ts';
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
  readonly dev: number;
  readonly etag: string;
  readonly lastModified: string;
  readonly type: string;
  /** Whether other encodings exist (then `Vary: Accept-Encoding` is sent). */
  readonly vary: boolean;
  /** The bytes, or null when the file is streamed from disk. */
  readonly body: Buffer | null;
  /**
   * A small body again as a latin1 string (one char per byte): `res.end(text, 'latin1')`
   * sends head and body in one write, where a Buffer costs a corked two-chunk writev.
   */
  readonly text: string | null;
  /** Flat [name, value, ...] headers of a full 200 response. */
  readonly headers: readonly string[];
  /** The same as wire text (status line and headers, no Date/Connection): see raw-response.ts; null if node must write them. */
  readonly wire: string | null;
  /** Headers of a 304 for this variant. */
  readonly notModified: readonly string[];
  /** The 304 as wire text, as `wire`. */
  readonly wire304: string | null;
}

export interface Resource {
  readonly identity: Variant;
  readonly br: Variant | null;
  readonly gzip: Variant | null;
  /** Bytes held in memory. */
  readonly bytes: number;
}

/** A file found on disk (metadata only). */
export interface Found {
  readonly real: string;
  readonly st: Stats;
}

/** What a request path names, before anything is read. */
export interface Located {
  readonly kind: 'file';
  /** The cache key of the resource: its real path and the type its name gives (a symlink `x.css` to `x.txt` is another resource). */
  readonly key: string;
  readonly type: string;
  readonly identity: Found;
  readonly br: Found | null;
  readonly gzip: Found | null;
}

export type Location = Located | { kind: 'redirect'; location: string } | { kind: 'missing' };

const NO_THROW = { throwIfNoEntry: false } as const;
const MISSING: Location = { kind: 'missing' };

/** Same file as when the variant was made: dev, inode, size, mtime, ctime. */
function same(v: Variant, st: Stats): boolean {
  return st.ino === v.ino && st.dev === v.dev && st.size === v.size && st.mtimeMs === v.mtimeMs && st.ctimeMs === v.ctimeMs;
}

/** True while the file on disk is still the one the variant was made from (a synchronous stat: `cache-check=stat` hits only). */
export function isFresh(v: Variant): boolean {
  const st = statSync(v.file, NO_THROW);
  return st !== undefined && same(v, st);
}

/** The same, asynchronously. */
export async function isFreshAsync(v: Variant): Promise<boolean> {
  const st = await stat(v.file).catch(() => undefined);
  return st !== undefined && same(v, st);
}

/** Whether a cached resource is still exactly what `loc` found on disk (every variant, and no sibling came or went). */
export function sameFiles(r: Resource, loc: Located): boolean {
  const pair = (v: Variant | null, f: Found | null): boolean => (v === null ? f === null : f !== null && v.file === f.real && same(v, f.st));
  return pair(r.identity, loc.identity) && pair(r.br, loc.br) && pair(r.gzip, loc.gzip);
}

/** Headers shared by 200, 206 and 304 answers for a variant (no length). */
export function baseHeaders(v: Variant): string[] {
  const h = ['Content-Type', v.type, 'Last-Modified', v.lastModified, 'ETag', v.etag, 'Accept-Ranges', 'bytes', 'X-Content-Type-Options', 'nosniff'];
  if (v.encoding) h.push('Content-Encoding', v.encoding);
  if (v.vary) h.push('Vary', 'Accept-Encoding');
  return h;
}

/** Bodies up to this size are also kept as a string (see Variant.text); larger ones gain nothing from one write. */
export const TEXT_MAX = 16 * 1024;

const statOrNull = (p: string): Promise<Stats | undefined> => stat(p).catch(() => undefined);

/** Hashed in slices with a turn of the event loop between them, so a big `cache-max-file` never blocks it for long. */
const HASH_SLICE = 256 * 1024;

async function sha1(body: Buffer): Promise<string> {
  const h = createHash('sha1');
  for (let at = 0; at < body.length; at += HASH_SLICE) {
    if (at > 0) await new Promise((r) => setImmediate(r));
    h.update(body.subarray(at, at + HASH_SLICE));
  }
  return h.digest('base64url');
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

  /** Resolves validated segments (see url-path.ts) to a file, a redirect or nothing; reads no file. */
  async locate(segments: readonly string[], trailingSlash: boolean): Promise<Location> {
    let path = segments.length === 0 ? this.root : join(this.root, ...segments);
    let st = await statOrNull(path);
    if (st === undefined) return MISSING;
    if (st.isDirectory()) {
      // A folder reached through a symlink that leaves the root is as missing as any other escape: no redirect that says it exists.
      if (segments.length > 0 && (await this.inside(path)) === null) return MISSING;
      if (!trailingSlash && segments.length > 0) return { kind: 'redirect', location: encodePath(segments, true) };
      path = join(path, 'index.html');
      st = await statOrNull(path);
      if (st === undefined) return MISSING;
    } else if (trailingSlash) return MISSING;
    if (!st.isFile()) return MISSING;
    const [real, br, gzip] = await Promise.all([this.inside(path), this.sibling(path + '.br'), this.sibling(path + '.gz')]);
    if (real === null) return MISSING;
    const type = contentType(path);
    return { kind: 'file', key: real + '\0' + type, type, identity: { real, st }, br, gzip };
  }

  /** Reads what `loc` found (bodies up to cacheMaxFile); null if a file changed or vanished since. */
  async load(loc: Located): Promise<Resource | null> {
    const vary = loc.br !== null || loc.gzip !== null;
    const [identity, br, gzip] = await Promise.all([
      this.variant(loc.identity, loc.type, null, vary),
      loc.br === null ? null : this.variant(loc.br, loc.type, 'br', true),
      loc.gzip === null ? null : this.variant(loc.gzip, loc.type, 'gzip', true),
    ]);
    if (identity === null || (loc.br !== null && br === null) || (loc.gzip !== null && gzip === null)) return null;
    const held = (v: Variant | null): number => (v?.body?.length ?? 0) + (v?.text?.length ?? 0);
    const bytes = held(identity) + held(br) + held(gzip);
    return { identity, br, gzip, bytes };
  }

  /** The real path if it stays inside the root and has no dot segment; else null (symlink escapes). */
  private async inside(path: string): Promise<string | null> {
    let real: string;
    try {
      real = await realpath(path);
    } catch {
      return null;
    }
    if (!real.startsWith(this.rootPrefix)) return null;
    const rel = relative(this.realRoot, real);
    for (const seg of rel.split(sep)) if (seg.charCodeAt(0) === 46) return null;
    return real;
  }

  private async sibling(p: string): Promise<Found | null> {
    const st = await statOrNull(p);
    if (st === undefined || !st.isFile()) return null;
    const real = await this.inside(p);
    return real === null ? null : { real, st };
  }

  /**
   * Reads one variant through one descriptor, so the bytes, the identity
   * checked and the validators all belong to the same file: its inode must
   * be the one `locate` saw, and it must not change while being read.
   */
  private async variant(f: Found, type: string, encoding: Encoding | null, vary: boolean): Promise<Variant | null> {
    let fh;
    try {
      fh = await open(f.real, 'r');
    } catch {
      return null;
    }
    try {
      let st = await fh.stat();
      if (!st.isFile() || st.ino !== f.st.ino || st.dev !== f.st.dev) return null;
      let body: Buffer | null = null;
      let etag: string;
      if (st.size <= this.cacheMaxFile) {
        body = await fh.readFile();
        const again = await fh.stat();
        if (again.size !== body.length || again.mtimeMs !== st.mtimeMs) return null;
        st = again;
        etag = '"' + (await sha1(body)).slice(0, 22) + (encoding ? '-' + encoding : '') + '"';
      } else {
        etag = '"' + st.size.toString(16) + '-' + Math.floor(st.mtimeMs * 1000).toString(16) + '-' + st.ino.toString(16) + (encoding ? '-' + encoding : '') + '"';
      }
      const lastModified = new Date(Math.floor(st.mtimeMs / 1000) * 1000).toUTCString();
      const text = body !== null && body.length <= TEXT_MAX ? body.toString('latin1') : null;
      const v = { file: f.real, encoding, size: st.size, mtimeMs: st.mtimeMs, ctimeMs: st.ctimeMs, ino: st.ino, dev: st.dev, etag, lastModified, type, vary, body, text, headers: [] as string[], wire: null as string | null, notModified: [] as string[], wire304: null as string | null };
      v.headers = baseHeaders(v);
      v.headers.push('Content-Length', String(st.size));
      v.wire = wireHead(v.headers);
      v.notModified = ['ETag', etag, 'Last-Modified', lastModified];
      if (vary) v.notModified.push('Vary', 'Accept-Encoding');
      v.wire304 = wireHead(v.notModified, 304);
      return v;
    } catch {
      return null;
    } finally {
      await fh.close().catch(() => undefined);
    }
  }
}
