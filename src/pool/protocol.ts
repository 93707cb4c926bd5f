// SPDX-License-Identifier: LGPL-3.0-or-later
/** Messages between the main thread and pool workers (what a piscina task carries). */

/** Identifies one module version: workers import `url` (an immutable snapshot). */
export interface VersionRef {
  url: string;
  module: string;
  version: number;
  config: Readonly<Record<string, string>>;
}

export interface MessageTask {
  op: 'msg';
  v: VersionRef;
  route: number;
  msg: Uint8Array;
  remoteAddress: string;
  remotePort: number;
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

export type PoolTask = MessageTask | LoadTask | DisposeTask;

export interface LoadResult {
  threadId: number;
}
