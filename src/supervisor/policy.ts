// SPDX-License-Identifier: LGPL-3.0-or-later
/**
 * The supervisor's decisions as pure functions (unit-tested without
 * processes): crash-loop backoff, the one-line RELOAD answer of a fan-out,
 * the aggregated STATUS, which module a stack or a snapshot URL points at,
 * and cutting a byte stream into whole lines.
 */
import type { StatusTotals } from '../metrics/status-json.ts';

/** Crashes allowed in the window before restarts back off. */
export const CRASH_LIMIT = 5;
export const CRASH_WINDOW_MS = 30_000;
export const BACKOFF_BASE_MS = 1000;
export const BACKOFF_MAX_MS = 30_000;

export interface RestartDecision {
  /** 0: restart now. */
  delayMs: number;
  /** Crashes of this slot within the window, this one included. */
  crashes: number;
  backoff: boolean;
}

/**
 * Crash history of one worker slot. Up to CRASH_LIMIT crashes within
 * CRASH_WINDOW_MS restart at once; every further one waits twice as long as
 * the one before (1 s, 2 s, 4 s ... capped at 30 s), so a module that kills
 * every worker on load never turns into a tight fork loop.
 */
export class CrashHistory {
  private times: number[] = [];

  constructor(
    private readonly limit = CRASH_LIMIT,
    private readonly windowMs = CRASH_WINDOW_MS,
    private readonly baseMs = BACKOFF_BASE_MS,
    private readonly maxMs = BACKOFF_MAX_MS,
  ) {}

  record(now: number): RestartDecision {
    this.times = this.times.filter((t) => now - t < this.windowMs);
    this.times.push(now);
    const crashes = this.times.length;
    if (crashes <= this.limit) return { delayMs: 0, crashes, backoff: false };
    const excess = crashes - this.limit - 1;
    return { delayMs: Math.min(this.maxMs, this.baseMs * 2 ** Math.min(excess, 20)), crashes, backoff: true };
  }

  get recent(): number {
    return this.times.length;
  }
}

/** What one worker answered to a fanned-out RELOAD (a summary of its ReloadReport). */
export interface WorkerReload {
  ok: boolean;
  modules: number;
  loaded: string[];
  reloaded: string[];
  unloaded: string[];
  failed: Array<{ module: string; error: string }>;
  conflicts: string[];
  refused: string[];
  ms: number;
}

export interface FanoutResult {
  worker: number;
  pid: number;
  /** null: the worker did not answer (it exited or timed out); `error` says which. */
  report: WorkerReload | null;
  error?: string;
}

const oneLine = (s: string): string => s.replace(/[\r\n]+/g, ' ');

/**
 * The RELOAD reply for a fan-out: `OK reloaded N modules in T ms on W
 * workers`, or `ERR reload failed on K of W workers: ` followed by each
 * failing worker and, for each, every module that failed and why.
 */
export function formatFanout(results: readonly FanoutResult[], ms: number): string {
  const w = results.length;
  const plural = (n: number, s: string): string => `${n} ${s}${n === 1 ? '' : 's'}`;
  if (w === 0) return 'ERR reload failed: no worker is serving';
  const bad = results.filter((r) => r.report === null || !r.report.ok);
  if (bad.length > 0) {
    const parts = bad.map((r) => {
      const who = `worker ${r.worker} (pid ${r.pid})`;
      if (r.report === null) return `${who}: ${oneLine(r.error ?? 'no answer')}`;
      const why = r.report.failed.map((f) => `${f.module}: ${oneLine(f.error)}`);
      if (r.report.refused.length > 0) why.push(`refused ${r.report.refused.join(', ')}`);
      return `${who}: ${why.join('; ') || 'failed'}`;
    });
    return `ERR reload failed on ${bad.length} of ${plural(w, 'worker')}: ${parts.join(' | ')}`;
  }
  const modules = Math.max(...results.map((r) => r.report!.modules));
  const conflicts = [...new Set(results.flatMap((r) => r.report!.conflicts))];
  const base = `OK reloaded ${modules} modules in ${Math.round(ms)} ms on ${plural(w, 'worker')}`;
  return conflicts.length ? `${base}; conflicts: ${conflicts.join('; ')}` : base;
}

