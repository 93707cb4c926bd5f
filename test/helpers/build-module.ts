// SPDX-License-Identifier: LGPL-3.0-or-later
/**
 * Builds one module source file exactly as `hrmr build` does (it calls the
 * same `buildEntry`) into `outDir/NAME.mjs`, for tests that need a real
 * module from modules_src/.
 */
import { mkdirSync } from 'node:fs';
import { buildEntry } from '../../src/build/build.ts';

export async function buildModule(srcFile: string, outDir: string): Promise<string> {
  mkdirSync(outDir, { recursive: true });
  const r = await buildEntry(srcFile, outDir);
  if (!r.ok || r.file === null) throw new Error(`build of ${srcFile} failed:\n${r.errors.join('\n')}`);
  return r.file;
}
