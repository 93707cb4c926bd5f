// SPDX-License-Identifier: LGPL-3.0-or-later
/**
 * Builds one module source file the way `hrmr build` does (esbuild: bundle,
 * ESM, node, packages external) into `outDir/NAME.mjs`, for tests that need a
 * real module from modules_src/.
 */
import { build } from 'esbuild';
import { mkdirSync } from 'node:fs';
import { basename, join } from 'node:path';

export async function buildModule(srcFile: string, outDir: string): Promise<string> {
  mkdirSync(outDir, { recursive: true });
  const outfile = join(outDir, basename(srcFile).replace(/\.[cm]?ts$/, '') + '.mjs');
  await build({
    entryPoints: [srcFile],
    outfile,
    bundle: true,
    format: 'esm',
    platform: 'node',
    target: 'node20.19',
    packages: 'external',
    logLevel: 'silent',
  });
  return outfile;
}
