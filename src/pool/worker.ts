// SPDX-License-Identifier: LGPL-3.0-or-later
/**
 * Pool worker: piscina calls the default export per task. It imports module
 * versions by their snapshot URL on first use (running `setup` once per
 * worker), calls the route's `message`, and disposes versions on request.
 * Each worker belongs to one pool generation and ends with it, so the ESM
 * cache (which never frees old versions) is bounded by a generation's life.
 */
import { BroadcastChannel, threadId, workerData } from 'node:worker_threads';
import { pino, type Logger, type LevelWithSilent } from 'pino';
import { createLogger } from '../log.ts';
import { move } from 'piscina';
import type { Context, Module, PoolHttpResponse, PoolHttpRoute, Reply, Route } from '../../shared/index.ts';
import { KeptStates } from '../modules/keep.ts';
import { workerMetrics } from '../metrics/worker-api.ts';
import { SKIPPED, type BatchOutcome, type BatchTask, type DisposeTask, type HttpResult, type HttpTask, type LoadResult, type MessageTask, type PoolTask, type PoolWorkerData, type VersionRef } from './protocol.ts';

interface Loaded {
  module: Module;
  /** The routes as the main thread compiled them: `routes(config)` evaluated once here too. */
  routes: readonly Route[];
  log: Logger;
}

/** `ctx.keep` state of this worker thread, per module; it ends with the worker (its generation). */
const kept = new KeptStates();

const loaded = new Map<string, Promise<Loaded>>();
/** The versions of `loaded` whose load finished: a task for one of them runs without awaiting its load. */
const ready = new Map<string, Loaded>();
// The main thread's logger settings (level, pretty or JSON), from the pool (protocol.ts PoolWorkerData).
const logSettings = (workerData as PoolWorkerData | null | undefined)?.log;
const root: Logger = logSettings
  ? createLogger(logSettings.level as LevelWithSilent, logSettings.pretty).child({ ...ownBindings(logSettings.bindings), threadId })
  : pino({ name: 'hrmr', base: { pid: process.pid, threadId } }, pino.destination({ dest: 1, sync: false }));

/** The main thread's child bindings without the root logger's own keys (`name`): one key each per line. */
function ownBindings(b: Record<string, unknown>): Record<string, unknown> {
  const { name: _name, pid: _pid, hostname: _hostname, ...rest } = b;
  return rest;
}

// A purged version is disposed here at once (this worker may run newer versions for a long time yet).
const channelName = (workerData as PoolWorkerData | null | undefined)?.channel;
if (channelName) {
  const bc = new BroadcastChannel(channelName);
  bc.unref();
  bc.onmessage = (e: unknown) => {
    const url = ((e as MessageEvent).data as { dispose?: unknown } | null)?.dispose;
    if (typeof url === 'string') void disposeVersion(url);
  };
}

async function disposeVersion(url: string): Promise<void> {
  const p = loaded.get(url);
  if (!p) return;
  loaded.delete(url);
  ready.delete(url);
  try {
    const { module, log } = await p;
    await module.dispose?.();
    log.debug('version disposed in worker');
  } catch (err) {
    root.error({ err, url }, 'dispose failed in worker');
  }
}

function load(v: VersionRef): Promise<Loaded> {
  let p = loaded.get(v.url);
  if (!p) {
    p = (async () => {
      const mod = (await import(v.url)) as { default: Module };
      const module = mod.default;
      const log = root.child({ module: v.module, version: v.version });
      const routes = typeof module.routes === 'function' ? module.routes(v.config) : module.routes;
      await module.setup?.({ module: v.module, version: v.version, config: v.config, log, thread: 'worker', threadId, keep: kept.for(v.module).keep, processes: v.processes, metrics: workerMetrics(v.module) });
      log.debug('version set up in worker');
      const l: Loaded = { module, routes, log };
      // Still the one loading (not disposed meanwhile): tasks may use it at once.
      if (loaded.get(v.url) === p) ready.set(v.url, l);
      return l;
    })();
    loaded.set(v.url, p);
    // A failed load is forgotten so a later task can retry (and report) it.
    p.catch(() => loaded.delete(v.url));
  }
  return p;
}

async function runMessage(t: MessageTask): Promise<Reply> {
  const { routes, log } = await load(t.v);
  const route = routes[t.route];
  if (!route || !('message' in route) || typeof route.message !== 'function') throw new Error(`route ${t.route} of ${t.v.module} is not a message route`);
  const ctx = context(t, log);
  const m = t.msg;
  const msg = typeof m === 'string' ? Buffer.from(m, 'latin1') : Buffer.from(m.buffer, m.byteOffset, m.byteLength);
  return route.message(msg, ctx);
}

async function onMessage(t: MessageTask): Promise<Reply> {
  const out = await runMessage(t);
  // Bytes go back by transfer when they own their whole buffer (no copy).
  if (out instanceof Uint8Array && out.byteOffset === 0 && out.byteLength === out.buffer.byteLength && out.buffer instanceof ArrayBuffer) {
    return move(out) as Uint8Array;
  }
  return out;
}

