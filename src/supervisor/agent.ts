// SPDX-License-Identifier: LGPL-3.0-or-later
/**
 * The worker side of `--workers`: runs inside each worker process next to a
 * normal HrmrServer. It
 *
 * - answers the server's admin sessions for the whole server (it is the
 *   server's `adminControl`): RELOAD and STATUS go to the supervisor, which
 *   fans them out to every worker and answers once all are done; SHUTDOWN
 *   asks the supervisor to drain every worker;
 * - does what the supervisor asks of this worker: reload, report status,
 *   drain (stop accepting, finish in-flight work, exit 0);
 * - sends event-loop heartbeats, and runs the watchdog thread that reports
 *   what the main thread is stuck in;
 * - leaves last words on the side channel when a module calls
 *   `process.exit()`, so the supervisor can name the module.
 */
import { writeSync } from 'node:fs';
import type { Logger } from 'pino';
import type { AdminControl } from '../admin/session.ts';
import type { ReloadReport } from '../modules/registry.ts';
import type { HrmrServer } from '../server.ts';
import { beatInterval, type WorkerReload } from './policy.ts';
import { isMessage, LAST_WORDS_FD, settle, type AdminAsk, type LastWords, type ToSupervisor, type ToWorker } from './protocol.ts';
import { startWatchdog, type Watchdog } from './watchdog-thread.ts';

/** Writes one line to the supervisor's side channel, synchronously (works mid-exit and from any thread). */
export function lastWords(words: LastWords): void {
  try {
    writeSync(LAST_WORDS_FD, JSON.stringify(words) + '\n');
  } catch {
    // No side channel (not started by a supervisor): nothing to tell.
  }
}

export function summarize(r: ReloadReport): WorkerReload {
  return { ok: r.ok, modules: r.modules, loaded: r.loaded, reloaded: r.reloaded, unloaded: r.unloaded, failed: r.failed, conflicts: r.conflicts, refused: r.refused ?? [], ms: r.ms };
}

function asReport(w: WorkerReload): ReloadReport {
  return { ...w } as ReloadReport;
}

export interface AgentOptions {
  log: Logger;
  adminToken: string | null;
  hangTimeoutMs: number;
}

const ANSWER_TIMEOUT_MS = 120_000;

export class WorkerAgent implements AdminControl {
  private server: HrmrServer | null = null;
  private nextId = 1;
  private readonly pending = new Map<number, (m: Extract<ToWorker, { t: 'answer' }>) => void>();
  private timer: NodeJS.Timeout | null = null;
  private watchdog: Watchdog | null = null;
  private lastError: string | null = null;
  private draining = false;

  constructor(private readonly o: AgentOptions) {}

  get adminToken(): string | null {
    return this.o.adminToken;
  }

  /** Starts heartbeats, the watchdog and the exit hook; call before the server loads its modules. */
  start(): void {
    process.on('message', (m: unknown) => {
      if (isMessage<ToWorker>(m)) this.onMessage(m);
    });
    // The supervisor went away: nobody can route to us or restart us; finish and leave.
    process.on('disconnect', () => {
      this.o.log.warn('supervisor gone: draining');
      void this.drain('supervisor gone', 0);
    });
    process.on('uncaughtException', (err) => (this.lastError = errLine(err)));
    process.on('unhandledRejection', (err) => (this.lastError = errLine(err)));
    const realExit = process.exit.bind(process);
    process.exit = ((code?: number | string | null) => {
      if (!this.draining) lastWords({ t: 'exit', code, stack: new Error('process.exit() called').stack ?? '', lastError: this.lastError });
      return realExit(code as number);
    }) as typeof process.exit;

    if (this.o.hangTimeoutMs > 0) {
      const every = beatInterval(this.o.hangTimeoutMs);
      try {
        this.watchdog = startWatchdog({ staleMs: Math.max(every * 2, Math.floor(this.o.hangTimeoutMs / 2)), checkMs: every, fd: LAST_WORDS_FD });
      } catch (err) {
        this.o.log.warn({ err }, 'watchdog thread not started: a hang is still detected, but not located');
      }
      this.timer = setInterval(() => {
        this.watchdog?.beat();
        this.send({ hrmr: 1, t: 'beat' });
      }, every);
      this.timer.unref();
    }
  }

