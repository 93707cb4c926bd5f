// SPDX-License-Identifier: LGPL-3.0-or-later
/**
 * Type-checking modules with the TypeScript compiler API. esbuild only strips
 * types, so a handler returning `404` where a `Reply` is expected builds and
 * serves; this finds it. `hrmr build` checks in-process and fails on errors;
 * watch mode checks in a worker thread (typecheck-worker.ts) after each
 * reload, so the esbuild path is never slowed by it.
 *
 * `typescript` is loaded lazily: a server that never type-checks does not
 * need it, and when it is missing the callers say so and go on unchecked.
 *
 * Compiler options come from the nearest tsconfig.json above the sources
 * (its `include`/`files` are ignored: the roots are the module entries), or
 * else strict defaults fit for modules (ESNext, Bundler resolution, `.ts`
 * imports allowed, @types/node from the project or from hrmr's own install).
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import type TS from 'typescript';
import { packageRoot } from '../cli/scaffold.ts';

type TypeScript = typeof TS;

/** The message when `typescript` cannot be imported. */
export const TYPESCRIPT_MISSING = 'the typescript package is not installed (npm install --save-dev typescript), so modules are not type-checked';

/** Imports `typescript`, or null when it is not installed. */
export async function loadTypeScript(): Promise<TypeScript | null> {
  try {
    const mod = (await import('typescript')) as TypeScript & { default?: TypeScript };
    return mod.default ?? mod;
  } catch {
    return null;
  }
}

/** One module to check: its entry and every source file its last build read (absolute paths). */
export interface ModuleFiles {
  module: string;
  entry: string;
  files: readonly string[];
}

export interface TypeCheckResult {
  module: string;
  /** `file:line:col: error TSxxxx: text` with a code frame, one string per error. */
  errors: string[];
}

const CHECKED = /\.(?:ts|mts|cts|tsx)$/;
const DECLARATION = /\.d\.[mc]?ts$/;
/** At most this many errors are reported per module (the count is still exact). */
export const MAX_ERRORS = 20;

/** The module API's folders: `shared/` beside the sources and hrmr's own. Their errors are not the module's. */
function apiDirs(srcDir: string): string[] {
  const root = packageRoot();
  return [join(resolve(srcDir), '..', 'shared'), ...(root !== null ? [join(root, 'shared')] : [])].map((d) => d + sep);
}

/** True for a file whose errors are the module author's (not a declaration, a dependency or the module API). */
function ownSource(file: string, api: readonly string[]): boolean {
  return CHECKED.test(file) && !DECLARATION.test(file) && !file.includes(`${sep}node_modules${sep}`) && !api.some((d) => file.startsWith(d));
}

/** The compiler options for modules in `srcDir`, and the tsconfig.json they came from (null: defaults). */
export function compilerSettings(ts: TypeScript, srcDir: string): { options: TS.CompilerOptions; tsconfig: string | null } {
  const tsconfig = ts.findConfigFile(resolve(srcDir), (f) => ts.sys.fileExists(f), 'tsconfig.json') ?? null;
  if (tsconfig !== null) {
    const read = ts.readConfigFile(tsconfig, (f) => ts.sys.readFile(f));
    if (!read.error) {
      const parsed = ts.parseJsonConfigFileContent(read.config, ts.sys, dirname(tsconfig), undefined, tsconfig);
      return { options: { ...parsed.options, noEmit: true }, tsconfig };
    }
  }
  const typeRoots = [join(resolve(srcDir), '..', 'node_modules', '@types'), join(process.cwd(), 'node_modules', '@types')];
  const root = packageRoot();
  if (root !== null) typeRoots.push(join(root, 'node_modules', '@types'));
  return {
    options: {
      target: ts.ScriptTarget.ES2022,
      module: ts.ModuleKind.ESNext,
      moduleResolution: ts.ModuleResolutionKind.Bundler,
      lib: ['lib.es2023.d.ts'],
      types: ['node'],
      typeRoots: [...new Set(typeRoots)].filter((d) => existsSync(d)),
      strict: true,
      noEmit: true,
      skipLibCheck: true,
      allowImportingTsExtensions: true,
      isolatedModules: true,
      resolveJsonModule: true,
      esModuleInterop: true,
    },
    tsconfig: null,
  };
}

