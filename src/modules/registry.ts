// SPDX-License-Identifier: LGPL-3.0-or-later
/**
 * The module registry: which version of each module serves, and RELOAD.
 *
 * A reload rescans the modules folder, loads new files, reloads changed ones
 * (by content hash) and unloads deleted ones. While a module is swapped its
 * slot is marked `swapping` (the router answers 503 or, in graceful mode,
 * keeps the old version serving). A module that fails to import or set up
 * keeps its previous version. Reloads are serialized.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { basename, resolve } from 'node:path';
import type { Logger } from 'pino';
import { firstLine, ModuleImportError, ModuleSetupError, ModuleSetupTimeoutError, ModuleShapeError, type RouteConflictError } from '../errors.ts';
import type { PrefixTable } from '../router/prefix-table.ts';
import type { Matcher } from '../router/matcher.ts';
import type { PathTable } from '../http/path-table.ts';
import { adminPrefixes } from '../admin/reserved.ts';
import { KeptStates } from './keep.ts';
import { VersionWatch, watching } from './leak-watch.ts';
import { buildRouteTable, type HttpTarget, type RouteTarget, type SlotView } from './route-table.ts';
import { scanFolders, type ModuleFolder, type ScannedModule } from './scan.ts';
import { SnapshotStore } from './snapshot.ts';
import { sourceLocation } from './source-location.ts';
import { validateModule, type CompiledRoute } from './validate.ts';
import { ModuleVersion, type VersionInfo } from './version.ts';
import { moduleMetrics } from '../metrics/module-api.ts';

/** Work other parts do when a version goes live or is purged (the worker pool). */
export interface VersionHooks {
  /** Must resolve before the version serves; a rejection fails its load. */
  prepare(v: ModuleVersion): Promise<void>;
  /** After dispose on the main thread. */
  purge(v: ModuleVersion): Promise<void>;
}

export interface RegistryOptions {
  dir: string;
  drainTimeoutMs: number;
  log: Logger;
  /** Config for a module by name. */
  config(name: string): Readonly<Record<string, string>>;
  hooks?: VersionHooks;
  /** Server processes sharing the port (SetupContext.processes). */
  processes?: number;
  /** --setup-timeout: import + setup + pool preparation of one version, at most (0 = no bound). */
  setupTimeoutMs?: number;
  /** TLS termination is configured (see RouteTableOptions). */
  tlsTerminate?: boolean;
  /** Request-line prefixes of the core's own HTTP routes (see buildRouteTable). */
  httpPrefixes?: readonly string[];
  /** Folders scanned before `dir` (the bundled modules); a module in `dir` replaces one of the same name. */
  extraFolders?: readonly ModuleFolder[];
}

export const DEFAULT_SETUP_TIMEOUT_MS = 10_000;

/** How far one version's load got (what a timeout names), and whether it timed out. */
interface LoadAttempt {
  name: string;
  step: 'import' | 'setup' | 'pool preparation';
  late: boolean;
}

/** A load that finished after its timeout: it undid itself. */
const LATE = Symbol('late load');

/** `p`, or the error `onTimeout` makes if `ms` pass first. */
async function deadline<T>(p: Promise<T>, ms: number, onTimeout: () => Error): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(onTimeout()), ms);
  });
  try {
    return await Promise.race([p, late]);
  } finally {
    clearTimeout(timer);
  }
}

export interface ModuleFailure {
  module: string;
  error: string;
}

export interface ReloadReport {
  ok: boolean;
  /** Modules serving after the reload. */
  modules: number;
  loaded: string[];
  reloaded: string[];
  unloaded: string[];
  failed: ModuleFailure[];
  conflicts: string[];
  /** Routes refused in this reload because a module already serving owns them (these make the reload fail). */
  refused: string[];
  ms: number;
}

