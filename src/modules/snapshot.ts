// SPDX-License-Identifier: LGPL-3.0-or-later
/**
 * Immutable copies of each loaded module version. The main thread and every
 * pool worker import the same snapshot, so a worker started long after a
 * RELOAD (a replacement after a timeout) still gets the exact code its
 * connection started on, whatever `modules/` holds by then. Snapshots live
 * in `<modules>/.hrmr/` so bare imports (npm packages) resolve as from the
 * original file (see package-links.ts for folders outside a project). Each process has its own subfolder (`.hrmr/<pid>/`), so
 * several servers may share one modules folder; folders of processes that
 * are gone are swept at start-up.
 */
import { mkdirSync, readdirSync, rmSync, writeFileSync, unlinkSync } from 'node:fs';
import { basename, dirname, join, relative, sep } from 'node:path';
import { pathToFileURL } from 'node:url';
import { hrmrRoot } from './bundled.ts';
import { linkPackages } from './package-links.ts';

export const SNAPSHOT_DIR = '.hrmr';

export class SnapshotStore {
  private readonly dir: string;
  private usable = true;
  /** Where a package no folder of the module's own has is looked up: the working directory, then hrmr's package. */
  private readonly fallbacks = [process.cwd(), ...[hrmrRoot()].filter((r): r is string => r !== null)];

  constructor(modulesDir: string) {
    const top = join(modulesDir, SNAPSHOT_DIR);
    this.dir = join(top, String(process.pid));
    try {
      sweepStale(top);
      rmSync(this.dir, { recursive: true, force: true });
      mkdirSync(this.dir, { recursive: true });
    } catch {
      this.usable = false;
    }
  }

  /** Removes this process's snapshots (at shutdown). */
  clear(): void {
    rmSync(this.dir, { recursive: true, force: true });
  }

  /**
   * Writes `bytes` as a snapshot and returns the URL to import. `load` makes
   * the URL unique, so a version restored with identical bytes is still a
   * fresh instance. Falls back to the original file (read-only dirs).
   */
  save(file: string, bytes: Buffer, hash: string, load: number, origin = ''): { url: string; path: string | null } {
    if (this.usable) {
      const name = `${basename(file).replace(/\.(m?js)$/, '')}.${hash.slice(0, 16)}.${load}.mjs`;
      // Modules from another folder (bundled) get a subfolder: their package links may differ.
      const dir = origin === '' ? this.dir : join(this.dir, origin);
      const path = join(dir, name);
      try {
        // Source maps sit beside the original file (wherever its folder is).
        const text = bytes.toString('utf8').replace(/\/\/# sourceMappingURL=(?!data:)([^\s]+)\s*$/, (_m, p1: string) => `//# sourceMappingURL=${mapPath(dir, file, p1)}\n`);
        mkdirSync(dir, { recursive: true });
        writeFileSync(path, text);
        linkPackages(dir, file, text, this.fallbacks);
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

/** The map beside the original file, relative to the snapshot's folder (Node 20 ignores an absolute file: URL there). */
function mapPath(snapshotDir: string, file: string, url: string): string {
  const target = join(dirname(file), decodeURIComponent(url));
  return relative(snapshotDir, target).split(sep).map(encodeURIComponent).join('/');
}

function sweepStale(top: string): void {
  let names: string[];
  try {
    names = readdirSync(top);
  } catch {
    return;
  }
  for (const n of names) {
    const pid = Number(n);
    if (!Number.isInteger(pid) || pid === process.pid || alive(pid)) continue;
    rmSync(join(top, n), { recursive: true, force: true });
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
