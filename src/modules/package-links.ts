// SPDX-License-Identifier: LGPL-3.0-or-later
/**
 * A snapshot of a module is imported from `<modules>/.hrmr/…`, so its bare
 * imports (`ioredis`, `pg`, `ws`) resolve from there. A modules folder outside
 * any project (or the bundled modules, snapshotted in the project's folder)
 * would then miss the packages its module was built against. So for each
 * package a snapshot imports, this finds the folder Node would use from the
 * original file (else from the working directory, else from hrmr's own
 * package), and when the snapshot folder would not see that same folder, links
 * it into `<snapshot dir>/node_modules/`. Node follows the link to the real
 * path, so the package's own dependencies resolve as usual.
 */
import { builtinModules } from 'node:module';
import { existsSync, mkdirSync, readlinkSync, realpathSync, symlinkSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';

const BUILTIN = new Set(builtinModules);

/** Package names of the bare specifiers a built (esbuild ESM) module imports. Pure. */
export function importedPackages(code: string): string[] {
  const out = new Set<string>();
  const re = /(?:\bfrom\s*|\bimport\s*\(?\s*|\brequire\s*\(\s*)["']([^"'\s]+)["']/g;
  for (let m; (m = re.exec(code)); ) {
    const spec = m[1]!;
    if (/^(?:\.|\/|[a-z][a-z0-9+.-]*:)/i.test(spec)) continue; // relative, absolute, node:, file:, data:
    const parts = spec.split('/');
    const name = spec.startsWith('@') ? parts.slice(0, 2).join('/') : parts[0]!;
    if (name === '' || BUILTIN.has(name)) continue;
    out.add(name);
  }
  return [...out];
}

/** The package folder Node's lookup finds from `dir` (node_modules up the tree), or null. */
export function findPackage(dir: string, name: string): string | null {
  for (let d = resolve(dir); ; d = dirname(d)) {
    const p = join(d, 'node_modules', name);
    if (existsSync(join(p, 'package.json'))) return p;
    if (dirname(d) === d) return null;
  }
}

function real(p: string): string {
  try {
    return realpathSync(p);
  } catch {
    return p;
  }
}

/**
 * Links into `snapshotDir/node_modules` every package of `code` that the
 * snapshot folder would not resolve to the folder the original file (or a
 * fallback) does. Best effort: a failure leaves resolution as it was.
 */
export function linkPackages(snapshotDir: string, originalFile: string, code: string, fallbacks: readonly string[]): void {
  for (const name of importedPackages(code)) {
    const want = [dirname(originalFile), ...fallbacks].map((d) => findPackage(d, name)).find((p) => p !== null) ?? null;
    if (want === null) continue;
    const seen = findPackage(snapshotDir, name);
    if (seen !== null && real(seen) === real(want)) continue;
    const link = join(snapshotDir, 'node_modules', name);
    try {
      if (existsSync(link) || isLink(link)) continue; // first one wins for this folder
      mkdirSync(dirname(link), { recursive: true });
      symlinkSync(real(want), link, 'dir');
    } catch {
      /* resolution stays as it was */
    }
  }
}

function isLink(p: string): boolean {
  try {
    readlinkSync(p);
    return true;
  } catch {
    return false;
  }
}