class Slot implements SlotView {
  current: ModuleVersion | null = null;
  swapping = false;
  /** Versions retired but still draining. */
  readonly draining = new Set<ModuleVersion>();
  constructor(
    readonly key: string,
    readonly file: string,
    /** Which folder it came from ('' = --modules). */
    readonly origin = '',
  ) {}
}

export class ModuleRegistry {
  private readonly slots = new Map<string, Slot>();
  private readonly snapshots: SnapshotStore;
  private readonly dir: string;
  private loadCounter = 0;
  private versionCounter = new Map<string, number>();
  private chain: Promise<unknown> = Promise.resolve();
  private _table: Matcher<RouteTarget>;
  private _plain: PrefixTable<RouteTarget>;
  private _http: PathTable<HttpTarget>;
  private _hasHttp = false;
  private _conflicts: RouteConflictError[] = [];
  private _refused: RouteConflictError[] = [];
  private owners: Map<string, string> = new Map();
  private shadowedKey = '';
  /** `ctx.keep` state per module name (main thread). */
  readonly kept = new KeptStates();
  private loadedOnce = false;
  /** RELOADs done since start (the start-up load is not counted). */
  reloads = 0;
  /** Modules whose first load failed: the file's hash and the error (reported once). */
  private readonly failedFirst = new Map<string, { hash: string; error: string }>();
  /** Modules whose load passed --setup-timeout and has not settled yet: the hash being loaded. */
  private readonly hanging = new Map<string, string>();

  constructor(private readonly opts: RegistryOptions) {
    this.dir = resolve(opts.dir);
    this.snapshots = new SnapshotStore(this.dir);
    const t = buildRouteTable([], adminPrefixes(), new Map(), { tlsTerminate: opts.tlsTerminate === true });
    this._table = t.table;
    this._plain = t.plain;
    this._http = t.http;
  }

  /** The table new connections are routed with. Replaced whole on every change. */
  get table(): Matcher<RouteTarget> {
    return this._table;
  }

  /** The byte-prefix table alone: what a decrypted TLS stream is routed with. */
  get plainTable(): PrefixTable<RouteTarget> {
    return this._plain;
  }

  get conflicts(): readonly RouteConflictError[] {
    return this._conflicts;
  }

  /** The path table HTTP requests are routed with (replaced whole on every change). */
  get http(): PathTable<HttpTarget> {
    return this._http;
  }

  /** True when some module has an HTTP route (the host claims the method prefixes). */
  get hasHttp(): boolean {
    return this._hasHttp;
  }

  /**
   * Rescans and swaps. `only` limits the work to those module file names
   * (watch mode); others are left as they are.
   */
  reload(only?: readonly string[], quiet = false): Promise<ReloadReport> {
    const run = this.chain.then(() => watching(() => this.doReload(only, quiet)));
    this.chain = run.catch(() => undefined);
    return run;
  }