/** One ReloadReport-shaped summary of a fan-out (for watch mode, which wants a report). */
export function mergeReloads(results: readonly FanoutResult[], ms: number): WorkerReload {
  const uniq = (xs: string[]): string[] => [...new Set(xs)];
  const failed: WorkerReload['failed'] = [];
  for (const r of results) {
    if (r.report === null) failed.push({ module: `worker ${r.worker}`, error: r.error ?? 'no answer' });
    else for (const f of r.report.failed) failed.push({ module: f.module, error: `worker ${r.worker} (pid ${r.pid}): ${f.error}` });
  }
  const reports = results.flatMap((r) => (r.report ? [r.report] : []));
  return {
    ok: results.length > 0 && failed.length === 0 && reports.every((r) => r.ok),
    modules: reports.length ? Math.max(...reports.map((r) => r.modules)) : 0,
    loaded: uniq(reports.flatMap((r) => r.loaded)),
    reloaded: uniq(reports.flatMap((r) => r.reloaded)),
    unloaded: uniq(reports.flatMap((r) => r.unloaded)),
    failed,
    conflicts: uniq(reports.flatMap((r) => r.conflicts)),
    refused: uniq(reports.flatMap((r) => r.refused)),
    ms: Math.round(ms),
  };
}

/** Module versions a RELOAD imported (or tried to): what recycling counts. */
export function importsOf(r: WorkerReload): number {
  return r.loaded.length + r.reloaded.length + r.failed.length;
}

/** What the supervisor knows of one worker process. */
export interface WorkerInfo {
  worker: number;
  id: number;
  pid: number;
  state: 'starting' | 'ready' | 'retiring';
  started: number;
  restarts: number;
  imports: number;
}

/** One worker's own STATUS (HrmrServer.status()), as far as aggregation reads it. */
export interface WorkerStatus extends StatusTotals {
  [k: string]: unknown;
}

export interface SupervisorInfo {
  pid: number;
  started: number;
  workers: number;
  sched: 'none' | 'rr';
  restarts: number;
  recycled: number;
  hangKills: number;
  reloads: number;
  hangTimeout: number;
  recycleAfter: number;
  port: number;
  memory: { rssBytes: number; heapUsedBytes: number };
}

/**
 * The STATUS line for the whole server: totals over the workers that
 * answered (connections, accepted, rejected by reason, memory including the
 * supervisor), the modules as the first answering worker sees them, and a
 * per-worker section (pid, uptime, connections, restarts, memory, reloads).
 */
export function aggregateStatus(sup: SupervisorInfo, workers: ReadonlyArray<{ info: WorkerInfo; status: WorkerStatus | null }>, now: number): Record<string, unknown> {
  let connections = 0;
  let adminSessions = 0;
  let accepted = 0;
  let rss = sup.memory.rssBytes;
  let heapUsed = sup.memory.heapUsedBytes;
  const rejected: Record<string, number> = {};
  let first: WorkerStatus | null = null;
  for (const { status } of workers) {
    if (!status) continue;
    first ??= status;
    connections += status.connections ?? 0;
    adminSessions += status.adminSessions ?? 0;
    accepted += status.accepted ?? 0;
    rss += status.memory?.rssBytes ?? 0;
    heapUsed += status.memory?.heapUsedBytes ?? 0;
    for (const [k, v] of Object.entries(status.rejected ?? {})) rejected[k] = (rejected[k] ?? 0) + v;
  }
  const { uptimeSeconds: _u, connections: _c, adminSessions: _s, accepted: _a, rejected: _r, reloads: _l, memory: _m, port: _p, ...rest } = first ?? {};
  // TLS handshakes and failures, PROXY headers: counters summed over the workers.
  const counters: Record<string, unknown> = {};
  for (const key of ['tls', 'proxy']) {
    let sum: unknown = undefined;
    for (const { status } of workers) if (status && status[key] !== undefined) sum = sum === undefined ? status[key] : sumCounters(sum, status[key]);
    if (sum !== undefined) counters[key] = sum;
  }
  return {
    uptimeSeconds: Math.round((now - sup.started) / 1000),
    port: sup.port,
    connections,
    adminSessions,
    accepted,
    rejected,
    reloads: sup.reloads,
    ...rest,
    ...counters,
    memory: { rssBytes: rss, heapUsedBytes: heapUsed },
    supervisor: {
      pid: sup.pid,
      workers: sup.workers,
      sched: sup.sched,
      restarts: sup.restarts,
      recycled: sup.recycled,
      hangKills: sup.hangKills,
      hangTimeout: sup.hangTimeout,
      recycleAfter: sup.recycleAfter,
      memory: sup.memory,
    },
    workers: workers.map(({ info, status }) => ({
      worker: info.worker,
      id: info.id,
      pid: info.pid,
      state: info.state,
      uptimeSeconds: Math.round((now - info.started) / 1000),
      started: info.started,
      connections: status?.connections ?? null,
      accepted: status?.accepted ?? null,
      restarts: info.restarts,
      reloads: status?.reloads ?? null,
      imports: info.imports,
      memory: status?.memory ? { rssBytes: status.memory.rssBytes ?? 0, heapUsedBytes: status.memory.heapUsedBytes ?? 0 } : null,
      ...(status ? {} : { answered: false }),
    })),
  };
}

