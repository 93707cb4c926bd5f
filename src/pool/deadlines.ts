// SPDX-License-Identifier: LGPL-3.0-or-later
/**
 * Task timeouts without `AbortSignal.timeout()` per task: that creates a
 * timer and registers it for garbage collection tracking, a cost measured in
 * microseconds on every pool task. Live tasks sit in one ExpirySet, swept by
 * one timer; a task leaves it the moment it settles.
 */
import { ExpirySet, type Expiring } from '../util/expiry-set.ts';

/** A timeout may fire up to this late. */
const SWEEP_MS = 25;

/** What a pool task's timeout tells the generation: whether it passed (set by the sweep), and the error to fail with. */
export interface TaskDeadline {
  readonly expired: boolean;
  readonly reason: unknown;
}

/** One error for every timeout: the pool tells it by its name. */
const TIMEOUT = new DOMException('The operation was aborted due to timeout', 'TimeoutError');

export class Deadline implements TaskDeadline, Expiring {
  expired = false;
  expirySlot = -1;
  readonly reason = TIMEOUT;
  constructor(
    readonly at: number,
    private readonly owner: Deadlines,
  ) {}
  /** The task settled: its deadline no longer matters. */
  done(): void {
    this.owner.live.delete(this);
  }
}

/**
 * No AbortController per task (creating one costs about as much as a tiny
 * task's crossing): a deadline is a flag the sweep sets; the generation looks
 * at it for waiting tasks and aborts the worker of a running one.
 */
export class Deadlines {
  readonly live: ExpirySet<Deadline>;

  /** `afterExpire`: some deadlines just fired (the pool then drops waiting tasks that timed out and aborts running ones). */
  constructor(
    private readonly ms: number,
    afterExpire?: () => void,
  ) {
    this.live = new ExpirySet<Deadline>(SWEEP_MS, (d) => (d.expired = true), afterExpire);
  }

  /** A deadline `ms` (default: the task timeout) from now; it expires then, unless done() came first. */
  start(ms = this.ms): Deadline {
    const d = new Deadline(Date.now() + ms, this);
    this.live.add(d);
    return d;
  }
}