  /** `quiet`: per-module lines at debug (watch mode logs its own line per save). */
  private async doReload(only?: readonly string[], quiet = false): Promise<ReloadReport> {
    const level = quiet ? 'debug' : 'info';
    const started = performance.now();
    const report: ReloadReport = { ok: true, modules: 0, loaded: [], reloaded: [], unloaded: [], failed: [], conflicts: [], refused: [], ms: 0 };
    this._refused = [];
    const files = this.scan(report);
    const wanted = only ? new Set(only) : null;

    // Deleted files: unload.
    for (const [key, slot] of this.slots) {
      if (files.has(key) || (wanted && !wanted.has(key))) continue;
      this.slots.delete(key);
      if (slot.current) {
        report.unloaded.push(slot.current.name);
        this.retire(slot, slot.current);
        this.opts.log[level]({ module: slot.current.name, version: slot.current.number }, 'module unloaded');
      }
    }
    this.rebuildTable();

    const jobs: Promise<void>[] = [];
    for (const [key, { file, origin }] of files) {
      if (wanted && !wanted.has(key)) continue;
      let bytes: Buffer;
      try {
        bytes = readFileSync(file);
      } catch (err) {
        report.failed.push({ module: key, error: `cannot read ${file}: ${firstLine(err)}` });
        continue;
      }
      const hash = createHash('sha256').update(bytes).digest('hex');
      const had = this.slots.get(key);
      if (had?.current?.hash === hash && had.file === file) continue;
      let slot = had;
      if (this.hanging.get(key) === hash) {
        // Its earlier load of this same file still hangs past --setup-timeout: loading it again would only add one.
        const name = slot?.current?.name ?? key;
        const error = `setup timed out (HRMR_SETUP_TIMEOUT): an earlier load of this file has not finished (--setup-timeout ${this.opts.setupTimeoutMs ?? DEFAULT_SETUP_TIMEOUT_MS} ms)`;
        if (slot?.current) report.failed.push({ module: name, error });
        else this.opts.log.debug({ module: name }, `module ${name}: ${error}; still not loaded (reported before)`);
        continue;
      }
      if (!slot || slot.file !== file) {
        // A new module, or one now coming from another folder (a project's module replacing a bundled one).
        slot = new Slot(key, file, origin);
        slot.current = had?.current ?? null;
        this.slots.set(key, slot);
      }
      jobs.push(this.swap(slot, bytes, hash, report, level));
    }
    await Promise.all(jobs);

    // Forget slots whose first load failed.
    for (const [key, slot] of this.slots) if (!slot.current) this.slots.delete(key);
    for (const key of this.failedFirst.keys()) if (!files.has(key) && (!wanted || wanted.has(key))) this.failedFirst.delete(key);

    this.rebuildTable();
    for (const c of this._conflicts) {
      report.conflicts.push(c.message);
      this.opts.log.warn({ module: c.module, prefix: c.prefix, owner: c.owner }, 'route conflict');
    }
    // Refusals seen in any table built during this reload (a later rebuild may no longer see the newcomer's old state).
    // Only routes of modules this reload loaded or changed: a conflict left from start-up is reported, not refused again.
    const touched = new Set([...report.loaded, ...report.reloaded]);
    for (const c of this._refused) if (touched.has(c.module) && !report.refused.includes(c.message)) report.refused.push(c.message);
    if (this.loadedOnce) this.reloads++;
    this.loadedOnce = true;
    report.modules = [...this.slots.values()].filter((s) => s.current).length;
    report.ok = report.failed.length === 0 && report.refused.length === 0;
    report.ms = Math.round(performance.now() - started);
    return report;
  }

  private scan(report: ReloadReport): Map<string, ScannedModule> {
    return scanFolders([...(this.opts.extraFolders ?? []), { dir: this.dir, only: null, origin: '', required: true }], report.failed);
  }

