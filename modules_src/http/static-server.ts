// SPDX-License-Identifier: LGPL-3.0-or-later
/**
 * The static file server: a request handler for the core's HTTP host
 * (node's own parser, routed by path), whose hot path for a cached file is
 * one map lookup, a scan of the raw headers, `writeHead` with precomputed
 * headers and `end(buffer)`.
 */
import { createReadStream } from 'node:fs';
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import { pipeline } from 'node:stream';
import type { Logger } from 'pino';
import { bodyFor } from '../../shared/status-body.ts';
import type { HttpOptions } from './config.ts';
import { ifRangeMatches, isNotModified, parseRange, pickEncoding } from './conditional.ts';
import { ResourceCache } from './cache.ts';
import { sendRaw } from './raw-response.ts';
import { baseHeaders, FileStore, isFresh, type Resource, type Variant } from './file-store.ts';
import { rawPath, resolveUrlPath, type SafePath } from './url-path.ts';

const STREAM_CHUNK = 64 * 1024;

const ALLOW = ['Allow', 'GET, HEAD'];
const PLAIN = 'text/plain; charset=utf-8';


/** The request headers the handler looks at, picked from rawHeaders without building `req.headers`. */
interface Wanted {
  host: boolean;
  acceptEncoding: string | undefined;
  ifNoneMatch: string | undefined;
  ifModifiedSince: string | undefined;
  range: string | undefined;
  ifRange: string | undefined;
}

/** `name` (same length as `lower`) equals `lower` ignoring ASCII case; no lower-cased copy made per header. */
function eq(name: string, lower: string): boolean {
  if (name === lower) return true;
  for (let i = 0; i < name.length; i++) {
    const c = name.charCodeAt(i);
    if ((c >= 65 && c <= 90 ? c + 32 : c) !== lower.charCodeAt(i)) return false;
  }
  return true;
}

export class StaticServer {
  readonly store: FileStore;
  /** Bound once: the route's `request`. */
  readonly handle: (req: IncomingMessage, res: ServerResponse) => void;
  /** Length of the mount cut off request paths (0 for `/`). */
  private readonly cut: number;
  readonly cache: ResourceCache;
  private readonly logLevel: Exclude<HttpOptions['accessLog'], 'off'> | null;
  /** Reused for every request: serve() is synchronous up to the point it reads it. */
  private readonly wanted: Wanted = { host: false, acceptEncoding: undefined, ifNoneMatch: undefined, ifModifiedSince: undefined, range: undefined, ifRange: undefined };

  constructor(
    private readonly opts: HttpOptions,
    private readonly log: Logger,
  ) {
    this.store = new FileStore(opts.root, opts.cacheMaxFile);
    this.cache = new ResourceCache(this.store, opts.cacheSize, opts.cacheCheck === 'watch');
    this.logLevel = opts.accessLog !== 'off' && log.isLevelEnabled(opts.accessLog) ? opts.accessLog : null;
    this.cut = opts.mount.length - 1;
    this.handle =
      this.logLevel === null
        ? (req, res) => {
            const out = this.serve(req, res);
            if (typeof out !== 'number') out.catch(() => res.destroy());
          }
        : (req, res) => this.serveLogged(req, res);
  }

  /** Stops the folder watchers and empties the cache. */
  close(): void {
    this.cache.close();
  }

  private serveLogged(req: IncomingMessage, res: ServerResponse): void {
    const t0 = performance.now();
    const out = this.serve(req, res);
    let bytes = -1;
    if (typeof out === 'number') bytes = out;
    else out.then((n) => (bytes = n), () => res.destroy());
    res.once('close', () => {
      this.log[this.logLevel!](
        { method: req.method, path: req.url, status: res.statusCode, bytes: res.writableFinished ? bytes : -1, ms: Math.round((performance.now() - t0) * 100) / 100, peer: req.socket.remoteAddress },
        'http',
      );
    });
  }

