// SPDX-License-Identifier: LGPL-3.0-or-later
/** Messages between the main thread and pool workers (what a piscina task carries). */
import type { TlsInfo } from '../../shared/index.ts';

/** The main thread's logger settings, given to every pool worker (piscina's workerData) so workers log alike. */
export interface PoolWorkerData {
  log: {
    level: string;
    pretty: boolean;
    /** The main logger's child bindings (a `--workers` process's `worker` number). */
    bindings: Record<string, unknown>;
  };
  /**
   * A BroadcastChannel name: the main thread posts `{ dispose: url }` on it
   * when a version is purged, and every worker that loaded that version
   * disposes it (workers of one generation run many versions).
   */
  channel: string;
}

/** Identifies one module version: workers import `url` (an immutable snapshot). */
export interface VersionRef {
  url: string;
  module: string;
  version: number;
  config: Readonly<Record<string, string>>;
  /** Server processes sharing the port (SetupContext.processes). */
  processes: number;
}

export interface MessageTask {
  op: 'msg';
  v: VersionRef;
  route: number;
  /** Small messages cross as a latin1 string (no ArrayBuffer made, moved and freed per task); larger ones as bytes. */
  msg: Uint8Array | string;
  remoteAddress: string;
  remotePort: number;
  /** ctx.tls of the connection (null: plain). */
  tls: TlsInfo | null;
}

/** One HTTP request for a pool HTTP route (body already read by the host). */
export interface HttpTask {
  op: 'http';
  v: VersionRef;
  route: number;
  method: string;
  url: string;
  path: string;
  query: string;
  /** As node read them: name, value, name, value... (the worker builds `headers`). */
  rawHeaders: string[];
  /** Small bodies cross as a latin1 string (see MessageTask.msg). */
  body: Uint8Array | string;
  remoteAddress: string;
  remotePort: number;
  /** ctx.tls of the connection (null: plain). */
  tls: TlsInfo | null;
}

/** What a worker sends back for an HttpTask. */
export interface HttpResult {
  status: number;
  headers: Record<string, string | number | readonly string[]> | undefined;
  body: string | Uint8Array | null | undefined;
}

/** Imports and sets up a version in one worker: proves the pool can run it. */
export interface LoadTask {
  op: 'load';
  v: VersionRef;
}

/**
 * Runs dispose in every worker. Sent once per worker; each task waits on a
 * shared counter until all have arrived, which guarantees that each of the
 * N tasks landed on a different worker.
 */
export interface DisposeTask {
  op: 'dispose';
  barrier: SharedArrayBuffer;
  workers: number;
  waitMs: number;
}

/**
 * Several message or HTTP tasks that waited for a worker, sent as one piscina
 * task: one crossing each way for all of them (see generation.ts). The worker
 * runs them in order.
 */
export interface BatchTask {
  op: 'batch';
  tasks: Array<MessageTask | HttpTask>;
  /**
   * Int32 slots shared with the main thread: [0] the index of the task the
   * worker is running (tasks.length once all ran), [1 + i] set to 1 by the
   * main thread when task i is not to run (its connection closed).
   */
  flags: SharedArrayBuffer;
}

/** One task's outcome in a batch: its value, what it threw, or SKIPPED. */
export type BatchOutcome = { v: unknown } | { e: unknown } | typeof SKIPPED;
export const SKIPPED = 0;

/** Bytes up to this size cross to a worker as a latin1 string rather than an ArrayBuffer of their own. */
export const SMALL_BYTES = 4096;

export type PoolTask = MessageTask | HttpTask | LoadTask | DisposeTask | BatchTask;

export interface LoadResult {
  threadId: number;
}
