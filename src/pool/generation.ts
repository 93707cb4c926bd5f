// SPDX-License-Identifier: LGPL-3.0-or-later
/**
 * One pool generation: a piscina instance whose workers serve the
 * connections that started while it was current. A RELOAD of a pool module
 * starts a new generation; the old one keeps serving its connections
 * (old code for old connections) and is closed once the last one is gone,
 * which also frees everything its workers imported.
 */
import { Piscina } from 'piscina';
import type { DisposeTask, PoolTask } from './protocol.ts';

export interface GenerationOptions {
  workerFile: string;
  threads: number;
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
    });
  }

  /** Tasks submitted and not yet settled (queued or running). */
  inFlight = 0;

  run(task: PoolTask, transfer: ArrayBuffer[] | undefined, signal: AbortSignal | undefined): Promise<unknown> {
    this.inFlight++;
    const p = this.piscina.run(task, { ...(transfer ? { transferList: transfer } : {}), ...(signal ? { signal } : {}) });
    return p.finally(() => this.inFlight--);
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
      await this.piscina.close().catch(() => this.piscina.destroy());
    })();
    return this.closing;
  }
}