  private async swap(slot: Slot, bytes: Buffer, hash: string, report: ReloadReport, level: 'info' | 'debug' = 'info'): Promise<void> {
    const log = this.opts.log;
    const old = slot.current;
    const key = slot.key;
    slot.swapping = old !== null;
    const load = ++this.loadCounter;
    const snap = this.snapshots.save(slot.file, bytes, hash, load, slot.origin);
    const timeoutMs = this.opts.setupTimeoutMs ?? DEFAULT_SETUP_TIMEOUT_MS;
    const attempt: LoadAttempt = { name: old?.name ?? key, step: 'import', late: false };
    const loading = this.loadVersion(slot, snap.url, hash, attempt);
    try {
      const { v, watch } = timeoutMs > 0 ? await deadline(loading, timeoutMs, () => this.timedOut(slot, hash, snap.path, loading, attempt, timeoutMs)) : await loading;
      const spec = v.spec;
      this.versionCounter.set(spec.name, v.number);
      this.failedFirst.delete(key);
      v.onPurge = async () => {
        await this.opts.hooks?.purge(v);
        this.snapshots.remove(snap.path);
        slot.draining.delete(v);
        for (const r of v.spec.routes) {
          if (r.kind !== 'http') continue;
          const k = `${v.name}\0${r.httpKey}`;
          this.servedBefore.set(k, (this.servedBefore.get(k) ?? 0) + v.routeServed[r.index]!);
        }
        this.checkLeaks(v, watch);
        // The module is gone for good (file deleted, nothing draining): its kept state goes too.
        if (!this.slotOf(v.name)) await this.kept.drop(v.name, (k, err) => v.log.error({ err, key: k }, 'kept state dispose failed'));
      };
      v.state = 'live';
      slot.current = v;
      this.lastFailure.delete(key);
      // New connections go to the new version from this moment on.
      this.rebuildTable();
      if (old) this.retire(slot, old);
      (old ? report.reloaded : report.loaded).push(spec.name);
      log[level]({ module: spec.name, version: v.number, file: slot.file, routes: spec.routes.map((r) => r.label) }, old ? 'module reloaded' : 'module loaded');
    } catch (err) {
      // A load still running past its timeout keeps its snapshot until it settles (timedOut).
      if (!attempt.late) this.snapshots.remove(snap.path);
      const name = old?.name ?? attempt.name;
      const message = err instanceof Error ? err.message : String(err);
      // A module whose setup declines to run here (relay without Redis under --workers) and that never
      // loaded was reported when it first failed: a later RELOAD that changed nothing (same file, same
      // refusal) is not a failure because of it. A broken file (import, shape, routes) stays a failure.
      // A bad --set value is a broken configuration, not a refusal: named by every RELOAD until fixed.
      const badSetting = (err as { cause?: { code?: unknown } }).cause?.code === 'HRMR_BAD_SETTING';
      const refusal = (err instanceof ModuleSetupError || err instanceof ModuleSetupTimeoutError) && !badSetting;
      const prev = this.failedFirst.get(key);
      if (!old && refusal && prev !== undefined && prev.hash === hash && prev.error === message) {
        log.debug({ module: name }, `module ${name}: ${message}; still not loaded (reported before)`);
        return;
      }
      if (!old && refusal) this.failedFirst.set(key, { hash, error: message });
      report.failed.push({ module: name, error: message });
      // One line: the step and reason in the message, the original error (with its stack) once, no doubled text.
      // A shape error is hrmr's own check: the module's source line, not a stack through hrmr.
      const cause = err instanceof Error && err.cause !== undefined ? err.cause : err;
      const source = err instanceof ModuleShapeError ? sourceLocation(slot.file, err.problems[0] ?? '') : null;
      const fields = err instanceof ModuleShapeError ? { module: name, problems: err.problems, ...(source ? { source } : {}) } : { module: name, err: cause };
      const at = source ? ` (${source})` : '';
      // The same file failing the same way again (watch mode's first build retries start-up failures): once is enough.
      const repeat = this.lastFailure.get(key) === `${hash}\0${message}`;
      this.lastFailure.set(key, `${hash}\0${message}`);
      log[repeat ? 'debug' : 'error'](fields, old ? `module ${name}: ${message}${at}; version ${old.number} keeps serving` : `module ${name}: ${message}${at}; not loaded`);
    } finally {
      slot.swapping = false;
    }
  }

  /** The last failure per module file (hash and message), so a retry of the same bytes is not logged twice. */
  private readonly lastFailure = new Map<string, string>();

