// SPDX-License-Identifier: LGPL-3.0-or-later
/**
 * Finds the module files to load: the `--modules` folder, and before it any
 * extra folders (the bundled modules), each limited to some names. A file of
 * the same module name in a later folder replaces the earlier one, so a
 * project's own `relay.mjs` replaces the bundled relay.
 */
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { firstLine } from '../errors.ts';

const MODULE_FILE = /^[^.].*\.m?js$/;

export interface ModuleFolder {
  dir: string;
  /** Only these module names (null: every module file). */
  only: readonly string[] | null;
  /** Tells where a module came from (the registry keeps snapshots of each folder apart). */
  origin: string;
  /** A missing folder is an error (the --modules folder) or simply nothing (bundled). */
  required: boolean;
}

export interface ScannedModule {
  file: string;
  origin: string;
}

/** Module name → file, for every folder in order (later folders win). Unreadable required folders are reported in `failed`. */
export function scanFolders(folders: readonly ModuleFolder[], failed: Array<{ module: string; error: string }>): Map<string, ScannedModule> {
  const files = new Map<string, ScannedModule>();
  for (const f of folders) {
    let names: string[];
    try {
      names = readdirSync(f.dir);
    } catch (err) {
      if (f.required) failed.push({ module: '(modules folder)', error: firstLine(err) });
      continue;
    }
    const here = new Map<string, string>();
    for (const n of names.sort()) {
      if (!MODULE_FILE.test(n)) continue;
      const file = join(f.dir, n);
      try {
        if (!statSync(file).isFile()) continue;
      } catch {
        continue;
      }
      const key = n.replace(/\.m?js$/, '');
      if (f.only !== null && !f.only.includes(key)) continue;
      // modules/x.mjs wins over a stray modules/x.js.
      if (!here.has(key) || n.endsWith('.mjs')) here.set(key, file);
    }
    for (const [key, file] of here) {
      files.delete(key); // keeps the map in name order per folder; the later folder's file wins
      files.set(key, { file, origin: f.origin });
    }
  }
  return new Map([...files].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}
