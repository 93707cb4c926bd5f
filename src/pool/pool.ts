// SPDX-License-Identifier: LGPL-3.0-or-later
/**
 * The worker pool for `pool: true` message routes, on piscina.
 *
 * Versions are tracked per generation (see generation.ts): each connection
 * binds to the generation current when it was routed and keeps it until it
 * closes, so old connections run old code. Preparing a new pool version
 * starts a new generation and proves, before RELOAD answers, that a worker
 * can import and set it up. Generations no longer current close when their
 * last connection does.
 */
import type { Socket } from 'node:net';
import { fileURLToPath } from 'node:url';
import { BroadcastChannel } from 'node:worker_threads';
import type { Logger } from 'pino';
import type { Reply } from '../../shared/index.ts';
import { PoolTaskError } from '../errors.ts';
import { writesPretty } from '../log.ts';
import type { ConnectionContext } from '../modules/context.ts';
import type { VersionHooks } from '../modules/registry.ts';
import type { CompiledRoute } from '../modules/validate.ts';
import type { ModuleVersion } from '../modules/version.ts';
import { Deadlines } from './deadlines.ts';
import { PoolGeneration } from './generation.ts';
import { SMALL_BYTES, type HttpResult, type HttpTask, type MessageTask, type PoolWorkerData, type VersionRef } from './protocol.ts';

export interface PoolOptions {
  threads: number;
  /** 0 = no limit. */
  taskTimeoutMs: number;
  maxQueue: number;
  log: Logger;
  /** Worker log level; defaults to the level of `log`. */
  logLevel?: string;
  /** Human-readable worker logs; defaults to what `log` writes to (pino-pretty or JSON). */
  pretty?: boolean;
  /** Server processes sharing the port (SetupContext.processes in workers). */
  processes?: number;
  /** --setup-timeout: a version's load in a worker is aborted (the worker replaced) past it; 0 = never. Default 10000. */
  setupTimeoutMs?: number;
  /** Keep a spare generation warm so a reload that needs new threads does not wait for them (watch mode). */
  spare?: boolean;
  /**
   * Defaults to dist/worker.cjs next to the built CLI: a CommonJS entry that
   * import()s dist/worker.mjs, so piscina never require()s an ES module (see
   * scripts/build-core.mjs: a worker terminated during require(esm) aborts the process).
   */
  workerFile?: string;
}

/** A pool error the session turns into `ERR <message>` (busy, timeout); in the error table (src/errors.ts). */
export { PoolTaskError };

/** A reload waits this long for the current generation to load the new version, then starts a new generation. */
const QUICK_LOAD_MS = 50;

function loadError(err: unknown): Error {
  return new Error(`pool workers could not load it: ${err instanceof Error ? err.message : String(err)}`);
}

const EMPTY = Buffer.alloc(0);

/** Why a queued task was dropped: its connection closed before a worker was free. */
const GONE = Object.freeze(new Error('connection closed'));

/**
 * Versions a generation may load; then the next reload starts a new one.
 * Each version stays in its workers' memory (the ESM cache never frees) until
 * the generation ends, and a new generation costs new threads (about 170 ms
 * and ~0.4 MiB of RSS that is not given back), so generations are reused.
 */
const MAX_LOADS = 16;

let channels = 0;

export function hasPoolRoutes(v: ModuleVersion): boolean {
  return v.spec.routes.some((r) => r.pool);
}

export class WorkerPool {
  private current: PoolGeneration | null = null;
  private readonly generations = new Set<PoolGeneration>();
  private nextId = 1;
  private completedClosed = 0;
  private closedBatches = 0;
  private closedBatchedTasks = 0;
  private timeouts = 0;
  private busy = 0;
  /** Queued tasks dropped because their connection closed first. */
  private dropped = 0;
  /** Connections whose client sent FIN and turned out gone (a failed write) while tasks of theirs were held. */
  private abandoned = 0;
  /** Per connection bound to a generation: aborted when it closes, which drops its queued tasks. */
  private readonly gone = new WeakMap<Socket, AbortController>();
  private readonly workerFile: string;
  private readonly workerData: PoolWorkerData;
  private readonly refs = new WeakMap<ModuleVersion, VersionRef>();
  private closed = false;
  /** Task timeouts (null: --task-timeout 0). */
  private readonly deadlines: Deadlines | null;
  /** Version loads in workers (null: --setup-timeout 0): a hung `setup` must not hold a thread for good. */
  private readonly loadDeadlines: Deadlines | null;

