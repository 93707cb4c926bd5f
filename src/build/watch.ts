// SPDX-License-Identifier: LGPL-3.0-or-later
/**
 * Watch mode: chokidar watches `modules_src/` and `shared/` (plus any other
 * file a build read outside node_modules); a burst of changes is coalesced,
 * the affected entries are rebuilt incrementally (one esbuild context per
 * entry) and exactly those modules are reloaded in the running server. Each
 * save logs one info line (what changed, which modules, versions, ms); type
 * errors follow from a background checker thread, without delaying the reload.
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { basename, dirname, extname, join, relative, resolve, sep } from 'node:path';
import type { BuildContext } from 'esbuild';
import type { Logger } from 'pino';
import type { ReloadReport } from '../modules/registry.ts';
import { entryOptions, failureMessages, listEntries, metafileInputs, moduleName, outputFile, removeOutputs, writeOutputs } from './build.ts';
import type { BackgroundChecker, TypeCheckResult } from './typecheck.ts';
import { planChanges, type ChangeKind } from './watch-plan.ts';

/** What the watcher needs from the server. */
export interface Reloader {
  /** `source: 'watch'` tells the server the watcher logs the outcome (its own line can be debug). */
  reload(only?: readonly string[], opts?: { source: 'watch' }): Promise<ReloadReport>;
  /** When present, the versions serving (for the log line). */
  registry?: { status(): ReadonlyArray<{ name: string; version?: unknown; routes?: readonly unknown[] }> };
}

export interface WatchOptions {
  srcDir: string;
  outDir: string;
  server: Reloader;
  log: Logger;
  /** Defaults to `shared/` beside `srcDir`, watched when it exists. */
  sharedDir?: string;
  /** Quiet time that ends a burst of changes. */
  debounceMs?: number;
  /** Type-check changed modules in a worker thread (default: on unless HRMR_TYPECHECK is 0/false/no/off). */
  typecheck?: boolean;
}

export interface ModuleWatcher {
  /** Stops watching and disposes the esbuild contexts. */
  close(): Promise<void>;
}

/**
 * Quiet time ending a burst: editors write several files within a few ms
 * (a save-all, or a write-then-rename). It is also a fixed part of every
 * save -> new reply (the bench's watch rows), so no longer than that needs.
 */
const DEBOUNCE_MS = 30;
/** A burst never delays a rebuild longer than this. */
const MAX_DELAY_MS = 250;
/**
 * chokidar drops (does not defer) a change coming within 50 ms of the last
 * one on the same file, so a quick second save could be lost: each event
 * schedules a look at the file this much later.
 */
const RECHECK_MS = 60;
const SOURCE_EXT = new Set(['.ts', '.mts', '.cts', '.tsx', '.js', '.mjs', '.cjs', '.jsx', '.json']);

/** A file's content fingerprint ('' when it is gone). */
function fingerprint(path: string): string {
  try {
    return createHash('sha1').update(readFileSync(path)).digest('base64');
  } catch {
    return '';
  }
}

/** chokidar's filter: skip dotfiles, node_modules and files no build reads. */
export function ignoredPath(path: string, isFile: boolean | undefined): boolean {
  const base = basename(path);
  if (base === 'node_modules' || (base.startsWith('.') && base.length > 1)) return true;
  return isFile === true && !SOURCE_EXT.has(extname(base));
}

