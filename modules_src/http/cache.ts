// SPDX-License-Identifier: LGPL-3.0-or-later
/**
 * The static module's memory cache, in two levels:
 *
 * - by file: one entry per resolved file (real path and the type its name
 *   gives), holding its bytes and its identity (dev, inode, size, mtime,
 *   ctime); this is what counts against `cache-size`;
 * - by spelling: each request path seen (`/big.bin`, `//big.bin`,
 *   `/%62ig.bin`) points at a file entry, so the hot path stays one map
 *   lookup. A new spelling costs one resolution (stat and realpath, no
 *   read): when it lands on a cached file with the same identity it just
 *   joins it. At most MAX_PATHS spellings are kept (oldest dropped first);
 *   a spelling holds no bytes of its own.
 *
 * Loads are shared: concurrent misses for one file read it once.
 */
import { dirname } from 'node:path';
import { DirWatch } from './dir-watch.ts';
import { isFreshAsync, sameFiles, type FileStore, type Located, type Resource } from './file-store.ts';

/** Most request spellings remembered. */
export const MAX_PATHS = 10_000;

export interface Entry {
  readonly key: string;
  readonly r: Resource;
  /** A folder watcher invalidates it, so no stat per request. */
  readonly watched: boolean;
  readonly dirs: readonly string[];
  /** The spellings that point here (dropped with the entry). */
  readonly paths: Set<string>;
}

export interface Obtained {
  readonly r: Resource;
  /** The cache entry, or null when the resource is not kept (too big, changed while read, cache closed). */
  readonly e: Entry | null;
}

export class ResourceCache {
  private readonly byPath = new Map<string, Entry>();
  private readonly byFile = new Map<string, Entry>();
  private readonly loading = new Map<string, Promise<Obtained | null>>();
  /** Keys being remembered: set to true when their folder changes meanwhile. */
  private readonly settling = new Map<string, { stale: boolean }>();
  private readonly watch: DirWatch | null;
  private bytes = 0;
  private closed = false;
  /** Files read from disk into memory so far (STATUS). */
  loads = 0;

  constructor(
    private readonly store: FileStore,
    private readonly maxBytes: number,
    watched: boolean,
  ) {
    this.watch = watched ? new DirWatch((keys) => this.onStale(keys)) : null;
  }

  /** The hot path: the entry a spelling points at. */
  get(path: string): Entry | undefined {
    return this.byPath.get(path);
  }

  /**
   * The resource `loc` names: the cached one while it is still the same
   * files on disk, else read once (concurrent callers share the read).
   */
  obtain(loc: Located): Promise<Obtained | null> {
    const e = this.byFile.get(loc.key);
    if (e !== undefined && sameFiles(e.r, loc)) return Promise.resolve({ r: e.r, e });
    let p = this.loading.get(loc.key);
    if (p === undefined) {
      p = this.fill(loc);
      this.loading.set(loc.key, p);
      const done = p;
      void done.then(() => {
        if (this.loading.get(loc.key) === done) this.loading.delete(loc.key);
      });
    }
    return p;
  }

  /** Points a spelling at an entry. */
  alias(path: string, e: Entry): void {
    if (this.closed || this.byFile.get(e.key) !== e || this.byPath.get(path) === e) return;
    this.unalias(path);
    this.byPath.set(path, e);
    e.paths.add(path);
    while (this.byPath.size > MAX_PATHS) this.unalias(this.byPath.keys().next().value as string);
  }

  /** Drops a file entry and every spelling pointing at it (it changed on disk). */
  forget(key: string): void {
    const e = this.byFile.get(key);
    if (e === undefined) return;
    this.byFile.delete(key);
    this.bytes -= e.r.bytes;
    for (const p of e.paths) this.byPath.delete(p);
    e.paths.clear();
    if (this.watch !== null) for (const d of e.dirs) this.watch.remove(d, key);
  }

  close(): void {
    this.closed = true;
    this.watch?.close();
    this.byPath.clear();
    this.byFile.clear();
    this.bytes = 0;
  }

  status(): { files: number; paths: number; bytes: number; loads: number; watchedFolders: number } {
    return { files: this.byFile.size, paths: this.byPath.size, bytes: this.bytes, loads: this.loads, watchedFolders: this.watch?.size ?? 0 };
  }

  private unalias(path: string): void {
    const old = this.byPath.get(path);
    if (old === undefined) return;
    this.byPath.delete(path);
    old.paths.delete(path);
  }

  private async fill(loc: Located): Promise<Obtained | null> {
    const r = await this.store.load(loc);
    if (r === null) return null;
    this.loads++;
    return { r, e: await this.remember(loc.key, r) };
  }

  private async remember(key: string, r: Resource): Promise<Entry | null> {
    if (this.closed || r.bytes > this.maxBytes) return null;
    this.forget(key);
    const variants = [r.identity, r.br, r.gzip].filter((v) => v !== null);
    const dirs: string[] = [];
    for (const v of variants) if (!dirs.includes(dirname(v.file))) dirs.push(dirname(v.file));
    let watched = false;
    if (this.watch !== null) {
      watched = true;
      const mark = { stale: false };
      this.settling.set(key, mark);
      for (const d of dirs) if (!this.watch.add(d, key)) watched = false;
      // A change between our read and the watcher's start would be missed: check once, now that the watchers run
      // (and a change seen by a watcher while we check has untied the key: then keep nothing either).
      const fresh = await Promise.all(variants.map((v) => isFreshAsync(v)));
      this.settling.delete(key);
      if (this.closed || mark.stale || fresh.includes(false)) {
        if (!this.closed) for (const d of dirs) this.watch.remove(d, key);
        return null;
      }
    }
    const e: Entry = { key, r, watched, dirs, paths: new Set() };
    this.byFile.set(key, e);
    this.bytes += r.bytes;
    // Oldest first (insertion order): cheap, and good enough for a static site.
    while (this.bytes > this.maxBytes) this.forget(this.byFile.keys().next().value as string);
    return e;
  }

  private onStale(keys: Iterable<string>): void {
    for (const k of keys) {
      const m = this.settling.get(k);
      if (m !== undefined) m.stale = true;
      this.forget(k);
    }
  }
}