  readonly hooks: VersionHooks = {
    prepare: (v) => this.prepare(v),
    purge: async (v) => {
      // Workers that loaded it (in any generation) dispose it now; its memory goes when their generation ends.
      if (hasPoolRoutes(v)) this.channel.postMessage({ dispose: v.url });
    },
  };

  /** A new generation versions are being loaded into, not yet current (prepare). */
  private next: { g: PoolGeneration; loading: number; ok: boolean } | null = null;

  /** Watch mode: threads started ahead for the next new generation (not in `generations` until used). */
  private spare: PoolGeneration | null = null;
  /** Tells workers to dispose a purged version (protocol.ts PoolWorkerData.channel). */
  private readonly channel: BroadcastChannel;

  constructor(private readonly opts: PoolOptions) {
    const channel = `hrmr-pool-${process.pid}-${++channels}`;
    this.channel = new BroadcastChannel(channel);
    this.channel.unref();
    const sweep = (): void => {
      for (const g of this.generations) g.expireWaiting();
    };
    this.deadlines = opts.taskTimeoutMs > 0 ? new Deadlines(opts.taskTimeoutMs, sweep) : null;
    const setupMs = opts.setupTimeoutMs ?? 10_000;
    this.loadDeadlines = setupMs > 0 ? new Deadlines(setupMs, sweep) : null;
    this.workerFile = opts.workerFile ?? fileURLToPath(new URL('./worker.cjs', import.meta.url));
    // Workers log with the main thread's settings (level, pretty or JSON, bindings).
    this.workerData = { log: { level: opts.logLevel ?? opts.log.level, pretty: opts.pretty ?? writesPretty(opts.log), bindings: opts.log.bindings() }, channel };
  }

  private ref(v: ModuleVersion): VersionRef {
    let r = this.refs.get(v);
    if (!r) this.refs.set(v, (r = { url: v.url, module: v.name, version: v.number, config: v.config, processes: this.opts.processes ?? 1 }));
    return r;
  }

  private newGeneration(): PoolGeneration {
    const g = new PoolGeneration(this.nextId++, { workerFile: this.workerFile, threads: this.opts.threads, workerData: this.workerData });
    this.generations.add(g);
    g.piscina.on('error', (err: unknown) => this.opts.log.error({ err, generation: g.id }, 'pool worker error'));
    this.opts.log.debug({ generation: g.id, threads: this.opts.threads }, 'pool generation started');
    return g;
  }

  private retireCurrent(): void {
    const g = this.current;
    if (!g) return;
    g.current = false;
    this.current = null;
    this.maybeClose(g);
  }

  private maybeClose(g: PoolGeneration): void {
    if (g.current || g.refs > 0) return;
    this.generations.delete(g);
    void g.close(5000).then(() => {
      this.completedClosed += g.completed;
      this.closedBatches += g.batches;
      this.closedBatchedTasks += g.batchedTasks;
      this.opts.log.debug({ generation: g.id }, 'pool generation closed');
    });
  }

  /** Called by the registry before a version serves. */
  private async prepare(v: ModuleVersion): Promise<void> {
    if (!hasPoolRoutes(v)) return;
    // Load into the current generation (its workers run old and new versions
    // side by side: each task names its version) unless it is full, or so
    // busy that the load does not start quickly.
    const c = this.current;
    if (c !== null && c.loads < MAX_LOADS) {
      c.loads++;
      let quick: boolean;
      try {
        quick = await this.load(c, v, QUICK_LOAD_MS);
      } catch (err) {
        this.retireCurrent();
        throw loadError(err);
      }
      if (quick) {
        this.warmSpare();
        return;
      }
    }
    // Versions prepared together (the start-up load, a RELOAD of several pool
    // modules) share the new generation rather than starting one each.
    let n = this.next;
    if (n === null || n.g.loads >= MAX_LOADS) n = this.next = { g: this.takeSpare() ?? this.newGeneration(), loading: 0, ok: false };
    const g = n.g;
    g.loads++;
    n.loading++;
    let failure: unknown = null;
    try {
      await this.load(g, v, 0);
      n.ok = true;
    } catch (err) {
      failure = err;
    }
    if (--n.loading === 0 && this.next === n) this.next = null;
    if (failure !== null) {
      // The generation goes unless another version loaded into it (or is still loading).
      if (n.loading === 0 && !n.ok && this.current !== g) {
        this.generations.delete(g);
        void g.close(0);
      }
      throw loadError(failure);
    }
    const old = this.current;
    if (old === g) return;
    this.current = g;
    if (old) {
      old.current = false;
      this.maybeClose(old);
    }
    this.warmSpare();
  }

