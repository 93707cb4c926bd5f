// SPDX-License-Identifier: LGPL-3.0-or-later
/**
 * What the supervisor and its worker processes say to each other.
 *
 * - The cluster IPC channel carries requests and answers (`ToWorker`,
 *   `ToSupervisor`), each tagged `hrmr: 1` so cluster's own messages never
 *   mix in.
 * - File descriptor 4 of every worker is a pipe to the supervisor for
 *   `LastWords`: JSON lines written synchronously, so they arrive even when
 *   the worker's event loop is blocked (the watchdog thread reports what the
 *   main thread is stuck in) or the process is exiting (`process.exit()`
 *   from a module, a failed start).
 */
import type { WorkerReload, Frame } from './policy.ts';

/** Environment of a worker process. */
export const ENV_WORKER = 'HRMR_WORKER_ID';
/** Server processes sharing the port (SetupContext.processes). */
export const ENV_PROCESSES = 'HRMR_PROCESSES';
/** The port the supervisor resolved (so `--port 0` means the same port for every worker, replacements included). */
export const ENV_PORT = 'HRMR_WORKER_PORT';
/** The worker's side channel (see above). */
export const LAST_WORDS_FD = 4;

export type ToWorker =
  | { hrmr: 1; t: 'reload'; id: number; only?: string[] }
  | { hrmr: 1; t: 'status'; id: number }
  /** This worker's metrics as prom-client JSON (metrics.localJson), for one summed scrape. */
  | { hrmr: 1; t: 'metrics'; id: number }
  /** Stop accepting, drain, exit 0 (shutdown or recycle). */
  | { hrmr: 1; t: 'drain'; reason: string; settleMs: number }
  /** Answer to one of the worker's admin requests. */
  | { hrmr: 1; t: 'answer'; id: number; line?: string; status?: unknown; report?: WorkerReload; metrics?: unknown[] };

export type ToSupervisor =
  | { hrmr: 1; t: 'ready'; port: number; modules: number }
  | { hrmr: 1; t: 'beat' }
  | { hrmr: 1; t: 'reloaded'; id: number; report: WorkerReload | null; error?: string }
  | { hrmr: 1; t: 'status'; id: number; status: unknown }
  | { hrmr: 1; t: 'metrics'; id: number; metrics: unknown }
  /** From an admin session (or a metrics scrape) on this worker: the whole server's answer is wanted. */
  | { hrmr: 1; t: 'admin'; id: number; cmd: AdminAsk }
  | { hrmr: 1; t: 'shutdown'; reason: string };

export type AdminAsk = 'reload-line' | 'reload' | 'status' | 'metrics';

export type LastWords =
  /** The watchdog thread: the main thread has been blocked this long, in this code. */
  | { t: 'stuck'; blockedMs: number; frames: Frame[] }
  /** process.exit() was called (stack of the caller). */
  | { t: 'exit'; code: number | string | null | undefined; stack: string; lastError: string | null }
  /** The server could not start (bad port...): the supervisor gives up instead of restarting. */
  | { t: 'fatal'; message: string };

/** Hands an answer to the request waiting for it (by id), once: the waiter is removed first. */
export function settle<M>(pending: Map<number, (m: M) => void>, id: number, m: M): void {
  const done = pending.get(id);
  pending.delete(id);
  done?.(m);
}

export function isMessage<T extends { hrmr: 1 }>(m: unknown): m is T {
  return typeof m === 'object' && m !== null && (m as { hrmr?: unknown }).hrmr === 1;
}
