// SPDX-License-Identifier: LGPL-3.0-or-later
/**
 * `--workers N`: the supervisor (cluster primary). It holds the listening
 * port and runs N worker processes, each a complete hrmr (router, modules,
 * its own pool). It
 *
 * - replaces a worker that exits or is killed at once, and with growing
 *   delays when one slot crashes more than 5 times in 30 s;
 * - kills and replaces a worker whose event loop stops sending heartbeats
 *   for --hang-timeout, naming the module it was stuck in when the
 *   worker's watchdog thread could see it;
 * - fans RELOAD (from any worker's admin session, SIGHUP or watch mode) out
 *   to every worker, one reload at a time, and answers with one line once
 *   all are done; aggregates STATUS; drains every worker on SHUTDOWN,
 *   SIGTERM and SIGINT, then exits 0;
 * - recycles a worker that has imported --recycle-after module versions
 *   (Node never frees them): a fresh worker starts, and once it serves the
 *   old one stops accepting and drains.
 *
 * Worker stdout and stderr come through the supervisor line by line (so
 * lines of different processes never interleave); a worker's own
 * `listening` line is renamed `worker listening`, and the supervisor logs
 * `listening` once every worker serves.
 */
import cluster, { type Worker } from 'node:cluster';
import type { Readable } from 'node:stream';
import type { Logger } from 'pino';
import { createLogger } from '../log.ts';
import type { CliServerOptions } from '../cli/options.ts';
import {
  aggregateStatus,
  beatInterval,
  CrashHistory,
  describeFrames,
  formatFanout,
  importsOf,
  LineSplitter,
  mergeReloads,
  moduleFromStack,
  pushTail,
  type FanoutResult,
  type WorkerInfo,
  type WorkerReload,
  type WorkerStatus,
} from './policy.ts';
import { ENV_PORT, ENV_PROCESSES, ENV_WORKER, isMessage, LAST_WORDS_FD, settle, type AdminAsk, type LastWords, type ToSupervisor, type ToWorker } from './protocol.ts';
import { resolvePort } from './port.ts';

/** The default scheduling policy (see docs/operations.md "Process model" for the measurements). */
export const DEFAULT_SCHED: 'none' | 'rr' = 'none';
const RELOAD_TIMEOUT_MS = 120_000;
const STATUS_TIMEOUT_MS = 3000;
const STDERR_TAIL = 12;

interface Slot {
  index: number;
  current: Proc | null;
  /** A fresh worker starting to take over from `current` (recycling). */
  next: Proc | null;
  restarts: number;
  crashes: CrashHistory;
  restartTimer: NodeJS.Timeout | null;
}

interface Stuck {
  blockedMs: number;
  module: string | null;
  doing: string;
}

class Proc {
  state: 'starting' | 'ready' | 'retiring' = 'starting';
  readonly started = Date.now();
  lastBeat = 0;
  imports = 0;
  modules = 0;
  readonly pending = new Map<number, (m: ToSupervisor | null) => void>();
  readonly stderrTail: string[] = [];
  /** The last stderr line that looks like an error (V8's `FATAL ERROR: ... heap out of memory`, an uncaught error). */
  stderrError: string | null = null;
  stuck: Stuck | null = null;
  exitWords: Extract<LastWords, { t: 'exit' }> | null = null;
  fatal: string | null = null;
  hung = false;
  killTimer: NodeJS.Timeout | null = null;
  constructor(
    readonly slot: Slot,
    readonly worker: Worker,
  ) {}
  get pid(): number {
    return this.worker.process.pid ?? 0;
  }
  get alive(): boolean {
    return this.worker.process.exitCode === null && this.worker.process.signalCode === null;
  }
  info(): WorkerInfo {
    return { worker: this.slot.index, id: this.worker.id, pid: this.pid, state: this.state, started: this.started, restarts: this.slot.restarts, imports: this.imports };
  }
}

export function schedPolicy(env: NodeJS.ProcessEnv): 'none' | 'rr' {
  const v = env.NODE_CLUSTER_SCHED_POLICY;
  return v === 'rr' || v === 'none' ? v : DEFAULT_SCHED;
}


