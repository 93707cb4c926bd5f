// SPDX-License-Identifier: LGPL-3.0-or-later
/** Finding hrmr's own package folder from one of its files (dist/ or src/). */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The folder holding hrmr's own package.json (where `shared/` and the bundled `modules/` live), or null. */
export function packageRoot(from: string = fileURLToPath(import.meta.url)): string | null {
  for (let dir = dirname(from); ; dir = dirname(dir)) {
    const pkg = join(dir, 'package.json');
    if (existsSync(pkg)) {
      try {
        if ((JSON.parse(readFileSync(pkg, 'utf8')) as { name?: string }).name === 'hrmr') return dir;
      } catch {
        /* not ours */
      }
    }
    if (dirname(dir) === dir) return null;
  }
}
