// SPDX-License-Identifier: LGPL-3.0-or-later
/**
 * Cache invalidation by fs.watch: one watcher per folder holding cached
 * files; any event in the folder (a write, a rename, a new .gz sibling)
 * drops the cache keys that depend on it. This costs nothing per request,
 * where a statSync per request costs several microseconds. inotify queues
 * the event inside the write itself, so it is handled before a request sent
 * after the write. close() releases every watcher (dispose must).
 */
import { watch, type FSWatcher } from 'node:fs';

export class DirWatch {
  private readonly dirs = new Map<string, { watcher: FSWatcher; keys: Set<string> }>();

  /** `onStale(keys)` is called with the keys of a folder that changed. */
  constructor(private readonly onStale: (keys: Iterable<string>) => void) {}

  /** Ties `key` to `dir`; false if the folder cannot be watched (the caller falls back to stat checks). */
  add(dir: string, key: string): boolean {
    let d = this.dirs.get(dir);
    if (!d) {
      let watcher: FSWatcher;
      try {
        watcher = watch(dir, { persistent: false });
      } catch {
        return false;
      }
      const entry = { watcher, keys: new Set<string>() };
      const drop = (): void => {
        if (entry.keys.size === 0) return;
        const keys = entry.keys;
        entry.keys = new Set();
        this.onStale(keys);
      };
      watcher.on('change', drop);
      watcher.on('error', () => {
        drop();
        watcher.close();
        if (this.dirs.get(dir) === entry) this.dirs.delete(dir);
      });
      this.dirs.set(dir, entry);
      d = entry;
    }
    d.keys.add(key);
    return true;
  }

  /** Unties `key` from `dir` (the cache evicted it). */
  remove(dir: string, key: string): void {
    this.dirs.get(dir)?.keys.delete(key);
  }

  get size(): number {
    return this.dirs.size;
  }

  close(): void {
    for (const d of this.dirs.values()) {
      d.watcher.removeAllListeners();
      d.watcher.close();
    }
    this.dirs.clear();
  }
}