export async function runSupervisor(o: CliServerOptions): Promise<void> {
  const log = createLogger(o.logLevel, o.pretty);
  const exit = (code: number): void => {
    log.flush();
    setTimeout(() => process.exit(code), 20);
  };
  let port: number;
  try {
    port = await resolvePort(o.host, o.port);
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    const why =
      e.code === 'EADDRINUSE' ? `port ${o.port} on ${o.host} is already in use` : e.code === 'EACCES' ? `no permission to listen on port ${o.port}` : e.code === 'EADDRNOTAVAIL' ? `address ${o.host} is not available on this machine` : e.message;
    log.fatal({ err }, why);
    process.stderr.write(`hrmr: ${why}\n`);
    exit(1);
    return;
  }
  // A bug here must not take every worker down with the supervisor: log it and go on.
  process.on('uncaughtException', (err) => log.error({ err }, 'supervisor: uncaught exception (still running)'));
  process.on('unhandledRejection', (err) => log.error({ err }, 'supervisor: unhandled rejection (still running)'));
  const sup = new Supervisor(o, log, port, exit);
  sup.start();
  process.on('SIGTERM', () => sup.shutdown('SIGTERM'));
  process.on('SIGINT', () => sup.shutdown('SIGINT'));
  process.on('SIGHUP', () => void sup.reload().catch(() => undefined));
  if (o.watch) {
    // The first build reloads every worker: wait until they serve.
    await sup.listeningNow();
    const { startWatch } = await import('../build/watch.ts');
    const watcher = await startWatch({
      srcDir: o.srcDir,
      outDir: o.modulesDir,
      log,
      server: {
        reload: async (only) => {
          const { results, ms } = await sup.reload(only);
          return mergeReloads(results, ms) as never;
        },
      },
    });
    sup.beforeExit = () => watcher.close();
  }
}

export class Supervisor {
  private readonly slots: Slot[] = [];
  private readonly procs = new Set<Proc>();
  private readonly sched: 'none' | 'rr';
  private readonly started = Date.now();
  private nextId = 1;
  private restarts = 0;
  private recycled = 0;
  private hangKills = 0;
  private reloads = 0;
  private reloadChain: Promise<unknown> = Promise.resolve();
  private listening = false;
  private stopping: string | null = null;
  private hangTimer: NodeJS.Timeout | null = null;
  beforeExit: (() => Promise<void>) | null = null;

  constructor(
    private readonly o: CliServerOptions,
    private readonly log: Logger,
    private readonly port: number,
    private readonly exit: (code: number) => void,
  ) {
    this.sched = schedPolicy(process.env);
    cluster.schedulingPolicy = this.sched === 'rr' ? cluster.SCHED_RR : cluster.SCHED_NONE;
    cluster.setupPrimary({
      exec: process.argv[1]!,
      args: process.argv.slice(2),
      execArgv: process.execArgv,
      // stdin, stdout, stderr, the IPC channel, and fd 4: the side channel for last words.
      stdio: ['ignore', 'pipe', 'pipe', 'ipc', 'pipe'],
    });
  }

  start(): void {
    const n = this.o.workers ?? 1;
    this.log.info({ workers: n, sched: this.sched, port: this.port, hangTimeout: this.o.hangTimeoutMs, recycleAfter: this.o.recycleAfter }, 'supervisor starting workers');
    for (let i = 1; i <= n; i++) {
      const slot: Slot = { index: i, current: null, next: null, restarts: 0, crashes: new CrashHistory(), restartTimer: null };
      this.slots.push(slot);
      slot.current = this.spawn(slot);
    }
    if (this.o.hangTimeoutMs > 0) {
      this.hangTimer = setInterval(() => this.checkHangs(), beatInterval(this.o.hangTimeoutMs));
      this.hangTimer.unref();
    }
  }