function context(t: MessageTask | HttpTask, log: Logger): Context {
  return {
    module: t.v.module,
    version: t.v.version,
    remoteAddress: t.remoteAddress,
    remotePort: t.remotePort,
    tls: t.tls,
    config: t.v.config,
    log,
    threadId,
    keep: kept.for(t.v.module).keep,
    metrics: workerMetrics(t.v.module),
  };
}

async function onHttp(t: HttpTask): Promise<HttpResult> {
  return runHttp(t, ready.get(t.v.url) ?? (await load(t.v)));
}

/** An HTTP task on a loaded version: synchronous when the handler is (no promise step per request). */
function runHttp(t: HttpTask, { routes, log }: Loaded): HttpResult | Promise<HttpResult> {
  const route = routes[t.route];
  const r = route as PoolHttpRoute | undefined;
  if (!r || typeof r.http !== 'string' || r.pool !== true) throw new Error(`route ${t.route} of ${t.v.module} is not a pool HTTP route`);
  const tb = t.body;
  const body = typeof tb === 'string' ? Buffer.from(tb, 'latin1') : Buffer.from(tb.buffer, tb.byteOffset, tb.byteLength);
  const headers: Record<string, string> = {};
  const raw = t.rawHeaders;
  for (let i = 0; i < raw.length; i += 2) {
    const k = raw[i]!.toLowerCase();
    const prev = headers[k];
    headers[k] = prev === undefined ? raw[i + 1]! : `${prev}, ${raw[i + 1]!}`;
  }
  const out = r.request({ method: t.method, url: t.url, path: t.path, query: t.query, headers, body, remoteAddress: t.remoteAddress }, context(t, log));
  return typeof (out as PromiseLike<unknown> | null)?.then === 'function' ? Promise.resolve(out).then(httpResult) : httpResult(out as PoolHttpResponse | undefined);
}

function httpResult(r: PoolHttpResponse | undefined | void): HttpResult {
  const out = r ?? {};
  return { status: out.status ?? 200, headers: out.headers as HttpResult['headers'], body: out.body };
}

/**
 * Runs a batch in order. Replies are copied back, not transferred: a module
 * may return the same bytes twice, and a transferred buffer would be gone
 * from it after the first.
 */
function cloneable(v: unknown): boolean {
  return v === null || v === undefined || typeof v === 'string' || v instanceof Uint8Array;
}

async function onBatch(b: BatchTask): Promise<BatchOutcome[]> {
  const flags = new Int32Array(b.flags);
  const n = b.tasks.length;
  const out: BatchOutcome[] = new Array<BatchOutcome>(n);
  for (let i = 0; i < n; i++) {
    Atomics.store(flags, 0, i);
    if (Atomics.load(flags, 1 + i) !== 0) {
      out[i] = SKIPPED;
      continue;
    }
    const t = b.tasks[i]!;
    try {
      let v: unknown;
      if (t.op === 'msg') v = await runMessage(t);
      else {
        const l = ready.get(t.v.url);
        const h = l === undefined ? onHttp(t) : runHttp(t, l);
        v = h instanceof Promise ? await h : h;
      }
      // What cannot be cloned would fail the whole batch's reply: it fails its own task instead.
      out[i] = cloneable(t.op === 'msg' ? v : (v as HttpResult).body) ? { v } : { e: new TypeError(`${t.v.module}: a pool handler must return a string, bytes or nothing`) };
    } catch (e) {
      out[i] = { e: e instanceof Error || e === null || !['object', 'function', 'symbol'].includes(typeof e) ? e : new Error(String(e)) };
    }
  }
  Atomics.store(flags, 0, n);
  return out;
}

async function onDispose(t: DisposeTask): Promise<number> {
  const counter = new Int32Array(t.barrier);
  Atomics.add(counter, 0, 1);
  Atomics.notify(counter, 0);
  const deadline = Date.now() + t.waitMs;
  for (let seen = Atomics.load(counter, 0); seen < t.workers; seen = Atomics.load(counter, 0)) {
    const left = deadline - Date.now();
    if (left <= 0) break;
    Atomics.wait(counter, 0, seen, left);
  }
  let n = 0;
  for (const [url, p] of loaded) {
    loaded.delete(url);
    ready.delete(url);
    try {
      const { module, log } = await p;
      await module.dispose?.();
      log.debug('version disposed in worker');
      n++;
    } catch {
      /* a version that failed to load has nothing to dispose */
    }
  }
  // The generation ends with this worker: kept state goes with it.
  await kept.dropAll((module, key, err) => root.error({ err, module, key }, 'kept state dispose failed'));
  return n;
}

export default async function task(t: PoolTask): Promise<unknown> {
  switch (t.op) {
    case 'msg':
      return onMessage(t);
    case 'http':
      return onHttp(t);
    case 'batch':
      return onBatch(t);
    case 'load':
      await load(t.v);
      return { threadId } satisfies LoadResult;
    case 'dispose':
      return onDispose(t);
  }
}