/** Adds the numbers of two STATUS sections key by key, recursively; other values are the first's. Pure. */
export function sumCounters(a: unknown, b: unknown): unknown {
  if (typeof a === 'number' && typeof b === 'number') return a + b;
  if (a === null || b === null || typeof a !== 'object' || typeof b !== 'object' || Array.isArray(a) || Array.isArray(b)) return a ?? b;
  const out: Record<string, unknown> = { ...(a as Record<string, unknown>) };
  for (const [k, v] of Object.entries(b as Record<string, unknown>)) out[k] = k in out ? sumCounters(out[k], v) : v;
  return out;
}

/**
 * The module a file URL or path belongs to: a snapshot
 * `.../.hrmr/<pid>/NAME.<hash16>.<n>.mjs`, or a module file `NAME.mjs`
 * (`?v=N` fallback URLs). null for anything else (hrmr's own code, node).
 */
export function moduleFromUrl(url: string): string | null {
  const clean = url.replace(/[?#].*$/, '');
  const snap = /[/\\]\.hrmr[/\\]\d+[/\\]([^/\\]+)\.[0-9a-f]{16}\.\d+\.mjs$/.exec(clean);
  if (snap) return snap[1]!;
  if (/[?]v=\d+/.test(url)) {
    const m = /([^/\\]+)\.m?js$/.exec(clean);
    if (m) return m[1]!;
  }
  return null;
}

export interface Frame {
  functionName: string;
  url: string;
  /** 1-based. */
  line: number;
  column: number;
}

/** The innermost frame in module code, described: `module hang, in message (hang.<hash>.2.mjs:3:5)`. */
export function describeFrames(frames: readonly Frame[]): { module: string | null; doing: string } {
  for (const f of frames) {
    const module = moduleFromUrl(f.url);
    if (module === null) continue;
    const file = f.url.replace(/^.*[/\\]/, '').replace(/[?#].*$/, '');
    return { module, doing: `module ${module}, in ${f.functionName || '(anonymous)'} (${file}:${f.line}:${f.column})` };
  }
  const top = frames[0];
  return { module: null, doing: top ? `${top.functionName || '(anonymous)'} (${top.url || '?'}:${top.line})` : 'unknown' };
}

/** The module named by the first module frame of an Error stack. */
export function moduleFromStack(stack: string | undefined): string | null {
  if (!stack) return null;
  for (const m of stack.matchAll(/(file:\/\/[^\s)]+|\/[^\s):]+\.m?js)/g)) {
    const name = moduleFromUrl(m[1]!.replace(/:\d+(:\d+)?$/, ''));
    if (name) return name;
  }
  return null;
}

/** Cuts a byte stream into whole lines (a line never interleaves with another process's). */
export class LineSplitter {
  private rest = '';
  constructor(private readonly max = 1 << 20) {}

  /** Returns the complete lines in `chunk` (without `\n`). */
  push(chunk: string): string[] {
    const text = this.rest + chunk;
    const lines = text.split('\n');
    this.rest = lines.pop()!;
    if (this.rest.length > this.max) {
      lines.push(this.rest);
      this.rest = '';
    }
    return lines;
  }

  /** What is left without a newline (at end of stream). */
  end(): string | null {
    const r = this.rest;
    this.rest = '';
    return r === '' ? null : r;
  }
}

/** Heartbeat interval for a hang timeout: often enough to notice, rarely enough to cost nothing. */
export function beatInterval(hangTimeoutMs: number): number {
  return Math.max(25, Math.min(1000, Math.floor(hangTimeoutMs / 5)));
}

/** Keeps the last `n` items. */
export function pushTail<T>(list: T[], item: T, n: number): void {
  list.push(item);
  if (list.length > n) list.splice(0, list.length - n);
}