  private spawn(slot: Slot): Proc {
    const env: Record<string, string> = {
      [ENV_WORKER]: String(slot.index),
      [ENV_PROCESSES]: String(this.o.workers ?? 1),
      [ENV_PORT]: String(this.port),
    };
    if (this.o.pretty) env.HRMR_PRETTY = '1';
    const worker = cluster.fork(env);
    const p = new Proc(slot, worker);
    this.procs.add(p);
    const cp = worker.process;
    this.forward(cp.stdout!, (line) => {
      // Only the supervisor says `listening` (when every worker serves).
      const out = line.includes('"msg":"listening"')
        ? line.replace('"msg":"listening"', '"msg":"worker listening"')
        : line.includes(' listening {"worker":')
          ? line.replace(' listening {"worker":', ' worker listening {"worker":') // --pretty
          : line;
      if (!process.stdout.write(out + '\n')) {
        cp.stdout!.pause();
        process.stdout.once('drain', () => cp.stdout!.resume());
      }
    });
    this.forward(cp.stderr!, (line) => {
      pushTail(p.stderrTail, line, STDERR_TAIL);
      if (/FATAL ERROR|\b\w*Error\b[:\s]|Segmentation fault|Aborted|hrmr: /.test(line) && !/^\s*\d+: 0x/.test(line)) p.stderrError = line.trim().slice(0, 500);
      process.stderr.write(line + '\n');
    });
    const side = cp.stdio[LAST_WORDS_FD] as Readable | null | undefined;
    if (side) {
      this.forward(side, (line) => {
        try {
          this.onLastWords(p, JSON.parse(line) as LastWords);
        } catch {
          // not ours
        }
      });
    }
    worker.on('message', (m: unknown) => {
      if (isMessage<ToSupervisor>(m)) this.onMessage(p, m);
    });
    worker.on('error', () => undefined);
    // 'exit' comes after the process's stdio closed, so last words and stderr are in by then.
    cp.once('close', (code, signal) => this.onExit(p, code, signal));
    this.log.debug({ worker: slot.index, pid: p.pid }, 'worker started');
    return p;
  }

  private forward(stream: Readable, onLine: (line: string) => void): void {
    const split = new LineSplitter();
    stream.setEncoding('utf8');
    stream.on('data', (d: string) => {
      for (const l of split.push(d)) onLine(l);
    });
    stream.on('end', () => {
      const rest = split.end();
      if (rest !== null) onLine(rest);
    });
    stream.on('error', () => undefined);
  }

  private send(p: Proc, m: ToWorker): void {
    if (p.alive && p.worker.isConnected()) p.worker.send(m, undefined, noop);
  }

  // Worker → supervisor.

  private onMessage(p: Proc, m: ToSupervisor): void {
    switch (m.t) {
      case 'beat':
        p.lastBeat = Date.now();
        if (p.stuck) p.stuck = null;
        return;
      case 'ready':
        p.lastBeat = Date.now();
        p.modules = m.modules;
        this.onReady(p);
        return;
      case 'reloaded':
      case 'metrics':
      case 'status':
        settle(p.pending, m.id, m);
        return;
      case 'admin':
        void this.answerAdmin(p, m.id, m.cmd);
        return;
      case 'shutdown':
        this.shutdown(m.reason);
        return;
    }
  }

  private async answerAdmin(p: Proc, id: number, cmd: AdminAsk): Promise<void> {
    try {
      if (cmd === 'status') this.send(p, { hrmr: 1, t: 'answer', id, status: await this.status() });
      else if (cmd === 'metrics') this.send(p, { hrmr: 1, t: 'answer', id, metrics: await this.metrics() });
      else {
        const { line, results, ms } = await this.reload();
        this.send(p, cmd === 'reload' ? { hrmr: 1, t: 'answer', id, report: mergeReloads(results, ms) } : { hrmr: 1, t: 'answer', id, line });
      }
    } catch (err) {
      this.send(p, { hrmr: 1, t: 'answer', id, line: `ERR ${(err as Error).message}` });
    }
  }

  private onLastWords(p: Proc, w: LastWords): void {
    if (w.t === 'stuck') {
      const d = describeFrames(w.frames);
      p.stuck = { blockedMs: w.blockedMs, module: d.module, doing: d.doing };
      this.log.warn({ worker: p.slot.index, pid: p.pid, blockedMs: w.blockedMs, module: d.module, doing: d.doing }, 'worker event loop blocked');
    } else if (w.t === 'exit') p.exitWords = w;
    else if (w.t === 'fatal') p.fatal = w.message;
  }

