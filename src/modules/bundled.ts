// SPDX-License-Identifier: LGPL-3.0-or-later
/**
 * The modules shipped with hrmr (built into the package's own `modules/`),
 * served beside a project's `--modules` folder unless `--bundled` says
 * otherwise. Pure, apart from finding the package folder.
 */
import { existsSync, realpathSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { UsageError } from '../errors.ts';
import { packageRoot } from '../util/package-root.ts';

/** Every bundled module, by name (the file `modules/NAME.mjs` in the package). */
export const BUNDLED_MODULES = ['db', 'hash', 'http', 'lhttp', 'lhttp-chat', 'relay', 'rhttp'] as const;

/** `--bundled all|none|NAME,…` as the list of names; a name that is not bundled is a UsageError. */
export function parseBundled(raw: string): string[] {
  const s = String(raw).trim();
  if (s === 'all') return [...BUNDLED_MODULES];
  if (s === 'none' || s === '') return [];
  const names = s.split(',').map((n) => n.trim()).filter((n) => n !== '');
  for (const n of names) {
    if (!(BUNDLED_MODULES as readonly string[]).includes(n)) {
      throw new UsageError(`--bundled takes all, none or names from ${BUNDLED_MODULES.join(', ')} (got ${JSON.stringify(n)})`);
    }
  }
  return [...new Set(names)];
}

/** The folder holding hrmr's own package.json (src/util/package-root.ts). */
export const hrmrRoot = packageRoot;

function real(p: string): string {
  try {
    return realpathSync(p);
  } catch {
    return resolve(p);
  }
}

/**
 * The folder to load bundled modules from, or null when there is none to add:
 * nothing asked for, the package has no built modules, or `modulesDir` is that
 * very folder (an hrmr checkout serving its own modules/: no double loading).
 */
export function bundledDir(modulesDir: string, names: readonly string[], root: string | null = hrmrRoot()): string | null {
  if (names.length === 0 || root === null) return null;
  const dir = join(root, 'modules');
  if (!existsSync(dir) || real(dir) === real(modulesDir)) return null;
  return dir;
}
