// SPDX-License-Identifier: LGPL-3.0-or-later
/** What a pool generation keeps per task and per connection while tasks wait for (or run on) its workers. */
import type { TaskDeadline } from './deadlines.ts';
import type { HttpTask, MessageTask, PoolTask } from './protocol.ts';

/** A task waiting in the generation's own queue for a free worker. */
export interface Waiting {
  task: PoolTask;
  transfer: ArrayBuffer[] | undefined;
  deadline: TaskDeadline | undefined;
  cancel: AbortSignal | undefined;
  resolve: (v: unknown) => void;
  reject: (e: unknown) => void;
  /** Taken off the queue (submitted, dropped, held or timed out). */
  settled: boolean;
  /** Queue order (held tasks go back in it). */
  seq: number;
  /** The one task of a held connection let run (Owner.released). */
  probe: boolean;
}

/**
 * A connection with tasks here: one 'abort' listener for all of them (not
 * one per task). After its client's FIN (suspend()) its tasks not yet
 * started are held and run one at a time, each only after a zero-byte write
 * found the client still there: a client that closed answers the reply
 * before with a reset, so that write fails, the socket closes and the held
 * tasks are dropped; a client that half-closed (`nc -N`) gets every reply.
 */
export interface Owner {
  readonly cancel: AbortSignal;
  /** Its tasks waiting, batched or held. */
  n: number;
  readonly onAbort: () => void;
  /** null until suspend(); then its held tasks in queue order. */
  held: Waiting[] | null;
  /** Calls `alive` if a zero-byte write to its client succeeds. */
  probe: ((alive: () => void) => void) | null;
  /** Its task let run (or about to be), not yet settled. */
  released: Waiting | null;
  driveSoon: boolean;
}

/** A batch on a worker: its tasks, and the flags shared with that worker (protocol.ts BatchTask). */
export interface Running {
  /** A batch's tasks; none for a task sent alone. */
  members: Waiting[];
  flags: Int32Array | null;
  /** Aborts it (piscina then ends its worker) when the task running in it times out. */
  controller: AbortController;
  /** A task sent alone: its deadline. */
  deadline?: TaskDeadline | undefined;
}

/** Tasks in one batch at most, and their bytes (bodies and messages). */
export const MAX_BATCH = 64;
export const MAX_BATCH_BYTES = 1 << 20;

export function batchable(t: PoolTask): t is MessageTask | HttpTask {
  return t.op === 'msg' || t.op === 'http';
}

export function taskBytes(t: MessageTask | HttpTask): number {
  const b = t.op === 'msg' ? t.msg : t.body;
  return typeof b === 'string' ? b.length : b.byteLength;
}