  /**
   * Loads a version in one worker of `g` (ahead of waiting tasks). With
   * `quickMs` > 0, resolves false if it has not finished by then (the load
   * goes on; the caller uses another generation).
   */
  private async load(g: PoolGeneration, v: ModuleVersion, quickMs: number): Promise<boolean> {
    const timeout = this.loadDeadlines?.start();
    const p = g.run({ op: 'load', v: this.ref(v) }, undefined, timeout, undefined, true).finally(() => timeout?.done());
    if (quickMs <= 0) {
      await p;
      return true;
    }
    let timer: NodeJS.Timeout | undefined;
    const slow = new Promise<false>((r) => (timer = setTimeout(() => r(false), quickMs)));
    try {
      return await Promise.race([p.then(() => true as const), slow]);
    } finally {
      clearTimeout(timer);
      p.catch(() => undefined);
    }
  }

  /** Watch mode: a generation already started for the next reload that needs one (new threads take ~170 ms). */
  private warmSpare(): void {
    if (!this.opts.spare || this.spare !== null || this.closed) return;
    const c = this.current;
    if (c === null || c.loads < MAX_LOADS / 2) return;
    this.spare = new PoolGeneration(this.nextId++, { workerFile: this.workerFile, threads: this.opts.threads, workerData: this.workerData });
    this.spare.piscina.on('error', (err: unknown) => this.opts.log.error({ err }, 'pool worker error (spare generation)'));
  }

  private takeSpare(): PoolGeneration | null {
    const g = this.spare;
    if (g === null) return null;
    this.spare = null;
    this.generations.add(g);
    g.piscina.removeAllListeners('error');
    g.piscina.on('error', (err: unknown) => this.opts.log.error({ err, generation: g.id }, 'pool worker error'));
    this.opts.log.debug({ generation: g.id }, 'pool generation (spare) in use');
    return g;
  }

  /** Binds a connection to the current generation until it closes. */
  acquire(socket: Socket): PoolGeneration {
    let g = this.current;
    if (!g) g = this.current = this.newGeneration();
    g.fresh = false;
    g.refs++;
    const gone = new AbortController();
    this.gone.set(socket, gone);
    // A FIN does not tell a client that closed (gone: it answers our next write with a reset) from
    // one that half-closed to read its replies (`nc -N`). So after a FIN its tasks not yet started
    // are held and run one by one, each after a zero-byte write found it still there (generation.ts
    // Owner): a closed client is found by a failed write within a task or two, never by timing.
    let suspect = false;
    socket.once('end', () => {
      suspect = g.suspend(gone.signal, (alive) => {
        if (socket.destroyed || socket.writableEnded) return;
        socket.write(EMPTY, (err) => {
          if (!err) alive();
        });
      });
    });
    socket.once('close', () => {
      if (suspect && g.pending(gone.signal)) this.abandoned++;
      // Its tasks still waiting for a worker are dropped now (running ones finish; the session discards their results).
      gone.abort(GONE);
      g.refs--;
      this.maybeClose(g);
    });
    return g;
  }

