// SPDX-License-Identifier: LGPL-3.0-or-later
/**
 * Builds modules: every top-level `modules_src/*.ts` is an entry, bundled by
 * esbuild into `modules/NAME.mjs` (+ `.map`). Subfolders hold helpers. npm
 * packages stay external (bundling pino into ESM breaks at run time). Output
 * is written atomically so a running server never imports half a file.
 */
import { existsSync, mkdirSync, readFileSync, readdirSync, renameSync, rmSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
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

/** The names in a folder; none when it does not exist (or cannot be read). */
function namesIn(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
}

/** The entry files in `srcDir`, sorted; none when the folder does not exist. */
export function listEntries(srcDir: string): string[] {
  const dir = resolve(srcDir);
  const out: string[] = [];
  for (const n of namesIn(dir).sort()) {
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
    // Stack traces need only the mappings (the sources are beside the modules); their text would double every
    // thread's memory for the parsed maps, and the package.
    sourcesContent: false,
    write: false,
    metafile: true,
    logLevel: 'silent',
    absWorkingDir: process.cwd(),
  };
}

/** True when `path` holds exactly `bytes`. */
function sameContent(path: string, bytes: Uint8Array): boolean {
  try {
    const st = statSync(path);
    return st.size === bytes.byteLength && Buffer.compare(readFileSync(path), bytes) === 0;
  } catch {
    return false;
  }
}

/**
 * Writes each output to a temporary file in its folder, then renames it into
 * place (rename is atomic on one file system). Source maps go first so the
 * module never points at a missing map. A file whose content is unchanged is
 * not touched. Returns the paths written.
 */
export function writeOutputs(files: readonly OutputFile[]): string[] {
  const ordered = [...files].sort((a, b) => Number(b.path.endsWith('.map')) - Number(a.path.endsWith('.map')));
  const written: string[] = [];
  for (const f of ordered) {
    if (sameContent(f.path, f.contents)) continue;
    written.push(f.path);
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
  return written;
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
  /** Located error lines (when not ok): esbuild's, or the type-checker's when {@link typeErrors}. */
  errors: string[];
  /** True when the module compiled but failed the type-check. */
  typeErrors: boolean;
  warnings: string[];
  /** Absolute paths of every input file (when it compiled). */
  inputs: string[];
  ms: number;
}

/** Compiles one entry in memory. Never throws: failures come back located. */
async function compileEntry(entry: string, outDir: string): Promise<{ result: ModuleBuildResult; outputs: OutputFile[] }> {
  const { build } = await import('esbuild');
  const started = performance.now();
  const module = moduleName(entry);
  try {
    const r = await build(entryOptions(entry, outDir));
    return {
      result: {
        module,
        entry,
        ok: true,
        file: outputFile(outDir, module),
        errors: [],
        typeErrors: false,
        warnings: r.warnings.map((w) => formatMessage(w, 'warning')),
        inputs: metafileInputs(r.metafile),
        ms: Math.round(performance.now() - started),
      },
      outputs: r.outputFiles,
    };
  } catch (err) {
    return {
      result: { module, entry, ok: false, file: null, errors: failureMessages(err), typeErrors: false, warnings: [], inputs: [], ms: Math.round(performance.now() - started) },
      outputs: [],
    };
  }
}

/** Builds one entry and writes its outputs (no type-check). Never throws: failures come back located. */
export async function buildEntry(entry: string, outDir: string): Promise<ModuleBuildResult> {
  const { result, outputs } = await compileEntry(entry, outDir);
  if (result.ok) writeOutputs(outputs);
  return result;
}

export interface BuildAllOptions {
  /** Type-check the modules that compiled; one with type errors fails and is not written. Default true. */
  typecheck?: boolean;
}

export interface BuildSummary {
  ok: boolean;
  results: ModuleBuildResult[];
  /** Modules whose built output was removed because their source is gone. */
  removed: string[];
  /** How the type-check went: ms when it ran, or why it did not. */
  typecheck: { ran: true; ms: number; tsconfig: string | null } | { ran: false; why: 'disabled' | 'no modules' | 'typescript missing' };
}

/**
 * Builds every entry of `srcDir` into `outDir`. Entries build independently:
 * one that fails (to compile, or the type-check) does not keep the others
 * from being written, and its old output stays in place.
 */
export async function buildAll(srcDir: string, outDir: string, o: BuildAllOptions = {}): Promise<BuildSummary> {
  if (!existsSync(outDir)) mkdirSync(outDir, { recursive: true });
  const compiled = await Promise.all(listEntries(srcDir).map((e) => compileEntry(e, outDir)));
  let typecheck: BuildSummary['typecheck'] = { ran: false, why: o.typecheck === false ? 'disabled' : 'no modules' };
  const compiledOk = compiled.filter((c) => c.result.ok);
  if (o.typecheck !== false && compiledOk.length > 0) {
    const started = performance.now();
    const { typecheckOnce } = await import('./typecheck.ts');
    const checked = await typecheckOnce(
      srcDir,
      compiledOk.map((c) => ({ module: c.result.module, entry: c.result.entry, files: c.result.inputs })),
    );
    if (checked === null) typecheck = { ran: false, why: 'typescript missing' };
    else {
      typecheck = { ran: true, ms: Math.round(performance.now() - started), tsconfig: checked.tsconfig };
      for (const t of checked.results) {
        if (t.errors.length === 0) continue;
        const c = compiledOk.find((x) => x.result.module === t.module)!;
        Object.assign(c.result, { ok: false, file: null, errors: t.errors, typeErrors: true });
      }
    }
  }
  for (const c of compiled) if (c.result.ok) writeOutputs(c.outputs);
  const results = compiled.map((c) => c.result);
  const removed = removeOrphans(srcDir, outDir, new Set(results.map((r) => r.module)));
  return { ok: results.every((r) => r.ok), results, removed, typecheck };
}

/**
 * Removes `outDir/NAME.mjs` (and its map) when it was built from
 * `srcDir/NAME.ts` and that source is gone, as watch mode does: otherwise the
 * next RELOAD would load a module nobody has the source of. A file not built
 * from `srcDir` (no map naming it: hand-written, or from another folder) stays.
 */
export function removeOrphans(srcDir: string, outDir: string, entries: ReadonlySet<string>): string[] {
  const removed: string[] = [];
  for (const n of namesIn(outDir)) {
    if (!n.endsWith('.mjs') || n.startsWith('.')) continue;
    const name = n.slice(0, -'.mjs'.length);
    if (entries.has(name)) continue;
    if (!builtFrom(join(outDir, `${n}.map`), srcDir, name)) continue;
    removeOutputs(outDir, name);
    removed.push(name);
  }
  return removed;
}

/** True when the source map `map` names `srcDir/NAME.ts` (or .mts) as a source and that file does not exist. */
function builtFrom(map: string, srcDir: string, name: string): boolean {
  let sources: unknown;
  try {
    sources = (JSON.parse(readFileSync(map, 'utf8')) as { sources?: unknown }).sources;
  } catch {
    return false;
  }
  if (!Array.isArray(sources)) return false;
  const wanted = new Set([join(resolve(srcDir), `${name}.ts`), join(resolve(srcDir), `${name}.mts`)]);
  return sources.some((s) => typeof s === 'string' && wanted.has(resolve(dirname(map), s)) && !existsSync(resolve(dirname(map), s)));
}
