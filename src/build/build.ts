// SPDX-License-Identifier: LGPL-3.0-or-later
/**
 * Builds modules: every top-level `modules_src/*.ts` is an entry, bundled by
 * esbuild into `modules/NAME.mjs` (+ `.map`). Subfolders hold helpers. npm
 * packages stay external (bundling pino into ESM breaks at run time). Output
 * is written atomically so a running server never imports half a file.
 */
import { existsSync, mkdirSync, readdirSync, renameSync, rmSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { basename, dirname, join, relative, resolve } from 'node:path';
import type { BuildFailure, BuildOptions, Message, Metafile, OutputFile } from 'esbuild';

/** The Node version modules are compiled for (the project's engines floor). */
export const NODE_TARGET = 'node20.19';

const ENTRY = /^[^.].*\.(?:ts|mts)$/;
const DECLARATION = /\.d\.m?ts$/;

/** The module name for an entry file: `modules_src/echo.ts` gives `echo`. */
export function moduleName(file: string): string {
  return basename(file).replace(/\.m?ts$/, '');
}

/** True for a file directly in `srcDir` that is a module entry (not a helper in a subfolder, not a `.d.ts`). */
export function isEntry(srcDir: string, file: string): boolean {
  const abs = resolve(file);
  return dirname(abs) === resolve(srcDir) && ENTRY.test(basename(abs)) && !DECLARATION.test(abs);
}

/** The entry files in `srcDir`, sorted; none when the folder does not exist. */
export function listEntries(srcDir: string): string[] {
  const dir = resolve(srcDir);
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return [];
  }
  const out: string[] = [];
  for (const n of names.sort()) {
    const file = join(dir, n);
    if (!isEntry(dir, file)) continue;
    try {
      if (statSync(file).isFile()) out.push(file);
    } catch {
      /* vanished meanwhile */
    }
  }
  return out;
}

/** The output file of a module. */
export function outputFile(outDir: string, name: string): string {
  return join(resolve(outDir), `${name}.mjs`);
}

/** esbuild options for one entry; `write: false` so outputs go through {@link writeOutputs}. */
export function entryOptions(entry: string, outDir: string): BuildOptions & { write: false; metafile: true } {
  return {
    entryPoints: [entry],
    outfile: outputFile(outDir, moduleName(entry)),
    bundle: true,
    format: 'esm',
    platform: 'node',
    target: NODE_TARGET,
    packages: 'external',
    sourcemap: 'linked',
    write: false,
    metafile: true,
    logLevel: 'silent',
    absWorkingDir: process.cwd(),
  };
}

/**
 * Writes each output to a temporary file in its folder, then renames it into
 * place (rename is atomic on one file system). Source maps go first so the
 * module never points at a missing map.
 */
export function writeOutputs(files: readonly OutputFile[]): void {
  const ordered = [...files].sort((a, b) => Number(b.path.endsWith('.map')) - Number(a.path.endsWith('.map')));
  for (const f of ordered) {
    mkdirSync(dirname(f.path), { recursive: true });
    // A dotted name is skipped by the registry's scan (it only loads `[^.]*.mjs`).
    const tmp = join(dirname(f.path), `.${basename(f.path)}.${process.pid}.${Math.random().toString(36).slice(2)}.tmp`);
    try {
      writeFileSync(tmp, f.contents);
      renameSync(tmp, f.path);
    } catch (err) {
      rmSync(tmp, { force: true });
      throw err;
    }
  }
}

/** Removes a module's built files (an entry was deleted). */
export function removeOutputs(outDir: string, name: string): void {
  const file = outputFile(outDir, name);
  for (const f of [file, `${file}.map`]) {
    try {
      unlinkSync(f);
    } catch {
      /* not there */
    }
  }
}

/** `file:line:column: error: text`, with the file relative to the working directory. */
export function formatMessage(m: Message, kind: 'error' | 'warning' = 'error'): string {
  const loc = m.location;
  const where = loc ? `${relative(process.cwd(), resolve(loc.file)) || loc.file}:${loc.line}:${loc.column + 1}: ` : '';
  let text = `${where}${kind}: ${m.text}`;
  if (loc?.lineText) text += `\n    ${loc.lineText}\n    ${' '.repeat(loc.column)}^`;
  for (const n of m.notes) if (n.text) text += `\n  note: ${n.text}`;
  return text;
}

/** True when `err` is an esbuild build failure (it carries located messages). */
export function isBuildFailure(err: unknown): err is BuildFailure {
  return typeof err === 'object' && err !== null && Array.isArray((err as BuildFailure).errors);
}

/** Error lines for anything a build threw. */
export function failureMessages(err: unknown): string[] {
  if (isBuildFailure(err) && err.errors.length > 0) return err.errors.map((m) => formatMessage(m));
  return [err instanceof Error ? err.message : String(err)];
}

/** The absolute paths of the source files a build read. */
export function metafileInputs(meta: Metafile | undefined): string[] {
  if (!meta) return [];
  return Object.keys(meta.inputs).map((p) => resolve(process.cwd(), p));
}

export interface ModuleBuildResult {
  module: string;
  entry: string;
  ok: boolean;
  /** The built `.mjs` (when ok). */
  file: string | null;
  /** Located error lines (when not ok). */
  errors: string[];
  warnings: string[];
  /** Absolute paths of every input file (when ok). */
  inputs: string[];
  ms: number;
}

/** Builds one entry and writes its outputs. Never throws: failures come back located. */
export async function buildEntry(entry: string, outDir: string): Promise<ModuleBuildResult> {
  const { build } = await import('esbuild');
  const started = performance.now();
  const module = moduleName(entry);
  try {
    const result = await build(entryOptions(entry, outDir));
    writeOutputs(result.outputFiles);
    return {
      module,
      entry,
      ok: true,
      file: outputFile(outDir, module),
      errors: [],
      warnings: result.warnings.map((w) => formatMessage(w, 'warning')),
      inputs: metafileInputs(result.metafile),
      ms: Math.round(performance.now() - started),
    };
  } catch (err) {
    return { module, entry, ok: false, file: null, errors: failureMessages(err), warnings: [], inputs: [], ms: Math.round(performance.now() - started) };
  }
}

export interface BuildSummary {
  ok: boolean;
  results: ModuleBuildResult[];
}

/**
 * Builds every entry of `srcDir` into `outDir`. Entries build independently:
 * one that fails does not keep the others from being written.
 */
export async function buildAll(srcDir: string, outDir: string): Promise<BuildSummary> {
  if (!existsSync(outDir)) mkdirSync(outDir, { recursive: true });
  const results = await Promise.all(listEntries(srcDir).map((e) => buildEntry(e, outDir)));
  return { ok: results.every((r) => r.ok), results };
}
