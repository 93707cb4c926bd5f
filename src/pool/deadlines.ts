// SPDX-License-Identifier: LGPL-3.0-or-later
/**
 * Task timeouts without `AbortSignal.timeout()` per task: that creates a
 * timer and registers it for garbage collection tracking, a cost measured in
 * microseconds on every pool task. Live tasks sit in one ExpirySet, swept by
 * one timer; a task leaves it the moment it settles.
 */
import { ExpirySet } from '../util/expiry-set.ts';

/** A timeout may fire up to this late. */
const SWEEP_MS = 25;

export class Deadline {
  readonly controller = new AbortController();
  constructor(
    readonly at: number,
    private readonly owner: Deadlines,
  ) {}
  get signal(): AbortSignal {
    return this.controller.signal;
  }
  /** The task settled: its deadline no longer matters. */
  done(): void {
    this.owner.live.delete(this);
  }
}

export class Deadlines {
  readonly live: ExpirySet<Deadline>;

  /** `afterExpire`: some deadlines just fired (the pool then drops waiting tasks that timed out). */
  constructor(
    private readonly ms: number,
    afterExpire?: () => void,
  ) {
    this.live = new ExpirySet<Deadline>(SWEEP_MS, (d) => d.controller.abort(new DOMException('The operation was aborted due to timeout', 'TimeoutError')), afterExpire);
  }

  /** A deadline `ms` from now; its signal aborts with a TimeoutError then, unless done() came first. */
  start(): Deadline {
    const d = new Deadline(Date.now() + this.ms, this);
    this.live.add(d);
    return d;
  }
}