  /** `socket`: the connection the message came from (its queued tasks are dropped when it closes). */
  run(g: PoolGeneration, version: ModuleVersion, route: CompiledRoute, msg: Buffer, ctx: ConnectionContext, socket?: Socket): Promise<Reply> {
    // Our own bound: piscina does not count tasks with an abort signal against its maxQueue.
    if (g.inFlight >= this.opts.threads + this.opts.maxQueue) {
      this.busy++;
      return Promise.reject(new PoolTaskError('busy'));
    }
    // The message crosses by transfer; it is copied once only if it shares
    // its memory with other data (a socket chunk holding several lines).
    // A small message crosses as a string (cheaper than an ArrayBuffer per task).
    const small = msg.byteLength <= SMALL_BYTES;
    const own = !small && msg.byteOffset === 0 && msg.byteLength === msg.buffer.byteLength && msg.buffer instanceof ArrayBuffer;
    const bytes = small ? msg.toString('latin1') : own ? new Uint8Array(msg.buffer, 0, msg.byteLength) : new Uint8Array(msg);
    const task: MessageTask = { op: 'msg', v: this.ref(version), route: route.index, msg: bytes, remoteAddress: ctx.remoteAddress, remotePort: ctx.remotePort, tls: ctx.tls ?? null };
    const d = this.deadlines?.start();
    const cancel = socket === undefined ? undefined : this.gone.get(socket)?.signal;
    return g.run(task, typeof bytes === 'string' ? undefined : [bytes.buffer as ArrayBuffer], d, cancel).then(
      (r) => {
        d?.done();
        return r as Reply;
      },
      (err: unknown) => {
        d?.done();
        if (err === GONE) {
          this.dropped++;
          throw err;
        }
        const e = err as Error;
        if (e?.name === 'AbortError' || e?.name === 'TimeoutError') {
          this.timeouts++;
          throw new PoolTaskError('timeout');
        }
        throw err;
      },
    );
  }

  /**
   * Runs one pool HTTP request on the current generation (held until the
   * task settles, so a reload mid-request keeps its code). Errors as run().
   */
  runHttp(version: ModuleVersion, route: CompiledRoute, task: Omit<HttpTask, 'op' | 'v' | 'route'>): Promise<HttpResult> {
    let g = this.current;
    if (!g) g = this.current = this.newGeneration();
    if (g.inFlight >= this.opts.threads + this.opts.maxQueue) {
      this.busy++;
      return Promise.reject(new PoolTaskError('busy'));
    }
    const gen = g;
    gen.fresh = false;
    gen.refs++;
    const t: HttpTask = { op: 'http', v: this.ref(version), route: route.index, ...task };
    const b = t.body;
    const own = typeof b !== 'string' && b.byteLength > 0 && b.byteOffset === 0 && b.byteLength === b.buffer.byteLength && b.buffer instanceof ArrayBuffer;
    const d = this.deadlines?.start();
    return gen
      .run(t, own ? [(b as Uint8Array).buffer as ArrayBuffer] : undefined, d)
      .then(
        (r) => {
          d?.done();
          return r as HttpResult;
        },
        (err: unknown) => {
          d?.done();
          const e = err as Error;
          if (e?.name === 'AbortError' || e?.name === 'TimeoutError') {
            this.timeouts++;
            throw new PoolTaskError('timeout');
          }
          throw err;
        },
      )
      .finally(() => {
        gen.refs--;
        this.maybeClose(gen);
      });
  }

  status(): unknown {
    let queued = 0;
    let running = 0;
    let completed = this.completedClosed;
    let threads = 0;
    let batches = this.closedBatches;
    let batchedTasks = this.closedBatchedTasks;
    for (const g of this.generations) {
      batches += g.batches;
      batchedTasks += g.batchedTasks;
      queued += g.notStarted + g.piscina.queueSize;
      running += g.runningNow;
      completed += g.completedNow;
      threads += g.piscina.threads.length;
    }
    return {
      threads: this.opts.threads,
      liveThreads: threads,
      generations: this.generations.size,
      generation: this.current?.id ?? null,
      queued,
      running,
      completed,
      timeouts: this.timeouts,
      batches,
      batchedTasks,
      busy: this.busy,
      dropped: this.dropped,
      abandoned: this.abandoned,
      maxQueue: this.opts.maxQueue,
      taskTimeoutMs: this.opts.taskTimeoutMs,
    };
  }

  /** Waits for running tasks (up to `drainMs`), disposes in every worker, ends all generations. */
  async close(drainMs: number): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.channel.close();
    const spare = this.spare;
    this.spare = null;
    if (spare) void spare.destroy();
    const all = [...this.generations];
    this.generations.clear();
    this.current = null;
    const deadline = Date.now() + drainMs;
    while (all.some((g) => g.inFlight > 0) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    await Promise.all(all.map((g) => (g.inFlight > 0 ? g.destroy() : g.close(1000))));
  }
}


export function createPool(o: PoolOptions): WorkerPool {
  return new WorkerPool(o);
}
