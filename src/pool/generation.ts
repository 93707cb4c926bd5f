// SPDX-License-Identifier: LGPL-3.0-or-later
/**
 * One pool generation: a piscina instance whose workers serve the
 * connections that started while it was current. A RELOAD of a pool module
 * starts a new generation; the old one keeps serving its connections
 * (old code for old connections) and is closed once the last one is gone,
 * which also frees everything its workers imported.
 */
import { Piscina } from 'piscina';
import type { TaskDeadline } from './deadlines.ts';
import { batchable, MAX_BATCH, MAX_BATCH_BYTES, taskBytes, type Owner, type Running, type Waiting } from './waiting.ts';
import { SKIPPED, type BatchOutcome, type BatchTask, type DisposeTask, type HttpTask, type MessageTask, type PoolTask, type PoolWorkerData } from './protocol.ts';

export interface GenerationOptions {
  workerFile: string;
  threads: number;
  workerData?: PoolWorkerData;
}

export class PoolGeneration {
  readonly piscina: Piscina<PoolTask, unknown>;
  /** Connections bound to this generation. */
  refs = 0;
  /** No connection has used it yet. */
  fresh = true;
  /** Versions proven in it by prepare(); caps reuse so unused generations do not pile up code. */
  loads = 0;
  current = true;
  private closing: Promise<void> | null = null;

  /**
   * Threads this generation may use now: one at first, one more for each
   * task waiting beyond the free ones, up to `threads`. An idle server
   * holds one thread per generation (~14 MiB each), not `--threads` of them;
   * piscina starts a worker when a task finds none free (minThreads 1 keeps
   * one, also replacing a worker ended by a task timeout).
   */
  private cap = 1;

