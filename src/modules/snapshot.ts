// SPDX-License-Identifier: LGPL-3.0-or-later
/**
 * Immutable copies of each loaded module version. The main thread and every
 * pool worker import the same snapshot, so a worker started long after a
 * RELOAD (a replacement after a timeout) still gets the exact code its
 * connection started on, whatever `modules/` holds by then. Snapshots live
 * in `<modules>/.hrmr/` so bare imports (npm packages) resolve as from the
 * original file.
 */
import { mkdirSync, rmSync, writeFileSync, unlinkSync } from 'node:fs';
import { basename, join } from 'node:path';
import { pathToFileURL } from 'node:url';

export const SNAPSHOT_DIR = '.hrmr';

export class SnapshotStore {
  private readonly dir: string;
  private usable = true;

  constructor(modulesDir: string) {
    this.dir = join(modulesDir, SNAPSHOT_DIR);
    try {
      rmSync(this.dir, { recursive: true, force: true });
      mkdirSync(this.dir, { recursive: true });
    } catch {
      this.usable = false;
    }
  }

  /**
   * Writes `bytes` as a snapshot and returns the URL to import. `load` makes
   * the URL unique, so a version restored with identical bytes is still a
   * fresh instance. Falls back to the original file (read-only dirs).
   */
  save(file: string, bytes: Buffer, hash: string, load: number): { url: string; path: string | null } {
    if (this.usable) {
      const name = `${basename(file).replace(/\.(m?js)$/, '')}.${hash.slice(0, 16)}.${load}.mjs`;
      const path = join(this.dir, name);
      try {
        // Source maps sit beside the original file.
        const text = bytes.toString('utf8').replace(/\/\/# sourceMappingURL=(?!data:)([^\s]+)\s*$/, (_m, p1: string) => `//# sourceMappingURL=../${p1}\n`);
        writeFileSync(path, text);
        return { url: pathToFileURL(path).href, path };
      } catch {
        this.usable = false;
      }
    }
    return { url: `${pathToFileURL(file).href}?v=${load}`, path: null };
  }

  remove(path: string | null): void {
    if (path === null) return;
    try {
      unlinkSync(path);
    } catch {
      /* already gone */
    }
  }
}