/** `file:line:col: error TSnnnn: text`, then the line and a caret under the span (like esbuild's messages). */
export function formatDiagnostic(ts: TypeScript, d: TS.Diagnostic, cwd = process.cwd()): string {
  const [first = '', ...more] = ts.flattenDiagnosticMessageText(d.messageText, '\n').split('\n');
  const rest = more.map((l) => `\n  ${l}`).join('');
  if (!d.file || d.start === undefined) return `error TS${d.code}: ${first}${rest}`;
  const { line, character } = d.file.getLineAndCharacterOfPosition(d.start);
  const file = relative(cwd, d.file.fileName) || d.file.fileName;
  const starts = d.file.getLineStarts();
  const end = line + 1 < starts.length ? starts[line + 1]! : d.file.text.length;
  const lineText = d.file.text.slice(starts[line], end).replace(/\r?\n$/, '');
  const pad = lineText.slice(0, character).replace(/[^\t]/g, ' ');
  const carets = '^'.repeat(Math.max(1, Math.min(d.length ?? 1, lineText.length - character)));
  return `${file}:${line + 1}:${character + 1}: error TS${d.code}: ${first}${rest}\n    ${lineText}\n    ${pad}${carets}`;
}

interface Snap {
  version: string;
  snapshot: TS.IScriptSnapshot;
}

/**
 * A TypeScript language service over the module entries. Files are versioned
 * by modification time and size, so each check re-reads only what changed and
 * reuses the rest of the program (a re-check of one small module takes a few
 * hundred ms once the standard library is loaded).
 */
export class TypeChecker {
  readonly options: TS.CompilerOptions;
  readonly tsconfig: string | null;
  private readonly roots = new Set<string>();
  private readonly cache = new Map<string, Snap>();
  private readonly service: TS.LanguageService;
  private readonly libDir: string;
  private readonly api: string[];

  constructor(
    private readonly ts: TypeScript,
    srcDir: string,
    private readonly cwd = process.cwd(),
  ) {
    const s = compilerSettings(ts, srcDir);
    this.options = s.options;
    this.tsconfig = s.tsconfig;
    this.libDir = dirname(ts.getDefaultLibFilePath(this.options));
    this.api = apiDirs(srcDir);
    const host: TS.LanguageServiceHost = {
      getCompilationSettings: () => this.options,
      getScriptFileNames: () => [...this.roots],
      getScriptVersion: (f) => this.version(f),
      getScriptSnapshot: (f) => this.snapshot(f),
      getCurrentDirectory: () => this.cwd,
      getDefaultLibFileName: (o) => ts.getDefaultLibFilePath(o),
      fileExists: (f) => ts.sys.fileExists(f),
      readFile: (f, enc) => ts.sys.readFile(f, enc),
      readDirectory: (p, ext, exc, inc, depth) => ts.sys.readDirectory(p, ext, exc, inc, depth),
      directoryExists: (d) => ts.sys.directoryExists(d),
      getDirectories: (d) => ts.sys.getDirectories(d),
      realpath: (p) => ts.sys.realpath?.(p) ?? p,
    };
    this.service = ts.createLanguageService(host, ts.createDocumentRegistry());
  }

  private version(file: string): string {
    // The standard library does not change under a running process.
    if (file.startsWith(this.libDir)) return '0';
    try {
      const st = statSync(file);
      return `${st.mtimeMs}:${st.size}`;
    } catch {
      return 'gone';
    }
  }

  private snapshot(file: string): TS.IScriptSnapshot | undefined {
    const version = this.version(file);
    const hit = this.cache.get(file);
    if (hit && hit.version === version) return hit.snapshot;
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch {
      this.cache.delete(file);
      return undefined;
    }
    const snapshot = this.ts.ScriptSnapshot.fromString(text);
    this.cache.set(file, { version, snapshot });
    return snapshot;
  }

