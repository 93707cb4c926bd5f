// SPDX-License-Identifier: LGPL-3.0-or-later
/**
 * Timeouts for many short-lived things (a peek, a pool task) without a timer
 * each. Entries are kept in a Set only while they are live (most finish in
 * microseconds and leave at once, so nothing is kept alive for the length of
 * the timeout); one timer, running only while the set is non-empty, sweeps it
 * every `sweepMs` and expires what is past its deadline. An expiry may so
 * come up to `sweepMs` late.
 */
export interface Expiring {
  /** Date.now() at which it expires. */
  readonly at: number;
}

export class ExpirySet<T extends Expiring> {
  private readonly live = new Set<T>();
  private timer: NodeJS.Timeout | null = null;

  constructor(
    private readonly sweepMs: number,
    private readonly expire: (entry: T) => void,
    /** After a sweep that expired something. */
    private readonly afterSweep?: () => void,
  ) {}

  add(e: T): void {
    this.live.add(e);
    if (this.timer === null) {
      this.timer = setTimeout(this.sweep, this.sweepMs);
      this.timer.unref();
    }
  }

  delete(e: T): void {
    this.live.delete(e);
  }

  get size(): number {
    return this.live.size;
  }

  private readonly sweep = (): void => {
    this.timer = null;
    const now = Date.now();
    let expired = false;
    for (const e of this.live) {
      if (e.at > now) continue;
      this.live.delete(e);
      this.expire(e);
      expired = true;
    }
    if (expired) this.afterSweep?.();
    if (this.live.size > 0) {
      this.timer = setTimeout(this.sweep, this.sweepMs);
      this.timer.unref();
    }
  };
}