  /** Answers one request; returns the body bytes it sends (for the access log), later for a cache miss. */
  private serve(req: IncomingMessage, res: ServerResponse): number | Promise<number> {
    const method = req.method;
    const head = method === 'HEAD';
    if (method !== 'GET' && !head) return this.simple(res, 405, false, ALLOW);
    // The host routed this request here by its path: the mount is cut off (`/static/a.css` is `a.css` under the root).
    const url = this.cut === 0 ? req.url! : req.url!.slice(this.cut) || '/';
    const key = rawPath(url);
    const w = this.readHeaders(req.rawHeaders);
    // HTTP/0.9 (no version) and HTTP/1.1 without Host are malformed here (node's own Host check answers with a chunked body; this keeps 400s alike).
    if (req.httpVersionMajor !== 1 || (!w.host && req.httpVersionMinor === 1)) return this.simple(res, 400, head);

    const e = this.cache.get(key);
    if (e !== undefined) {
      const v = choose(e.r, w.acceptEncoding);
      if (e.watched || isFresh(v)) return this.answer(res, v, w, head); // the hot path
      this.cache.forget(e.key);
    }
    const p = resolveUrlPath(url);
    if (p.status !== 0) return this.simple(res, p.status, head, p.status === 400 ? undefined : null);
    // A miss: resolved and (if need be) read asynchronously; `w` is shared by every request, so it is copied.
    return this.miss(req, res, url, key, p, { ...w }, head);
  }

  /** A spelling not in the cache: one resolution (stat, realpath); the file is read only if no entry holds it yet. */
  private async miss(req: IncomingMessage, res: ServerResponse, url: string, key: string, p: SafePath, w: Wanted, head: boolean): Promise<number> {
    let r: Resource;
    try {
      const found = await this.store.locate(p.segments, p.trailingSlash);
      if (found.kind === 'missing') return this.simple(res, 404, head);
      if (found.kind === 'redirect') return this.redirect(res, this.cut === 0 ? found.location : req.url!.slice(0, this.cut) + found.location, url, head);
      const got = await this.cache.obtain(found);
      // Changed or gone while being read: as missing as a file that never was.
      if (got === null) return this.simple(res, 404, head);
      if (got.e !== null) this.cache.alias(key, got.e);
      r = got.r;
    } catch (err) {
      this.log.warn({ path: url, err: String(err) }, 'http: file lookup failed');
      if (res.headersSent) {
        res.destroy();
        return -1;
      }
      return this.simple(res, 500, head);
    }
    return this.answer(res, choose(r, w.acceptEncoding), w, head);
  }

  private answer(res: ServerResponse, v: Variant, w: Wanted, head: boolean): number {
    if (w.ifNoneMatch === undefined && w.ifModifiedSince === undefined && w.range === undefined) return this.full(res, v, head);
    return this.conditional(res, v, w, head);
  }

  private conditional(res: ServerResponse, v: Variant, w: Wanted, head: boolean): number {
    if (isNotModified(w.ifNoneMatch, w.ifModifiedSince, v.etag, v.mtimeMs)) {
      if (v.wire304 !== null && sendRaw(res, v.wire304, null, null, 304)) return 0;
      res.writeHead(304, v.notModified as string[]);
      res.end();
      return 0;
    }
    if (w.range !== undefined && (w.ifRange === undefined || ifRangeMatches(w.ifRange, v.etag, v.lastModified))) {
      const range = parseRange(w.range, v.size);
      if (range === 'unsatisfiable') return this.simple(res, 416, head, ['Content-Range', `bytes */${v.size}`, 'Accept-Ranges', 'bytes']);
      if (range !== null) {
        const len = range.end - range.start + 1;
        const h = baseHeaders(v);
        h.push('Content-Range', `bytes ${range.start}-${range.end}/${v.size}`, 'Content-Length', String(len));
        res.writeHead(206, h);
        if (head) {
          res.end();
          return 0;
        }
        if (v.body !== null) {
          res.end(v.body.subarray(range.start, range.end + 1));
          return len;
        }
        return this.stream(res, v, range.start, range.end);
      }
    }
    return this.full(res, v, head);
  }