  attach(server: HrmrServer): void {
    this.server = server;
  }

  ready(port: number, modules: number): void {
    this.send({ hrmr: 1, t: 'ready', port, modules });
  }

  private send(m: ToSupervisor): void {
    if (process.connected) process.send!(m, undefined, undefined, noop);
  }

  private ask(cmd: AdminAsk): Promise<Extract<ToWorker, { t: 'answer' }>> {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => {
        this.pending.delete(id);
        reject(new Error('the supervisor did not answer'));
      }, ANSWER_TIMEOUT_MS);
      this.pending.set(id, (m) => {
        clearTimeout(t);
        resolve(m);
      });
      this.send({ hrmr: 1, t: 'admin', id, cmd });
    });
  }

  // AdminControl: every admin session of this worker speaks for the whole server.

  async reloadLine(): Promise<string> {
    if (!process.connected) return 'ERR the supervisor is gone';
    try {
      return (await this.ask('reload-line')).line ?? 'ERR no answer';
    } catch (err) {
      return `ERR ${(err as Error).message}`;
    }
  }

  async reload(): Promise<ReloadReport> {
    const a = await this.ask('reload');
    return asReport(a.report!);
  }

  async status(): Promise<unknown> {
    if (!process.connected) return this.server?.status() ?? {};
    try {
      return (await this.ask('status')).status;
    } catch {
      return this.server?.status() ?? {};
    }
  }

  /** Every worker's metrics (prom-client JSON, one array per worker), for one summed scrape. */
  async gatherMetrics(): Promise<unknown[]> {
    if (!process.connected) throw new Error('the supervisor is gone');
    return (await this.ask('metrics')).metrics ?? [];
  }

  shutdown(reason: string): void {
    if (process.connected) this.send({ hrmr: 1, t: 'shutdown', reason });
    else void this.drain(reason, 0);
  }

  // Requests from the supervisor.

  private onMessage(m: ToWorker): void {
    switch (m.t) {
      case 'answer':
        settle(this.pending, m.id, m);
        return;
      case 'reload':
        void this.doReload(m.id, m.only);
        return;
      case 'status':
        this.send({ hrmr: 1, t: 'status', id: m.id, status: this.server?.status() ?? null });
        return;
      case 'drain':
        void this.drain(m.reason, m.settleMs);
        return;
      case 'metrics': {
        const id = m.id;
        const local = this.server?.metrics.metricsOn ? this.server.metrics.localJson() : Promise.resolve([]);
        void local.then(
          (metrics) => this.send({ hrmr: 1, t: 'metrics', id, metrics }),
          () => this.send({ hrmr: 1, t: 'metrics', id, metrics: [] }),
        );
        return;
      }
    }
  }

  private async doReload(id: number, only?: string[]): Promise<void> {
    if (!this.server) {
      this.send({ hrmr: 1, t: 'reloaded', id, report: null, error: 'not started yet' });
      return;
    }
    try {
      const r = await this.server.reload(only);
      this.send({ hrmr: 1, t: 'reloaded', id, report: summarize(r) });
    } catch (err) {
      this.send({ hrmr: 1, t: 'reloaded', id, report: null, error: errLine(err) });
    }
  }

  /**
   * Stop accepting first, give connections accepted a moment ago the time to
   * send their first bytes (HrmrServer's shutdown closes connections still
   * being peeked), then the server's own graceful shutdown: in-flight
   * messages and requests finish, up to --drain-timeout; it exits 0.
   */
  private async drain(reason: string, settleMs: number): Promise<void> {
    if (this.draining || !this.server) return;
    this.draining = true;
    if (this.timer) clearInterval(this.timer);
    void this.watchdog?.stop();
    if (settleMs > 0 && this.server.stopAccepting()) await new Promise((r) => setTimeout(r, settleMs));
    await this.server.shutdown(reason);
  }
}

function errLine(err: unknown): string {
  if (err instanceof Error) return `${err.name}: ${err.message}`.slice(0, 500);
  return String(err).slice(0, 500);
}

function noop(): void {}
