// SPDX-License-Identifier: LGPL-3.0-or-later
/**
 * Pool worker: piscina calls the default export per task. It imports module
 * versions by their snapshot URL on first use (running `setup` once per
 * worker), calls the route's `message`, and disposes versions on request.
 * Each worker belongs to one pool generation and ends with it, so the ESM
 * cache (which never frees old versions) is bounded by a generation's life.
 */
import { threadId } from 'node:worker_threads';
import { pino, type Logger } from 'pino';
import { move } from 'piscina';
import type { Context, Module, Reply } from '../../shared/index.ts';
import type { DisposeTask, LoadResult, MessageTask, PoolTask, VersionRef } from './protocol.ts';

interface Loaded {
  module: Module;
  log: Logger;
}

const loaded = new Map<string, Promise<Loaded>>();
const root = pino({ name: 'hrmr', base: { pid: process.pid, threadId } }, pino.destination({ dest: 1, sync: false }));

function load(v: VersionRef): Promise<Loaded> {
  let p = loaded.get(v.url);
  if (!p) {
    p = (async () => {
      const mod = (await import(v.url)) as { default: Module };
      const module = mod.default;
      const log = root.child({ module: v.module, version: v.version });
      await module.setup?.({ module: v.module, version: v.version, config: v.config, log, thread: 'worker', threadId });
      log.debug('version set up in worker');
      return { module, log };
    })();
    loaded.set(v.url, p);
    // A failed load is forgotten so a later task can retry (and report) it.
    p.catch(() => loaded.delete(v.url));
  }
  return p;
}

async function onMessage(t: MessageTask): Promise<Reply> {
  const { module, log } = await load(t.v);
  const route = module.routes[t.route];
  if (!route || typeof route.message !== 'function') throw new Error(`route ${t.route} of ${t.v.module} is not a message route`);
  const ctx: Context = {
    module: t.v.module,
    version: t.v.version,
    remoteAddress: t.remoteAddress,
    remotePort: t.remotePort,
    config: t.v.config,
    log,
    threadId,
  };
  const msg = Buffer.from(t.msg.buffer, t.msg.byteOffset, t.msg.byteLength);
  const out = await route.message(msg, ctx);
  // Bytes go back by transfer when they own their whole buffer (no copy).
  if (out instanceof Uint8Array && out.byteOffset === 0 && out.byteLength === out.buffer.byteLength && out.buffer instanceof ArrayBuffer) {
    return move(out) as Uint8Array;
  }
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
    try {
      const { module, log } = await p;
      await module.dispose?.();
      log.debug('version disposed in worker');
      n++;
    } catch {
      /* a version that failed to load has nothing to dispose */
    }
  }
  return n;
}

export default async function task(t: PoolTask): Promise<unknown> {
  switch (t.op) {
    case 'msg':
      return onMessage(t);
    case 'load':
      await load(t.v);
      return { threadId } satisfies LoadResult;
    case 'dispose':
      return onDispose(t);
  }
}