  /**
   * Imports, validates and sets up one version, and lets the pool prepare
   * it. If the load has timed out meanwhile (`attempt.late`), what it set up
   * is undone and it rejects with LATE: that version never serves.
   */
  private async loadVersion(slot: Slot, url: string, hash: string, attempt: LoadAttempt): Promise<{ v: ModuleVersion; watch: VersionWatch }> {
    const key = slot.key;
    const log = this.opts.log;
    let exported: unknown;
    const watch = new VersionWatch();
    try {
      const mod = (await watch.run(() => import(url))) as { default?: unknown };
      exported = mod.default;
    } catch (err) {
      throw new ModuleImportError(key, err);
    }
    if (attempt.late) throw LATE;
    const declared = (exported as { name?: unknown } | null)?.name;
    const config = this.opts.config(typeof declared === 'string' ? declared : key);
    const spec = validateModule(exported, key, config);
    const clash = [...this.slots.values()].find((s) => s !== slot && s.current?.name === spec.name);
    if (clash) throw new ModuleImportError(key, new Error(`module name "${spec.name}" is already used by ${basename(clash.file)}`));
    const number = (this.versionCounter.get(spec.name) ?? 0) + 1;
    const keep = this.kept.for(spec.name).keep;
    const v = new ModuleVersion(slot.file, number, hash, url, spec, config, log.child({ module: spec.name, version: number }), keep);
    attempt.name = spec.name;
    attempt.step = 'setup';
    try {
      await watch.run(() => spec.setup?.({ module: spec.name, version: number, config, log: v.log, thread: 'main', threadId: 0, keep, processes: this.opts.processes ?? 1, metrics: moduleMetrics(spec.name) }));
    } catch (err) {
      throw new ModuleSetupError(spec.name, err);
    }
    const undo = async (): Promise<void> => {
      await Promise.resolve(spec.dispose?.()).catch((err: unknown) => v.log.error({ err }, 'dispose failed'));
    };
    if (attempt.late) {
      await undo();
      throw LATE;
    }
    attempt.step = 'pool preparation';
    try {
      await this.opts.hooks?.prepare(v);
    } catch (err) {
      // setup ran: undo it.
      await undo();
      throw err;
    }
    if (attempt.late) {
      await undo();
      // Workers that loaded it dispose it too.
      await this.opts.hooks?.purge(v).catch(() => undefined);
      throw LATE;
    }
    return { v, watch };
  }

  /**
   * A load passed --setup-timeout. It cannot be cancelled: it goes on in the
   * background, and if it ever finishes, what it set up is disposed
   * (loadVersion) and it never serves. Until then the same file is not
   * loaded again (a second hung setup would only pile up).
   */
  private timedOut(slot: Slot, hash: string, snapPath: string | null, loading: Promise<unknown>, attempt: LoadAttempt, timeoutMs: number): Error {
    attempt.late = true;
    const started = performance.now();
    this.hanging.set(slot.key, hash);
    loading.then(
      () => undefined,
      (err: unknown) => {
        if (err === LATE) this.opts.log.warn({ module: attempt.name, lateMs: Math.round(performance.now() - started) }, `module ${attempt.name}: its ${attempt.step} finished after --setup-timeout; that version was disposed and never served`);
      },
    ).finally(() => {
      if (this.hanging.get(slot.key) === hash) this.hanging.delete(slot.key);
      this.snapshots.remove(snapPath);
    });
    return new ModuleSetupTimeoutError(attempt.name, attempt.step, timeoutMs);
  }

  private retire(slot: Slot, v: ModuleVersion): void {
    slot.draining.add(v);
    void v.retire(this.opts.drainTimeoutMs);
  }

  /** Versions disposed while their timers still ran (STATUS `leakedVersions`). */
  leakedVersions = 0;

  /** After dispose: a version whose timers still run keeps its code alive and working. Reported once. */
  private checkLeaks(v: ModuleVersion, watch: VersionWatch): void {
    // A moment for async dispose work (a close callback clearing its timer).
    const t = setTimeout(() => {
      const timers = watch.live();
      if (timers === 0) return;
      this.leakedVersions++;
      v.log.warn({ module: v.name, version: v.number, timers }, `version ${v.number} of ${v.name} is still in memory after dispose: a timer, listener or socket keeps it alive (clear it in dispose)`);
    }, 200);
    t.unref();
  }

  private slotOf(name: string): Slot | undefined {
    for (const s of this.slots.values()) if (s.current?.name === name || [...s.draining].some((d) => d.name === name)) return s;
    return undefined;
  }