  constructor(
    readonly id: number,
    private readonly opts: GenerationOptions,
  ) {
    this.piscina = new Piscina<PoolTask, unknown>({
      filename: opts.workerFile,
      minThreads: Math.min(1, opts.threads),
      maxThreads: opts.threads,
      idleTimeout: Infinity,
      concurrentTasksPerWorker: 1,
      // 'async' (Atomics.waitAsync): idle workers keep running their event
      // loop, so timers and sockets opened by module code (a database
      // handle's keep-alive) work between tasks, yet a new task still wakes
      // the worker without a message event ('sync' parks the thread and
      // freezes those timers; 'disabled' measured ~10% slower).
      atomics: (process.env.HRMR_ATOMICS ?? 'async') as 'async',
      closeTimeout: 30_000,
      // Run and wait time histograms (~0.7 MiB per generation) nobody reads.
      recordTiming: false,
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
  /** Connections with waiting, batched or held tasks. */
  private readonly owners = new Map<AbortSignal, Owner>();
  /** Owners in suspend()'s hold (only then does settling a batch look its members' owners up). */
  private suspects = 0;
  /** Tasks held (suspend()). */
  private held = 0;
  private seq = 0;
  /** Batches on workers now (at most one per thread). */
  private readonly running = new Set<Running>();
  /** Tasks that ran to a value or an error (a batch counts its tasks; skipped and timed-out ones do not count). */
  completed = 0;
  /** Tasks that went in batches, and batches (STATUS: how much a crossing carries). */
  batchedTasks = 0;
  batches = 0;

  /**
   * Runs a task. `deadline` (the task timeout) rejects it queued or running
   * (a running one costs its worker); `cancel` (the connection closed) drops
   * it while it waits for a worker, or skips it in a batch before it starts:
   * a running task finishes, and the caller discards its result.
   */
  run(task: PoolTask, transfer: ArrayBuffer[] | undefined, deadline: TaskDeadline | undefined, cancel?: AbortSignal, first = false): Promise<unknown> {
    if (cancel?.aborted) return Promise.reject(cancel.reason);
    this.inFlight++;
    let p: Promise<unknown>;
    if (this.active < this.cap && this.queued === 0 && !batchable(task)) p = this.submit(task, transfer, deadline);
    else {
      p = this.enqueue(task, transfer, deadline, cancel, first);
      // More tasks wait than allowed threads are free: allow more (a version load into a generation nobody uses yet waits instead).
      if (!(task.op === 'load' && this.fresh)) while (this.cap < this.opts.threads && this.queued > this.cap - this.active) this.cap++;
      // A free thread takes it after this turn of the event loop, with every
      // other task that arrived in the same turn (requests read from many
      // sockets at once): one crossing for all of them instead of one now
      // and the rest in a batch after it.
      if (this.active < this.cap && !this.pumpSoon) {
        this.pumpSoon = true;
        setImmediate(this.pumpLater);
      }
    }
    return p.finally(() => this.inFlight--);
  }

  private pumpSoon = false;
  private readonly pumpLater = (): void => {
    this.pumpSoon = false;
    this.pump();
  };

  private submit(task: PoolTask, transfer: ArrayBuffer[] | undefined, deadline: TaskDeadline | undefined): Promise<unknown> {
    this.active++;
    let r: Running | null = null;
    if (deadline) {
      r = { members: [], flags: null, controller: new AbortController(), deadline };
      this.running.add(r);
    }
    return this.piscina
      .run(task, { ...(transfer ? { transferList: transfer } : {}), ...(r ? { signal: r.controller.signal } : {}) })
      .then(
        (v) => {
          this.completed++;
          return v;
        },
        (err: unknown) => {
          if (!r?.controller.signal.aborted) this.completed++;
          throw err;
        },
      )
      .finally(() => {
        if (r) this.running.delete(r);
        this.active--;
        this.pump();
      });
  }

  /** One waiting task on its own. */
  private submitOne(w: Waiting): void {
    this.release(w);
    const p = this.submit(w.task, w.transfer, w.deadline);
    p.then(w.resolve, w.reject);
    if (w.probe) {
      const next = (): void => this.touch(w);
      p.then(next, next);
    }
  }

  private submitBatch(members: Waiting[]): void {
    this.active++;
    this.batches++;
    this.batchedTasks += members.length;
    const n = members.length;
    const sab = new SharedArrayBuffer(4 * (n + 1));
    const b: Running = { members, flags: new Int32Array(sab), controller: new AbortController() };
    const tasks = new Array<MessageTask | HttpTask>(n);
    let transfer: ArrayBuffer[] | undefined;
    for (let i = 0; i < n; i++) {
      const m = members[i]!;
      tasks[i] = m.task as MessageTask | HttpTask;
      if (m.transfer) (transfer ??= []).push(...m.transfer);
    }
    this.running.add(b);
    const task: BatchTask = { op: 'batch', tasks, flags: sab };
    this.piscina
      .run(task, { ...(transfer ? { transferList: transfer } : {}), signal: b.controller.signal })
      .then(
        (out) => this.settleBatch(b, out as BatchOutcome[]),
        (err: unknown) => this.failBatch(b, err),
      )
      .finally(() => {
        this.running.delete(b);
        for (const m of members) this.release(m);
        this.active--;
        this.pump();
      });
  }

  private settleBatch(b: Running, out: BatchOutcome[]): void {
    for (let i = 0; i < b.members.length; i++) {
      const m = b.members[i]!;
      const o = out[i];
      if (this.suspects > 0) this.touch(m);
      if (o === SKIPPED || o === undefined) {
        if (!this.hold(m)) m.reject(m.cancel?.reason ?? new Error('connection closed'));
        continue;
      }
      this.completed++;
      if ('e' in o) m.reject(o.e);
      else m.resolve(o.v);
    }
  }

  /**
   * The batch's worker is gone: aborted because the running task timed out,
   * or it crashed. Tasks that had not started go back to the head of the
   * queue when it was a timeout (they never ran); the running one fails; the
   * ones before it ran, but their replies went with the worker, so they fail
   * as timed out too (as a task whose reply is late would).
   */
  private failBatch(b: Running, err: unknown): void {
    const at = Atomics.load(b.flags!, 0);
    const timedOut = b.controller.signal.aborted;
    const back: Waiting[] = [];
    for (let i = 0; i < b.members.length; i++) {
      const m = b.members[i]!;
      if (this.suspects > 0) this.touch(m);
      if (i > at && !m.deadline?.expired && this.hold(m)) continue;
      if (i > at && timedOut && !m.deadline?.expired && !m.cancel?.aborted) back.push(m);
      else if (i > at && m.cancel?.aborted) m.reject(m.cancel.reason);
      else m.reject(i > at && m.deadline?.expired ? m.deadline.reason : timedOut ? b.controller.signal.reason : err);
    }
    if (back.length === 0) return;
    for (const m of back) {
      m.settled = false;
      this.queued++;
      // The batch's listener claim is released in finally(); the queue holds its own.
      if (m.cancel) {
        const o = this.owners.get(m.cancel);
        if (o) o.n++;
      }
    }
    this.waiting.splice(this.head, 0, ...back);
  }

  /** `first`: ahead of every waiting task (a version load during a reload). */
  private enqueue(task: PoolTask, transfer: ArrayBuffer[] | undefined, deadline: TaskDeadline | undefined, cancel: AbortSignal | undefined, first = false): Promise<unknown> {
    return new Promise((resolve, reject) => {
      // No 'abort' listener per waiting task (EventTarget listeners cost microseconds each):
      // a timed-out waiting task is found by expireWaiting() (the pool's timeout sweep) or at pump time.
      const w: Waiting = { task, transfer, deadline, cancel, resolve, reject, settled: false, seq: this.seq++, probe: false };
      if (cancel) {
        let o = this.owners.get(cancel);
        if (!o) {
          const onAbort = (): void => this.dropWaiting(cancel);
          this.owners.set(cancel, (o = { cancel, n: 0, onAbort, held: null, probe: null, released: null, driveSoon: false }));
          cancel.addEventListener('abort', onAbort, { once: true });
        }
        o.n++;
      }
      if (first) this.waiting.splice(this.head, 0, w);
      else this.waiting.push(w);
      this.queued++;
    });
  }

  private unqueue(w: Waiting): void {
    w.settled = true;
    this.queued--;
    this.release(w);
  }

  /** The task no longer needs its connection's 'abort' listener. */
  private release(w: Waiting): void {
    if (w.cancel) {
      const o = this.owners.get(w.cancel);
      if (o && --o.n === 0) {
        this.owners.delete(w.cancel);
        if (o.held !== null) this.suspects--;
        w.cancel.removeEventListener('abort', o.onAbort);
      }
    }
  }

  /** Drops every waiting and held task of one connection (its `cancel` signal fired), and tells workers to skip its batched ones. */
  private dropWaiting(cancel: AbortSignal): void {
    const o = this.owners.get(cancel);
    if (o?.held) {
      const held = o.held;
      o.held = [];
      this.held -= held.length;
      for (const w of held) {
        this.release(w);
        w.reject(cancel.reason);
      }
    }
    for (let i = this.head; i < this.waiting.length; i++) {
      const w = this.waiting[i];
      if (w && !w.settled && w.cancel === cancel) {
        this.unqueue(w);
        w.reject(cancel.reason);
      }
    }
    for (const b of this.running) {
      if (b.flags === null) continue;
      for (let i = 0; i < b.members.length; i++) if (b.members[i]!.cancel === cancel) Atomics.store(b.flags, 1 + i, 1);
    }
  }

  /**
   * Called by the pool's timeout sweep: rejects waiting tasks whose timeout
   * fired, and aborts a batch whose running task's timeout fired (a task
   * still waiting inside a batch runs late rather than costing a worker).
   */
  expireWaiting(): void {
    if (this.suspects > 0) {
      for (const o of this.owners.values()) {
        if (!o.held?.some((w) => w.deadline?.expired)) continue;
        const expired = o.held.filter((w) => w.deadline?.expired);
        o.held = o.held.filter((w) => !w.deadline?.expired);
        this.held -= expired.length;
        for (const w of expired) {
          this.release(w);
          w.reject(w.deadline!.reason);
        }
      }
    }
    for (let i = this.head; i < this.waiting.length; i++) {
      const w = this.waiting[i];
      if (w && !w.settled && w.deadline?.expired) {
        if (w.probe) this.touch(w);
        this.unqueue(w);
        w.reject(w.deadline.reason);
      }
    }
    for (const b of this.running) {
      if (b.controller.signal.aborted) continue;
      const d = b.flags === null ? b.deadline : b.members[Atomics.load(b.flags, 0)]?.deadline;
      if (d?.expired) b.controller.abort(d.reason);
    }
  }

  /** The next live waiting task, taken off the queue (its owner listener kept), or null. */
  private next(): Waiting | null {
    while (this.head < this.waiting.length) {
      const w = this.waiting[this.head]!;
      this.waiting[this.head++] = undefined;
      if (w.settled) continue;
      w.settled = true;
      this.queued--;
      if (w.deadline?.expired) {
        if (w.probe) this.touch(w);
        this.release(w);
        w.reject(w.deadline.reason);
        continue;
      }
      return w;
    }
    return null;
  }

  /** The next waiting task's, without taking it. */
  private peek(): Waiting | null {
    while (this.head < this.waiting.length) {
      const w = this.waiting[this.head];
      if (w && !w.settled) return w;
      this.waiting[this.head++] = undefined;
    }
    return null;
  }

  /**
   * Hands waiting tasks to piscina while it has free threads. Message and
   * HTTP tasks that queued up go as batches, shared fairly among the free
   * threads: under load a crossing to a worker and back (most of a tiny
   * task's cost) carries many tasks instead of one.
   */
  private pump(): void {
    while (this.active < this.cap) {
      const w = this.next();
      if (w === null) break;
      if (!batchable(w.task) || this.queued === 0) {
        this.submitOne(w);
        continue;
      }
      const free = this.cap - this.active;
      const size = Math.min(MAX_BATCH, Math.ceil((this.queued + 1) / free));
      const members = [w];
      let bytes = taskBytes(w.task);
      for (let p = this.peek(); p !== null && members.length < size && batchable(p.task) && bytes < MAX_BATCH_BYTES; p = this.peek()) {
        const m = this.next();
        if (m === null) break;
        members.push(m);
        bytes += taskBytes(m.task as MessageTask | HttpTask);
      }
      if (members.length === 1) this.submitOne(w);
      else this.submitBatch(members);
    }
    if (this.head === this.waiting.length) {
      this.waiting.length = 0;
      this.head = 0;
    } else if (this.head > 1024 && this.head * 2 > this.waiting.length) {
      this.waiting.splice(0, this.head);
      this.head = 0;
    }
  }

  /** Tasks not started: waiting in the queue, held, or in a batch behind the task its worker runs (STATUS `queued`). */
  get notStarted(): number {
    let n = this.queued + this.held;
    for (const b of this.running) {
      if (b.flags === null) continue;
      // Skipped ones of a closed connection are not waiting any more (held ones are).
      for (let i = Atomics.load(b.flags, 0) + 1; i < b.members.length; i++) if (Atomics.load(b.flags, 1 + i) === 0 || !b.members[i]!.cancel?.aborted) n++;
    }
    return n;
  }

  /** Tasks a worker runs now: at most one per thread (a batch whose tasks all ran is waiting to cross back). STATUS `running`. */
  get runningNow(): number {
    let n = this.active;
    for (const b of this.running) if (b.flags !== null && Atomics.load(b.flags, 0) >= b.members.length) n--;
    return n;
  }

  /** `completed`, counting the tasks of batches still out that already ran (STATUS: a task counts when it ends). */
  get completedNow(): number {
    let n = this.completed;
    for (const b of this.running) {
      if (b.flags === null) continue;
      const at = Math.min(Atomics.load(b.flags, 0), b.members.length);
      for (let i = 0; i < at; i++) if (Atomics.load(b.flags, 1 + i) === 0) n++;
    }
    return n;
  }

  /**
   * The client of `cancel`'s connection sent FIN: it may have closed (gone)
   * or half-closed (waiting for its replies). Its tasks not yet started are
   * held (see Owner); `probe` tells whether it is still there. False if it
   * has no task here.
   */
  suspend(cancel: AbortSignal, probe: (alive: () => void) => void): boolean {
    const o = this.owners.get(cancel);
    if (o === undefined || o.held !== null || cancel.aborted) return false;
    o.held = [];
    o.probe = probe;
    this.suspects++;
    // Its tasks in batches come first; those not started are skipped by the worker and held when the batch returns.
    let ahead = false;
    for (const b of this.running) {
      if (b.flags === null) continue;
      const at = Atomics.load(b.flags, 0);
      for (let i = 0; i < b.members.length; i++) {
        if (b.members[i]!.cancel !== cancel) continue;
        ahead = true;
        if (i > at) Atomics.store(b.flags, 1 + i, 1);
      }
    }
    // In the queue: held, except its first when nothing of it is ahead (its reply is the next one the client gets).
    for (let i = this.head; i < this.waiting.length; i++) {
      const w = this.waiting[i];
      if (!w || w.settled || w.cancel !== cancel) continue;
      if (!ahead) {
        ahead = true;
        w.probe = true;
        o.released = w;
        continue;
      }
      w.settled = true;
      this.queued--;
      o.held.push(w);
      this.held++;
    }
    return true;
  }

  /** Whether the connection of `cancel` has tasks here not yet settled (waiting, batched or held). */
  pending(cancel: AbortSignal): boolean {
    return this.owners.has(cancel);
  }

  /** A batch member skipped for a held connection: held (true), or false to reject it. Keeps its claim on the owner. */
  private hold(m: Waiting): boolean {
    const c = m.cancel;
    if (c === undefined || c.aborted) return false;
    const o = this.owners.get(c);
    if (!o?.held) return false;
    // The batch's claim is released in its finally(); the hold keeps its own.
    o.n++;
    m.settled = true;
    m.probe = false;
    let i = o.held.length;
    while (i > 0 && o.held[i - 1]!.seq > m.seq) i--;
    o.held.splice(i, 0, m);
    this.held++;
    return true;
  }

  /** A task of a held connection settled or came back: maybe let its next one run. */
  private touch(m: Waiting): void {
    const o = m.cancel === undefined ? undefined : this.owners.get(m.cancel);
    if (o?.held == null) return;
    if (o.released === m) o.released = null;
    if (o.driveSoon) return;
    o.driveSoon = true;
    // After this turn: the session has written the reply by then, so a gone client has answered it with a reset.
    setImmediate(() => {
      o.driveSoon = false;
      this.drive(o);
    });
  }

  /** Lets a held connection's next task run, once nothing of it is ahead and a zero-byte write says its client is there. */
  private drive(o: Owner): void {
    if (o.cancel.aborted || o.held === null || o.released !== null || o.held.length === 0) return;
    for (const b of this.running) if (b.flags !== null && b.members.some((m) => m.cancel === o.cancel)) return;
    const w = o.held[0]!;
    o.released = w;
    o.probe!(() => {
      if (o.cancel.aborted || o.released !== w) return;
      if (o.held![0] !== w) {
        o.released = null;
        return this.drive(o);
      }
      o.held!.shift();
      this.held--;
      w.settled = false;
      w.probe = true;
      this.queued++;
      this.waiting.splice(this.head, 0, w);
      this.pump();
    });
  }

  get threads(): number {
    return this.opts.threads;
  }

  /** Rejects every waiting and held task (the generation is being destroyed). */
  private rejectWaiting(err: Error): void {
    for (const o of this.owners.values()) {
      if (!o.held) continue;
      const held = o.held;
      o.held = [];
      this.held -= held.length;
      for (const w of held) w.reject(err);
    }
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
    // One task per started worker (threads start as needed: maybe fewer than `threads`).
    const workers = this.piscina.threads.length;
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
