// SPDX-License-Identifier: LGPL-3.0-or-later
/**
 * One pool generation: a piscina instance whose workers serve the
 * connections that started while it was current. A RELOAD of a pool module
 * starts a new generation; the old one keeps serving its connections
 * (old code for old connections) and is closed once the last one is gone,
 * which also frees everything its workers imported.
 */
import { Piscina } from 'piscina';
import type { DisposeTask, PoolTask, PoolWorkerData } from './protocol.ts';

export interface GenerationOptions {
  workerFile: string;
  threads: number;
  workerData?: PoolWorkerData;
}

/** A task waiting in the generation's own queue for a free worker. */
interface Waiting {
  task: PoolTask;
  transfer: ArrayBuffer[] | undefined;
  signal: AbortSignal | undefined;
  cancel: AbortSignal | undefined;
  resolve: (v: unknown) => void;
  reject: (e: unknown) => void;
  /** Taken off the queue (submitted, dropped or timed out). */
  settled: boolean;
}

export class PoolGeneration {
  readonly piscina: Piscina<PoolTask, unknown>;
  /** Connections bound to this generation. */
  refs = 0;
  /** No connection has used it yet: a later reload may reuse it instead of starting another. */
  fresh = true;
  /** Versions proven in it by prepare(); caps reuse so unused generations do not pile up code. */
  loads = 0;
  current = true;
  private closing: Promise<void> | null = null;

  constructor(
    readonly id: number,
    private readonly opts: GenerationOptions,
  ) {
    this.piscina = new Piscina<PoolTask, unknown>({
      filename: opts.workerFile,
      minThreads: opts.threads,
      maxThreads: opts.threads,
      idleTimeout: Infinity,
      concurrentTasksPerWorker: 1,
      // 'async' (Atomics.waitAsync): idle workers keep running their event
      // loop, so timers and sockets opened by module code (a database
      // handle's keep-alive) work between tasks, yet a new task still wakes
      // the worker without a message event ('sync' parks the thread and
      // freezes those timers; 'disabled' measured ~10% slower).
      atomics: 'async',
      closeTimeout: 30_000,
      ...(opts.workerData ? { workerData: opts.workerData } : {}),
    });
  }

  /** Tasks submitted and not yet settled (queued or running). */
  inFlight = 0;
  /** Tasks waiting in this generation's own queue (not yet handed to piscina). */
  queued = 0;
  /** Tasks handed to piscina by run() and not yet settled: at most `threads`. */
  private active = 0;
  /**
   * FIFO of tasks waiting for a worker. piscina is given no more tasks than
   * it has threads, so a waiting task is still ours: when its connection
   * closes it is dropped without touching a worker (aborting a task piscina
   * has handed to a worker terminates that worker).
   */
  private readonly waiting: Array<Waiting | undefined> = [];
  private head = 0;
  /** One 'abort' listener per connection with waiting tasks (not one per task), and how many it has. */
  private readonly owners = new Map<AbortSignal, { n: number; onAbort: () => void }>();

  /**
   * Runs a task. `signal` (the task timeout, counted from now) rejects it
   * queued or running (a running one costs its worker); `cancel` (the
   * connection closed) drops it only while it waits for a worker: a running
   * task finishes, and the caller discards its result.
   */
  run(task: PoolTask, transfer: ArrayBuffer[] | undefined, signal: AbortSignal | undefined, cancel?: AbortSignal): Promise<unknown> {
    if (cancel?.aborted) return Promise.reject(cancel.reason);
    this.inFlight++;
    const p = this.active < this.opts.threads && this.queued === 0 ? this.submit(task, transfer, signal) : this.enqueue(task, transfer, signal, cancel);
    return p.finally(() => this.inFlight--);
  }

  private submit(task: PoolTask, transfer: ArrayBuffer[] | undefined, signal: AbortSignal | undefined): Promise<unknown> {
    this.active++;
    return this.piscina.run(task, { ...(transfer ? { transferList: transfer } : {}), ...(signal ? { signal } : {}) }).finally(() => {
      this.active--;
      this.pump();
    });
  }