export async function startWatch(o: WatchOptions): Promise<ModuleWatcher> {
  const [{ context }, { watch }] = await Promise.all([import('esbuild'), import('chokidar')]);
  const srcDir = resolve(o.srcDir);
  const outDir = resolve(o.outDir);
  const log = o.log;
  const debounceMs = o.debounceMs ?? DEBOUNCE_MS;
  mkdirSync(srcDir, { recursive: true });
  mkdirSync(outDir, { recursive: true });

  const entries = new Map<string, string>();
  const contexts = new Map<string, BuildContext<ReturnType<typeof entryOptions>>>();
  const inputs = new Map<string, Set<string>>();
  const failing = new Set<string>();
  const roots = [srcDir];
  const sharedDir = resolve(o.sharedDir ?? join(dirname(srcDir), 'shared'));
  if (existsSync(sharedDir)) roots.push(sharedDir);
  const extraWatched = new Set<string>();

  let pending = new Map<string, ChangeKind>();
  let firstChangeAt = 0;
  let timer: NodeJS.Timeout | null = null;
  let running: Promise<void> | null = null;
  let closed = false;
  /** What each changed file held when its last batch started. */
  const seen = new Map<string, string>();
  const rechecks = new Map<string, NodeJS.Timeout>();

  const underRoots = (p: string): boolean => roots.some((r) => p === r || p.startsWith(r + sep));

  /** Files as the log shows them: relative to the working directory. */
  const shown = (p: string): string => relative(process.cwd(), p) || p;

  /**
   * Rebuilds one entry. 'changed': a new .mjs was written; 'same': it
   * compiled to the code already there (a comment, a type-only edit);
   * 'failed': it did not compile (logged; the previous version keeps serving).
   */
  const rebuild = async (name: string, entry: string): Promise<'changed' | 'same' | 'failed'> => {
    entries.set(name, entry);
    try {
      let ctx = contexts.get(name);
      if (!ctx) {
        ctx = await context(entryOptions(entry, outDir));
        contexts.set(name, ctx);
      }
      const result = await ctx.rebuild();
      if (result.errors.length > 0) throw Object.assign(new Error('build failed'), { errors: result.errors, warnings: result.warnings });
      const written = writeOutputs(result.outputFiles);
      const read = metafileInputs(result.metafile);
      inputs.set(name, new Set(read));
      failing.delete(name);
      for (const p of read) {
        // A file outside the watched folders (shared/ elsewhere): watch it too.
        if (!underRoots(p) && !p.includes(`${sep}node_modules${sep}`) && !extraWatched.has(p)) {
          extraWatched.add(p);
          watcher.add(p);
        }
      }
      return written.includes(outputFile(outDir, name)) ? 'changed' : 'same';
    } catch (err) {
      failing.add(name);
      const errors = failureMessages(err);
      log.error({ module: name, file: shown(entry), errors }, `build failed, previous version keeps serving: ${errors[0]!.split('\n')[0]}`);
      return 'failed';
    }
  };

  const forget = async (name: string): Promise<void> => {
    const ctx = contexts.get(name);
    contexts.delete(name);
    entries.delete(name);
    inputs.delete(name);
    failing.delete(name);
    typeErrors.delete(name);
    await ctx?.dispose().catch(() => undefined);
    removeOutputs(outDir, name);
  };

  /** The version serving for each module (when the server says). */
  const versions = (): Map<string, unknown> => {
    const out = new Map<string, unknown>();
    try {
      for (const m of o.server.registry?.status() ?? []) out.set(m.name, m.version);
    } catch {
      /* no versions in the log line then */
    }
    return out;
  };

  /** Modules serving nothing: every route refused (another module owns its prefix or path). */
  const idle = (): Set<string> => {
    const out = new Set<string>();
    try {
      for (const m of o.server.registry?.status() ?? []) {
        const routes = (m.routes ?? []) as Array<{ refused?: boolean }>;
        if (routes.length > 0 && routes.every((r) => r.refused === true)) out.add(m.name);
      }
    } catch {
      /* not known then */
    }
    return out;
  };

  /** Reloads `names` and logs the outcome of the save: one info line. */
  const reload = async (names: string[], since: number, changed: string[], initial: boolean, affected = names.length): Promise<void> => {
    if (closed) return;
    const report = names.length > 0 ? await o.server.reload(names, { source: 'watch' }) : null;
    const ms = Math.round(performance.now() - since);
    // Each failure was logged once by the registry, with its reason and source location.
    for (const f of report?.failed ?? []) log.debug({ module: f.module, error: f.error }, `${f.module} built but did not load`);
    const v = versions();
    const swaps = [
      ...(report?.loaded ?? []).map((module) => ({ module, change: 'loaded' })),
      ...(report?.reloaded ?? []).map((module) => ({ module, change: 'reloaded' })),
      ...(report?.unloaded ?? []).map((module) => ({ module, change: 'unloaded' })),
    ].map((s) => ({ ...s, version: s.change === 'unloaded' ? null : (v.get(s.module) ?? null) }));
    const files = changed.map(shown);
    const what = initial ? 'initial build' : `${files.slice(0, 3).join(', ')}${files.length > 3 ? ` and ${files.length - 3} more` : ''} changed`;
    if (swaps.length > 0) {
      const none = idle();
      const nothing = swaps.filter((s) => s.change !== 'unloaded' && none.has(s.module)).map((s) => s.module);
      const list = swaps.map((s) => `${s.module}${s.version !== null ? ` v${String(s.version)}` : ''} ${s.change}${nothing.includes(s.module) ? ' but serves nothing (every route is taken by another module)' : ''}`).join(', ');
      const first = swaps[0]!;
      log[nothing.length > 0 ? 'warn' : 'info']({ watch: 'reloaded', module: first.module, version: first.version, change: first.change, modules: swaps, ms, changed: files, ...(nothing.length > 0 ? { servesNothing: nothing } : {}) }, `${list} in ${ms} ms (${what})`);
    } else if (!initial && affected === 0) {
      log.info({ watch: 'unchanged', ms, changed: files, modules: [] }, `no change to serve: ${what}, and no module uses it`);
    } else if (!initial && (report === null || report.failed.length === 0) && !lastBatchFailed) {
      log.info({ watch: 'unchanged', ms, changed: files, modules: [] }, `no change to serve: ${what}, but the built code is the same`);
    } else {
      log.debug({ watch: 'none', ms, changed: files }, initial ? 'initial build: modules/ was up to date' : 'nothing reloaded');
    }
  };
  /** Set by a batch where a build failed (its error line says what happened). */
  let lastBatchFailed = false;

  const runBatch = async (changes: Map<string, ChangeKind>, since: number): Promise<void> => {
    const plan = planChanges(changes, { srcDir, entries, inputs, failing });
    for (const name of plan.remove) await forget(name);
    const built = await Promise.all([...plan.build].map(async ([name, entry]) => [name, await rebuild(name, entry)] as const));
    lastBatchFailed = built.some(([, r]) => r === 'failed');
    const toReload = built.filter(([, r]) => r === 'changed').map(([n]) => n);
    await reload([...toReload, ...plan.remove], since, [...changes.keys()], false, built.length + plan.remove.size);
    // A type-only edit builds to the same code but may add or fix type errors: check everything that compiled.
    requestCheck(built.filter(([, r]) => r !== 'failed').map(([n]) => n));
  };

  // Type errors: checked in a worker after the reload, reported per module.
  const typeErrors = new Map<string, number>();
  let checker: BackgroundChecker | null = null;
  const requestCheck = (names: readonly string[]): void => {
    if (checker === null || names.length === 0) return;
    checker.request(names.filter((n) => entries.has(n)).map((module) => ({ module, entry: entries.get(module)!, files: [...(inputs.get(module) ?? [])] })));
  };
  const onTypeResults = (results: TypeCheckResult[], ms: number): void => {
    for (const r of results) {
      if (!entries.has(r.module) || closed) continue;
      const n = r.errors.length;
      if (n > 0) {
        typeErrors.set(r.module, n);
        const errors = r.errors.slice(0, 20);
        log.error({ module: r.module, typeErrors: n, errors, ms }, `${n} type error${n === 1 ? '' : 's'} in ${r.module}: ${r.errors[0]!.split('\n')[0]}`);
      } else if (typeErrors.delete(r.module)) {
        log.info({ module: r.module, typeErrors: 0, ms }, `type errors fixed in ${r.module}`);
      } else {
        log.debug({ module: r.module, typeErrors: 0, ms }, 'type-check clean');
      }
    }
  };

  const flush = (): void => {
    timer = null;
    if (running || closed || pending.size === 0) return;
    const changes = pending;
    const since = firstChangeAt;
    pending = new Map();
    for (const p of changes.keys()) seen.set(p, fingerprint(p));
    running = runBatch(changes, since)
      .catch((err: unknown) => log.error({ err }, 'watch rebuild failed'))
      .finally(() => {
        running = null;
        // Changes that arrived during this batch make the next one.
        if (pending.size > 0) schedule();
      });
  };

  const schedule = (): void => {
    if (timer) clearTimeout(timer);
    const wait = Math.max(0, Math.min(debounceMs, firstChangeAt + MAX_DELAY_MS - performance.now()));
    timer = setTimeout(flush, wait);
  };

  const recheck = (path: string): void => {
    rechecks.delete(path);
    const now = fingerprint(path);
    if (closed || pending.has(path) || now === seen.get(path)) return;
    onEvent(now === '' ? 'unlink' : 'change', path, false);
  };

  const onEvent = (kind: ChangeKind, raw: string, fromWatcher = true): void => {
    if (closed) return;
    const path = resolve(raw);
    log.debug({ path, event: kind, fromWatcher }, 'watch event');
    if (pending.size === 0) firstChangeAt = performance.now();
    pending.set(path, kind);
    schedule();
    if (fromWatcher) {
      clearTimeout(rechecks.get(path));
      rechecks.set(path, setTimeout(recheck, RECHECK_MS, path));
    }
  };

  const watcher = watch(roots, {
    ignoreInitial: true,
    ignored: (p, stats) => ignoredPath(p, stats?.isFile()),
    // awaitWriteFinish would add ~2 s; esbuild reads the file whole anyway and
    // a half-written save simply fails to compile until the next event.
    awaitWriteFinish: false,
  });
  watcher.on('add', (p) => onEvent('add', p));
  watcher.on('change', (p) => onEvent('change', p));
  watcher.on('unlink', (p) => onEvent('unlink', p));
  watcher.on('error', (err) => log.error({ err }, 'watch error'));
  await new Promise<void>((r) => watcher.once('ready', () => r()));

  // First build: bring modules/ up to date with the sources. Unchanged output is a no-op reload.
  const started = performance.now();
  const first = await Promise.all(listEntries(srcDir).map(async (entry) => [moduleName(entry), await rebuild(moduleName(entry), entry)] as const));
  // Unchanged output is a no-op reload; a module that failed to load at start-up gets another try.
  await reload(first.filter(([, r]) => r !== 'failed').map(([n]) => n), started, [], true);
  const typecheck = o.typecheck ?? !/^(?:0|false|no|off)$/i.test((process.env.HRMR_TYPECHECK ?? '').trim());
  if (typecheck) {
    const { startBackgroundTypecheck } = await import('./typecheck.ts');
    checker = await startBackgroundTypecheck(srcDir, {
      onResult: onTypeResults,
      onUnavailable: (reason) => log.warn({ typecheck: false }, `type-checking is off: ${reason}`),
    });
    requestCheck(first.filter(([, r]) => r !== 'failed').map(([n]) => n));
  }
  log.info({ src: srcDir, watching: roots, modules: [...entries.keys()], failing: [...failing], typecheck }, 'watching module sources');

  return {
    async close(): Promise<void> {
      if (closed) return;
      closed = true;
      if (timer) clearTimeout(timer);
      for (const t of rechecks.values()) clearTimeout(t);
      rechecks.clear();
      await watcher.close();
      await checker?.close();
      await running;
      await Promise.all([...contexts.values()].map((c) => c.dispose().catch(() => undefined)));
      contexts.clear();
    },
  };
}
