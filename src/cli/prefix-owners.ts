// SPDX-License-Identifier: LGPL-3.0-or-later
/**
 * `hrmr new --prefix P`: which modules already route P. Imports each built
 * module of the folders (their default export only: no setup runs) and reads
 * its byte-prefix routes. A module that does not import is skipped.
 */
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

export interface PrefixOwner {
  module: string;
  file: string;
}

/** The string prefixes of a module's default export (byte-prefix routes only). Pure. */
export function routePrefixes(exported: unknown): string[] {
  const routes = (exported as { routes?: unknown } | null)?.routes;
  if (!Array.isArray(routes)) return [];
  const out: string[] = [];
  for (const r of routes as Array<{ prefix?: unknown }>) {
    if (typeof r?.prefix === 'string') out.push(r.prefix);
    else if (r?.prefix instanceof Uint8Array) out.push(Buffer.from(r.prefix).toString('latin1'));
  }
  return out;
}

/** Modules in `dirs` (later folders replace earlier ones of the same name) with a route on exactly `prefix`. */
export async function prefixOwners(dirs: readonly string[], prefix: string): Promise<PrefixOwner[]> {
  const files = new Map<string, string>();
  for (const dir of dirs) {
    let names: string[] = [];
    try {
      names = readdirSync(dir);
    } catch {
      continue;
    }
    for (const n of names) if (/^[^.].*\.mjs$/.test(n)) files.set(n.slice(0, -4), join(dir, n));
  }
  const owners: PrefixOwner[] = [];
  for (const [module, file] of [...files].sort()) {
    try {
      const mod = (await import(`${pathToFileURL(file).href}?prefix-check`)) as { default?: unknown };
      if (routePrefixes(mod.default).includes(prefix)) owners.push({ module, file });
    } catch {
      /* a module that does not load owns nothing */
    }
  }
  return owners;
}