  private enqueue(task: PoolTask, transfer: ArrayBuffer[] | undefined, signal: AbortSignal | undefined, cancel: AbortSignal | undefined): Promise<unknown> {
    return new Promise((resolve, reject) => {
      // No 'abort' listener per waiting task (EventTarget listeners cost microseconds each):
      // a timed-out waiting task is found by expireWaiting() (the pool's timeout sweep) or at pump time.
      const w: Waiting = { task, transfer, signal, cancel, resolve, reject, settled: false };
      if (cancel) {
        let o = this.owners.get(cancel);
        if (!o) {
          const onAbort = (): void => this.dropWaiting(cancel);
          this.owners.set(cancel, (o = { n: 0, onAbort }));
          cancel.addEventListener('abort', onAbort, { once: true });
        }
        o.n++;
      }
      this.waiting.push(w);
      this.queued++;
    });
  }

  private unqueue(w: Waiting): void {
    w.settled = true;
    this.queued--;
    if (w.cancel) {
      const o = this.owners.get(w.cancel);
      if (o && --o.n === 0) {
        this.owners.delete(w.cancel);
        w.cancel.removeEventListener('abort', o.onAbort);
      }
    }
  }

  /** Drops every waiting task of one connection (its `cancel` signal fired). */
  private dropWaiting(cancel: AbortSignal): void {
    for (let i = this.head; i < this.waiting.length; i++) {
      const w = this.waiting[i];
      if (w && !w.settled && w.cancel === cancel) {
        this.unqueue(w);
        w.reject(cancel.reason);
      }
    }
  }

  /** Rejects waiting tasks whose timeout signal has fired (called by the pool's timeout sweep). */
  expireWaiting(): void {
    for (let i = this.head; i < this.waiting.length; i++) {
      const w = this.waiting[i];
      if (w && !w.settled && w.signal?.aborted) {
        this.unqueue(w);
        w.reject(w.signal.reason);
      }
    }
  }

  /** Hands waiting tasks to piscina while it has free threads. */
  private pump(): void {
    while (this.active < this.opts.threads && this.head < this.waiting.length) {
      const w = this.waiting[this.head]!;
      this.waiting[this.head++] = undefined;
      if (w.settled) continue;
      this.unqueue(w);
      if (w.signal?.aborted) w.reject(w.signal.reason);
      else this.submit(w.task, w.transfer, w.signal).then(w.resolve, w.reject);
    }
    if (this.head === this.waiting.length) {
      this.waiting.length = 0;
      this.head = 0;
    } else if (this.head > 1024 && this.head * 2 > this.waiting.length) {
      this.waiting.splice(0, this.head);
      this.head = 0;
    }
  }

  /**
   * Tasks of other connections waiting ahead of the first waiting task with
   * this `cancel` signal (one connection's), or -1 if none of its tasks waits.
   */
  waitingAhead(cancel: AbortSignal): number {
    let ahead = 0;
    for (let i = this.head; i < this.waiting.length; i++) {
      const w = this.waiting[i];
      if (!w || w.settled) continue;
      if (w.cancel === cancel) return ahead;
      ahead++;
    }
    return -1;
  }

  get threads(): number {
    return this.opts.threads;
  }

  /** Rejects every waiting task (the generation is being destroyed). */
  private rejectWaiting(err: Error): void {
    for (let i = this.head; i < this.waiting.length; i++) {
      const w = this.waiting[i];
      if (w && !w.settled) {
        this.unqueue(w);
        w.reject(err);
      }
    }
    this.waiting.length = 0;
    this.head = 0;
  }

  /** Ends the workers now: running and waiting tasks reject. */
  destroy(): Promise<void> {
    this.rejectWaiting(new Error('pool is closed'));
    return this.piscina.destroy();
  }

  /** Runs dispose for every version in every worker. */
  private async disposeAll(waitMs: number): Promise<void> {
    const workers = this.opts.threads;
    const barrier = new SharedArrayBuffer(4);
    const tasks: Promise<unknown>[] = [];
    for (let i = 0; i < workers; i++) {
      const t: DisposeTask = { op: 'dispose', barrier, workers, waitMs };
      tasks.push(this.piscina.run(t).catch(() => undefined));
    }
    await Promise.all(tasks);
  }

  /** Disposes everything in the workers, then ends them. Idempotent. */
  close(waitMs: number): Promise<void> {
    this.closing ??= (async () => {
      await this.disposeAll(Math.min(waitMs, 5000));
      this.rejectWaiting(new Error('pool is closed'));
      await this.piscina.close().catch(() => this.piscina.destroy());
    })();
    return this.closing;
  }
}