  private onReady(p: Proc): void {
    if (p.state !== 'starting') return;
    p.state = 'ready';
    const slot = p.slot;
    this.log.info({ worker: slot.index, pid: p.pid, modules: p.modules, ms: Date.now() - p.started }, 'worker ready');
    if (this.stopping) {
      this.send(p, { hrmr: 1, t: 'drain', reason: this.stopping, settleMs: 0 });
      return;
    }
    if (slot.next === p) {
      // Recycling: the fresh worker serves; the old one stops accepting and drains.
      const old = slot.current;
      slot.current = p;
      slot.next = null;
      if (old) this.retire(old, 'recycle');
      this.recycled++;
    }
    this.maybeListening();
  }

  /**
   * `listening` once every worker serves (or, if some crashed while starting,
   * once the others do: the crashing ones restart with backoff meanwhile).
   */
  private maybeListening(): void {
    if (this.listening || this.stopping) return;
    const ready = this.slots.filter((s) => s.current?.state === 'ready');
    if (ready.length === 0 || !this.slots.every((s) => s.current?.state === 'ready' || s.crashes.recent > 0)) return;
    this.listening = true;
    this.log.info(
      { host: this.o.host, port: this.port, modules: ready[0]!.current!.modules, workers: ready.length, pids: ready.map((s) => s.current!.pid), sched: this.sched, reloadMode: this.o.reloadMode },
      'listening',
    );
    for (const f of this.onListening.splice(0)) f();
  }

  private readonly onListening: Array<() => void> = [];

  /** Resolves once the supervisor has logged `listening`. */
  listeningNow(): Promise<void> {
    if (this.listening) return Promise.resolve();
    return new Promise((r) => this.onListening.push(r));
  }

  private retire(p: Proc, reason: string): void {
    p.state = 'retiring';
    this.log.info({ worker: p.slot.index, pid: p.pid, imports: p.imports, reason }, 'retiring worker: stops accepting and drains');
    this.send(p, { hrmr: 1, t: 'drain', reason, settleMs: this.settleMs() });
    p.killTimer = setTimeout(() => {
      if (!p.alive) return;
      this.log.warn({ worker: p.slot.index, pid: p.pid }, 'retiring worker did not finish draining: killed');
      p.worker.process.kill('SIGKILL');
    }, this.o.drainTimeoutMs + this.settleMs() + 10_000);
    p.killTimer.unref();
  }

  /** Time a stopping worker gives connections it just accepted to send their first bytes. */
  private settleMs(): number {
    return Math.min(this.o.peekTimeoutMs, 500);
  }