  private rebuildTable(): void {
    // Before the first load completes, name order decides; after, a live owner keeps its routes.
    const t = buildRouteTable(this.slots.values(), adminPrefixes(), this.loadedOnce ? this.owners : new Map(), { tlsTerminate: this.opts.tlsTerminate === true }, this.opts.httpPrefixes);
    this._table = t.table;
    this._plain = t.plain;
    this._http = t.http;
    this._hasHttp = t.hasHttp;
    this._conflicts = t.conflicts;
    this.owners = t.owners;
    for (const r of t.refused) if (!this._refused.some((x) => x.message === r.message)) this._refused.push(r);
    const shadowKey = t.shadowed.map((x) => `${x.module}:${x.prefix}`).join(',');
    if (shadowKey !== this.shadowedKey) {
      this.shadowedKey = shadowKey;
      for (const x of t.shadowed) this.opts.log.warn({ module: x.module, prefix: x.prefix }, 'byte-prefix route takes every HTTP request starting with it (the HTTP routes do not see them)');
    }
  }

  /** Retires every version (SHUTDOWN); resolves when all are disposed. */
  async retireAll(drainMs: number): Promise<void> {
    const all: Promise<void>[] = [];
    for (const slot of this.slots.values()) {
      if (slot.current) all.push(slot.current.retire(drainMs));
      for (const v of slot.draining) all.push(v.retire(drainMs));
    }
    this.slots.clear();
    this.rebuildTable();
    await Promise.all(all);
    await this.kept.dropAll((module, key, err) => this.opts.log.error({ err, module, key }, 'kept state dispose failed'));
    this.snapshots.clear();
  }

  private routeStatus(v: ModuleVersion, r: CompiledRoute, slot: Slot): unknown {
    const refused = this._conflicts.some((c) => c.module === v.name && c.prefix === r.label);
    const extra = refused ? { refused: true } : {};
    if (r.kind !== 'http') return { prefix: r.label, kind: r.kind, ...(r.kind === 'message' ? { framing: r.framing, pool: r.pool } : {}), connections: v.routeConnections[r.index], ...extra };
    // Old versions still finishing requests count too.
    let inFlight = v.routeRequests[r.index]!;
    let served = v.routeServed[r.index]!;
    let upgraded = v.routeConnections[r.index]!;
    for (const d of slot.draining) {
      const i = d.spec.routes.findIndex((x) => x.kind === 'http' && x.httpKey === r.httpKey);
      if (i < 0) continue;
      inFlight += d.routeRequests[i]!;
      upgraded += d.routeConnections[i]!;
      served += d.routeServed[i]!;
    }
    served += this.servedBefore.get(`${v.name}\0${r.httpKey}`) ?? 0;
    return { http: r.label, kind: 'http', methods: r.methods ? [...r.methods] : null, pool: r.pool, requestsInFlight: inFlight, requestsServed: served, upgradedSockets: upgraded, ...extra };
  }

  /** Requests served by versions already disposed, per module and path (so the count survives reloads). */
  private readonly servedBefore = new Map<string, number>();

  private moduleStatus(v: ModuleVersion): unknown {
    try {
      return v.spec.status!();
    } catch (err) {
      return { error: err instanceof Error ? err.message : String(err) };
    }
  }

  /** Per-module state for STATUS. */
  status(): Array<{ name: string; file: string; version: number; hash: string; swapping: boolean; connections: number; routes: unknown[]; draining: VersionInfo[]; status?: unknown }> {
    const out = [];
    for (const slot of [...this.slots.values()].sort((a, b) => (a.key < b.key ? -1 : 1))) {
      const v = slot.current;
      if (!v) continue;
      out.push({
        name: v.name,
        file: basename(slot.file),
        version: v.number,
        hash: v.hash.slice(0, 12),
        swapping: slot.swapping,
        connections: v.connections.size,
        routes: v.spec.routes.map((r) => this.routeStatus(v, r, slot)),
        draining: [...slot.draining].map((d) => d.info()),
        ...(v.spec.status ? { status: this.moduleStatus(v) } : {}),
      });
    }
    return out;
  }
}