  /** 200 with the whole file (or just its headers for HEAD); returns body bytes written. */
  private full(res: ServerResponse, v: Variant, head: boolean): number {
    // The hot path: head and body written by us in one go when node would send just that (raw-response.ts).
    if (v.wire !== null && (head || v.body !== null) && sendRaw(res, v.wire, head ? null : v.text, head ? null : v.body)) return head ? 0 : v.size;
    res.writeHead(200, v.headers as string[]);
    if (head) {
      res.end();
      return 0;
    }
    if (v.text !== null) res.end(v.text, 'latin1');
    else if (v.body !== null) res.end(v.body);
    else return this.stream(res, v, 0, v.size - 1);
    return v.size;
  }

  /** Streams [start, end] from disk with back-pressure (pipeline pauses the file while the socket is full). */
  private stream(res: ServerResponse, v: Variant, start: number, end: number): number {
    const expected = end - start + 1;
    if (expected <= 0) {
      res.end();
      return 0;
    }
    const rs = createReadStream(v.file, { start, end, highWaterMark: STREAM_CHUNK });
    // A file that shrank since its stat would leave the client waiting for
    // bytes that never come: cut the connection instead.
    rs.once('end', () => {
      if (rs.bytesRead !== expected) res.destroy();
    });
    pipeline(rs, res, (err) => {
      if (err) res.destroy();
    });
    return expected;
  }

  /**
   * A short text answer. `extra` adds headers; `undefined` for a 400 adds
   * `Connection: close` (a client sending such paths is not worth keeping).
   */
  private simple(res: ServerResponse, status: number, head: boolean, extra?: readonly string[] | null): number {
    const body = bodyFor(status);
    const h = ['Content-Type', PLAIN, 'Content-Length', String(body.length), 'X-Content-Type-Options', 'nosniff'];
    if (extra) h.push(...extra);
    else if (extra === undefined && status === 400) h.push('Connection', 'close');
    res.writeHead(status, h);
    res.end(head ? undefined : body);
    return head ? 0 : body.length;
  }

  private redirect(res: ServerResponse, location: string, url: string, head: boolean): number {
    const q = url.indexOf('?');
    // Keep the query only when it is plain printable ASCII (it goes into a header).
    if (q >= 0 && /^[\x21-\x7e]*$/.test(url.slice(q))) location += url.slice(q);
    return this.simple(res, 301, head, ['Location', location]);
  }

  private readHeaders(raw: string[]): Wanted {
    const w = this.wanted;
    w.host = false;
    w.acceptEncoding = w.ifNoneMatch = w.ifModifiedSince = w.range = w.ifRange = undefined;
    for (let i = 0; i < raw.length; i += 2) {
      const name = raw[i]!;
      switch (name.length) {
        case 4:
          if (eq(name, 'host')) w.host = true;
          break;
        case 5:
          if (eq(name, 'range')) w.range = raw[i + 1];
          break;
        case 8:
          if (eq(name, 'if-range')) w.ifRange = raw[i + 1];
          break;
        case 13:
          if (eq(name, 'if-none-match')) w.ifNoneMatch = w.ifNoneMatch === undefined ? raw[i + 1] : w.ifNoneMatch + ', ' + raw[i + 1];
          break;
        case 15:
          if (eq(name, 'accept-encoding')) w.acceptEncoding = w.acceptEncoding === undefined ? raw[i + 1] : w.acceptEncoding + ', ' + raw[i + 1];
          break;
        case 17:
          if (eq(name, 'if-modified-since')) w.ifModifiedSince = raw[i + 1];
          break;
      }
    }
    return w;
  }
}

function choose(r: Resource, acceptEncoding: string | undefined): Variant {
  if (acceptEncoding === undefined || (r.br === null && r.gzip === null)) return r.identity;
  const e = pickEncoding(acceptEncoding, r.br !== null, r.gzip !== null);
  return e === 'br' ? r.br! : e === 'gzip' ? r.gzip! : r.identity;
}

