// SPDX-License-Identifier: LGPL-3.0-or-later
/**
 * Watch mode: chokidar watches `modules_src/` and `shared/` (plus any other
 * file a build read outside node_modules); a burst of changes is coalesced,
 * the affected entries are rebuilt incrementally (one esbuild context per
 * entry) and exactly those modules are reloaded in the running server.
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { basename, dirname, extname, join, resolve, sep } from 'node:path';
import type { BuildContext } from 'esbuild';
import type { Logger } from 'pino';
import type { ReloadReport } from '../modules/registry.ts';
import { entryOptions, failureMessages, listEntries, metafileInputs, moduleName, removeOutputs, writeOutputs } from './build.ts';
import { planChanges, type ChangeKind } from './watch-plan.ts';

/** What the watcher needs from the server. */
export interface Reloader {
  reload(only?: readonly string[]): Promise<ReloadReport>;
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
}

export interface ModuleWatcher {
  /** Stops watching and disposes the esbuild contexts. */
  close(): Promise<void>;
}

/** Quiet time ending a burst: editors write several files within a few ms. */
const DEBOUNCE_MS = 50;
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

  /** Rebuilds one entry; true when new output was written. */
  const rebuild = async (name: string, entry: string): Promise<boolean> => {
    entries.set(name, entry);
    try {
      let ctx = contexts.get(name);
      if (!ctx) {
        ctx = await context(entryOptions(entry, outDir));
        contexts.set(name, ctx);
      }
      const result = await ctx.rebuild();
      if (result.errors.length > 0) throw Object.assign(new Error('build failed'), { errors: result.errors, warnings: result.warnings });
      writeOutputs(result.outputFiles);
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
      return true;
    } catch (err) {
      failing.add(name);
      const errors = failureMessages(err);
      log.error({ module: name, file: entry, errors }, `build failed, previous version keeps serving: ${errors[0]!.split('\n')[0]}`);
      return false;
    }
  };

  const forget = async (name: string): Promise<void> => {
    const ctx = contexts.get(name);
    contexts.delete(name);
    entries.delete(name);
    inputs.delete(name);
    failing.delete(name);
    await ctx?.dispose().catch(() => undefined);
    removeOutputs(outDir, name);
  };

  const reload = async (names: string[], since: number): Promise<void> => {
    if (names.length === 0 || closed) return;
    const report = await o.server.reload(names);
    const ms = Math.round(performance.now() - since);
    for (const module of report.loaded) log.info({ module, ms, change: 'loaded' }, 'module reloaded from watch');
    for (const module of report.reloaded) log.info({ module, ms, change: 'reloaded' }, 'module reloaded from watch');
    for (const module of report.unloaded) log.info({ module, ms, change: 'unloaded' }, 'module unloaded from watch');
    for (const f of report.failed) log.warn({ module: f.module, error: f.error }, 'module built but did not load; previous version keeps serving');
  };

  const runBatch = async (changes: Map<string, ChangeKind>, since: number): Promise<void> => {
    const plan = planChanges(changes, { srcDir, entries, inputs, failing });
    for (const name of plan.remove) await forget(name);
    const built = await Promise.all([...plan.build].map(async ([name, entry]) => ((await rebuild(name, entry)) ? name : null)));
    await reload([...built.filter((n): n is string => n !== null), ...plan.remove], since);
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
  const first = await Promise.all(listEntries(srcDir).map(async (entry) => ((await rebuild(moduleName(entry), entry)) ? moduleName(entry) : null)));
  await reload(first.filter((n): n is string => n !== null), started);
  log.info({ src: srcDir, watching: roots, modules: [...entries.keys()], failing: [...failing] }, 'watching module sources');

  return {
    async close(): Promise<void> {
      if (closed) return;
      closed = true;
      if (timer) clearTimeout(timer);
      for (const t of rechecks.values()) clearTimeout(t);
      rechecks.clear();
      await watcher.close();
      await running;
      await Promise.all([...contexts.values()].map((c) => c.dispose().catch(() => undefined)));
      contexts.clear();
    },
  };
}