  private onExit(p: Proc, code: number | null, signal: NodeJS.Signals | null): void {
    this.procs.delete(p);
    if (p.killTimer) clearTimeout(p.killTimer);
    for (const done of p.pending.values()) done(null);
    p.pending.clear();
    const slot = p.slot;
    const wasCurrent = slot.current === p;
    const wasNext = slot.next === p;
    if (wasNext) slot.next = null;

    if (this.stopping) {
      if (wasCurrent) slot.current = null;
      this.log.info({ worker: slot.index, pid: p.pid, code, signal }, 'worker stopped');
      this.maybeFinish();
      return;
    }
    if (p.state === 'retiring' && !wasCurrent) {
      this.log.info({ worker: slot.index, pid: p.pid, code, signal }, 'worker retired');
      return;
    }
    if (p.fatal && !this.listening) {
      this.log.fatal({ worker: slot.index, pid: p.pid, error: p.fatal }, 'a worker could not start: stopping');
      this.shutdown('a worker could not start', 1);
      return;
    }
    const fields: Record<string, unknown> = { worker: slot.index, pid: p.pid, code, signal, uptimeMs: Date.now() - p.started };
    if (p.hung && p.stuck) Object.assign(fields, { module: p.stuck.module, doing: p.stuck.doing });
    if (p.exitWords) {
      fields.module = moduleFromStack(p.exitWords.stack);
      fields.exitCalledAt = p.exitWords.stack.split('\n').slice(2, 5).map((s) => s.trim()).join(' < ');
    }
    const lastError = p.exitWords?.lastError ?? p.fatal ?? p.stderrError ?? (p.stderrTail.length ? p.stderrTail.slice(-3).join(' / ') : null);
    if (lastError) fields.lastError = lastError;
    const msg = p.hung ? 'worker hung: killed, replacing it' : p.exitWords ? 'worker called process.exit(): replacing it' : 'worker exited unexpectedly: replacing it';
    this.log.error(fields, msg);

    if (wasNext) return; // a recycle that did not start: the old worker keeps serving, the next reload tries again
    if (!wasCurrent) return;
    slot.current = null;
    if (slot.next) {
      // A recycle was under way: its fresh worker takes the slot.
      slot.current = slot.next;
      slot.next = null;
      return;
    }
    slot.restarts++;
    this.restarts++;
    const d = slot.crashes.record(Date.now());
    this.maybeListening();
    if (!d.backoff) {
      slot.current = this.spawn(slot);
      this.log.info({ worker: slot.index, pid: slot.current.pid, replaces: p.pid }, 'worker replaced');
      return;
    }
    this.log.warn({ worker: slot.index, crashes: d.crashes, windowS: 30, delayMs: d.delayMs }, 'worker crash loop: restarting with backoff');
    slot.restartTimer = setTimeout(() => {
      slot.restartTimer = null;
      if (this.stopping || slot.current) return;
      slot.current = this.spawn(slot);
      this.log.info({ worker: slot.index, pid: slot.current.pid, replaces: p.pid, afterMs: d.delayMs }, 'worker restarted after backoff');
    }, d.delayMs);
  }

  private checkHangs(): void {
    if (this.stopping) return;
    const now = Date.now();
    for (const p of this.procs) {
      // Before its first heartbeat a worker is still booting node: not counted.
      if (p.hung || p.lastBeat === 0 || !p.alive) continue;
      const blocked = now - p.lastBeat;
      if (blocked <= this.o.hangTimeoutMs) continue;
      p.hung = true;
      this.hangKills++;
      this.log.error(
        { worker: p.slot.index, pid: p.pid, blockedMs: blocked, hangTimeout: this.o.hangTimeoutMs, module: p.stuck?.module ?? null, doing: p.stuck?.doing ?? 'unknown (no stack captured)' },
        'worker event loop blocked longer than --hang-timeout: killing it',
      );
      p.worker.process.kill('SIGKILL');
    }
  }

  // Requests to workers.

  private request(p: Proc, m: ToWorker & { id: number }, timeoutMs: number): Promise<ToSupervisor | null> {
    return new Promise((resolve) => {
      const t = setTimeout(() => {
        p.pending.delete(m.id);
        resolve(null);
      }, timeoutMs);
      p.pending.set(m.id, (r) => {
        clearTimeout(t);
        resolve(r);
      });
      this.send(p, m);
    });
  }

  private serving(): Proc[] {
    return this.slots.flatMap((s) => (s.current && s.current.state === 'ready' ? [s.current] : []));
  }

  /** RELOAD on every serving worker, one fan-out at a time. */
  reload(only?: readonly string[]): Promise<{ line: string; results: FanoutResult[]; ms: number }> {
    const run = this.reloadChain.then(() => this.doReload(only));
    this.reloadChain = run.catch(() => undefined);
    return run;
  }

  private async doReload(only?: readonly string[]): Promise<{ line: string; results: FanoutResult[]; ms: number }> {
    const t0 = performance.now();
    const targets = this.serving();
    const results = await Promise.all(
      targets.map(async (p): Promise<FanoutResult> => {
        const id = this.nextId++;
        // A worker's reload can take up to --setup-timeout (a hung module's load) before it answers.
        const r = await this.request(p, { hrmr: 1, t: 'reload', id, ...(only ? { only: [...only] } : {}) }, Math.max(RELOAD_TIMEOUT_MS, this.o.setupTimeoutMs + 30_000));
        if (r === null) return { worker: p.slot.index, pid: p.pid, report: null, error: p.alive ? 'no answer in time' : 'the worker exited during the reload' };
        const m = r as Extract<ToSupervisor, { t: 'reloaded' }>;
        if (m.report) p.imports += importsOf(m.report);
        return { worker: p.slot.index, pid: p.pid, report: m.report, ...(m.error ? { error: m.error } : {}) };
      }),
    );
    const ms = performance.now() - t0;
    this.reloads++;
    const line = formatFanout(results, ms);
    if (line.startsWith('OK')) this.log.info({ workers: results.length, ms: Math.round(ms) }, line);
    else this.log.warn({ workers: results.length, ms: Math.round(ms) }, line);
    this.maybeRecycle();
    return { line, results, ms };
  }