  /**
   * Checks the given modules: every source file each one read (its entry and
   * helpers) is checked; declaration files, node_modules and the module API
   * (shared/) are not: their errors are not the module author's.
   * Entries that no longer exist are dropped from the program.
   */
  check(modules: readonly ModuleFiles[]): TypeCheckResult[] {
    for (const m of modules) this.roots.add(resolve(m.entry));
    for (const r of this.roots) if (!existsSync(r)) this.roots.delete(r);
    const memo = new Map<string, string[]>();
    const errorsOf = (file: string): string[] => {
      let out = memo.get(file);
      if (out) return out;
      const diags = [...this.service.getSyntacticDiagnostics(file), ...this.service.getSemanticDiagnostics(file)];
      out = diags.filter((d) => d.category === this.ts.DiagnosticCategory.Error).map((d) => formatDiagnostic(this.ts, d, this.cwd));
      memo.set(file, out);
      return out;
    };
    return modules.map((m) => {
      const files = [...new Set([resolve(m.entry), ...m.files.map((f) => resolve(f))])].filter((f) => ownSource(f, this.api) && existsSync(f));
      return { module: m.module, errors: files.flatMap(errorsOf) };
    });
  }
}

/** Checks modules once (for `hrmr build`); null when typescript is not installed. */
export async function typecheckOnce(srcDir: string, modules: readonly ModuleFiles[]): Promise<{ results: TypeCheckResult[]; tsconfig: string | null } | null> {
  const ts = await loadTypeScript();
  if (ts === null) return null;
  const checker = new TypeChecker(ts, srcDir);
  return { results: checker.check(modules), tsconfig: checker.tsconfig };
}

/** What the watch-mode checker reports back. */
export interface BackgroundCheckHandlers {
  /** A check finished: one result per module asked for (in the last batch), and how long it took. */
  onResult(results: TypeCheckResult[], ms: number): void;
  /** Type-checking is off for good (typescript missing, the worker failed to start). */
  onUnavailable(reason: string): void;
}

export interface BackgroundChecker {
  /** Queues modules for a check; requests made while one runs are merged into the next. */
  request(modules: readonly ModuleFiles[]): void;
  close(): Promise<void>;
}

/** Messages from typecheck-worker.ts. */
export type WorkerReply = { type: 'result'; results: TypeCheckResult[]; ms: number } | { type: 'missing' } | { type: 'failed'; error: string };

/** The worker's file: beside this one once built into dist/, or the .ts source when run from src/ (tsx). */
function workerFile(): URL {
  const built = new URL('./typecheck-worker.mjs', import.meta.url);
  return existsSync(built) ? built : new URL('./typecheck-worker.ts', import.meta.url);
}

/**
 * Type-checks in a worker thread, one batch at a time: the main thread only
 * posts file lists, so rebuilds and reloads never wait for the checker.
 */
export async function startBackgroundTypecheck(srcDir: string, h: BackgroundCheckHandlers): Promise<BackgroundChecker> {
  const { Worker } = await import('node:worker_threads');
  let worker: InstanceType<typeof Worker> | null = null;
  let busy = false;
  let dead = false;
  const pending = new Map<string, ModuleFiles>();

  const stop = (reason: string | null): void => {
    if (dead) return;
    dead = true;
    pending.clear();
    void worker?.terminate();
    if (reason !== null) h.onUnavailable(reason);
  };
  const send = (): void => {
    if (busy || dead || pending.size === 0 || worker === null) return;
    busy = true;
    const modules = [...pending.values()];
    pending.clear();
    worker.postMessage({ type: 'check', modules });
  };

  try {
    worker = new Worker(workerFile(), { workerData: { srcDir: resolve(srcDir), cwd: process.cwd() }, stdout: false, stderr: false });
  } catch (err) {
    stop(`the type-check worker did not start: ${err instanceof Error ? err.message : String(err)}`);
  }
  if (worker !== null) {
    // The checker never keeps the process alive.
    worker.unref();
    worker.on('message', (m: WorkerReply) => {
      if (m.type === 'missing') return stop(TYPESCRIPT_MISSING);
      if (m.type === 'failed') return stop(`the type-checker failed: ${m.error}`);
      busy = false;
      h.onResult(m.results, m.ms);
      send();
    });
    worker.on('error', (err) => stop(`the type-checker failed: ${err.message}`));
    worker.on('exit', () => stop(dead ? null : 'the type-check worker exited'));
  }

  return {
    request(modules) {
      if (dead) return;
      for (const m of modules) pending.set(m.module, m);
      send();
    },
    async close() {
      if (dead) return;
      dead = true;
      pending.clear();
      await worker?.terminate();
    },
  };
}
