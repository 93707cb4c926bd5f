// SPDX-License-Identifier: LGPL-3.0-or-later
/**
 * Starts hrmr with some of the bundled modules (built into modules/ by
 * `npm run build`). The copies go into a temporary folder inside the repo,
 * so their npm imports (ws, ioredis, ...) resolve from its node_modules.
 */
import { copyFileSync, existsSync, mkdirSync, mkdtempSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT, startHrmr, type Hrmr, type StartOptions } from './hrmr.ts';

export function repoTempDir(prefix = 'mods-'): string {
  const base = join(ROOT, '.tmp');
  mkdirSync(base, { recursive: true });
  return mkdtempSync(join(base, prefix));
}

/** Copies modules/NAME.mjs for each name into a fresh folder under .tmp/. */
export function bundledDir(names: readonly string[]): string {
  const dir = repoTempDir();
  for (const n of names) {
    const src = join(ROOT, 'modules', `${n}.mjs`);
    if (!existsSync(src)) throw new Error(`modules/${n}.mjs is not built: run npm run build`);
    copyFileSync(src, join(dir, `${n}.mjs`));
    if (existsSync(`${src}.map`)) copyFileSync(`${src}.map`, join(dir, `${n}.mjs.map`));
  }
  return dir;
}

/**
 * hrmr serving the named bundled modules (plus any extra test modules in
 * `o.modules`). kill() removes the folder.
 */
export async function startBundled(names: readonly string[], o: Omit<StartOptions, 'dir'> = {}): Promise<Hrmr> {
  const dir = bundledDir(names);
  const h = await startHrmr({ ...o, dir });
  const kill = h.kill.bind(h);
  return Object.assign(h, {
    async kill() {
      await kill();
      const { rmSync } = await import('node:fs');
      rmSync(dir, { recursive: true, force: true });
    },
  });
}