  private maybeRecycle(): void {
    if (this.stopping || this.o.recycleAfter <= 0) return;
    for (const slot of this.slots) {
      const p = slot.current;
      if (!p || p.state !== 'ready' || slot.next || p.imports < this.o.recycleAfter) continue;
      this.log.info({ worker: slot.index, pid: p.pid, imports: p.imports, recycleAfter: this.o.recycleAfter }, 'recycling worker: starting a fresh one');
      slot.next = this.spawn(slot);
    }
  }

  /** Every serving worker's metrics (prom-client JSON); the asking worker sums them. */
  private async metrics(): Promise<unknown[]> {
    const answers = await Promise.all(this.serving().map((p) => this.request(p, { hrmr: 1, t: 'metrics', id: this.nextId++ }, STATUS_TIMEOUT_MS)));
    return answers.flatMap((r) => (r && r.t === 'metrics' ? [r.metrics] : []));
  }

  async status(): Promise<Record<string, unknown>> {
    const list = [...this.procs].sort((a, b) => a.slot.index - b.slot.index || a.started - b.started);
    const answers = await Promise.all(
      list.map(async (p) => {
        if (p.state === 'starting') return { info: p.info(), status: null };
        const id = this.nextId++;
        const r = await this.request(p, { hrmr: 1, t: 'status', id }, STATUS_TIMEOUT_MS);
        const status = r && r.t === 'status' ? (r.status as WorkerStatus | null) : null;
        return { info: p.info(), status };
      }),
    );
    const mem = process.memoryUsage();
    return aggregateStatus(
      {
        pid: process.pid,
        started: this.started,
        workers: this.slots.length,
        sched: this.sched,
        restarts: this.restarts,
        recycled: this.recycled,
        hangKills: this.hangKills,
        reloads: this.reloads,
        hangTimeout: this.o.hangTimeoutMs,
        recycleAfter: this.o.recycleAfter,
        port: this.port,
        memory: { rssBytes: mem.rss, heapUsedBytes: mem.heapUsed },
      },
      answers,
      Date.now(),
    );
  }

  /** Drains every worker, then exits (0 unless told otherwise). */
  shutdown(reason: string, code = 0): void {
    if (this.stopping) return;
    this.stopping = reason;
    this.exitCode = code;
    this.log.info({ reason, workers: this.procs.size }, 'shutting down: draining every worker');
    if (this.hangTimer) clearInterval(this.hangTimer);
    for (const s of this.slots) {
      if (s.restartTimer) clearTimeout(s.restartTimer);
      s.restartTimer = null;
    }
    for (const p of this.procs) {
      if (p.state === 'starting') p.worker.process.kill('SIGTERM');
      else this.send(p, { hrmr: 1, t: 'drain', reason, settleMs: code === 0 ? this.settleMs() : 0 });
      p.killTimer ??= setTimeout(() => {
        if (!p.alive) return;
        this.log.warn({ worker: p.slot.index, pid: p.pid }, 'worker did not finish draining: killed');
        p.worker.process.kill('SIGKILL');
      }, this.o.drainTimeoutMs + this.settleMs() + 5000);
    }
    this.maybeFinish();
  }

  private exitCode = 0;
  private finishing = false;

  private maybeFinish(): void {
    if (!this.stopping || this.procs.size > 0 || this.finishing) return;
    this.finishing = true;
    void Promise.resolve(this.beforeExit?.())
      .catch(() => undefined)
      .finally(() => {
        this.log.info({ code: this.exitCode }, 'shutdown complete');
        this.exit(this.exitCode);
      });
  }
}

function noop(): void {}

export type { WorkerReload };
