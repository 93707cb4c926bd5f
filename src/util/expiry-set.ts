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
  /** Where the set keeps it (-1 when not in a set); written by the set only. */
  expirySlot: number;
}

/**
 * Entries sit in reused array slots, not a `Set`: tens of thousands come and
 * go each second, and a Set used that way was measured to make V8's young
 * collections keep dead entries alive (see slots.ts).
 */
export class ExpirySet<T extends Expiring> {
  private readonly items: Array<T | undefined> = [];
  private readonly free: number[] = [];
  private count = 0;
  private timer: NodeJS.Timeout | null = null;

  constructor(
    private readonly sweepMs: number,
    private readonly expire: (entry: T) => void,
    /** After a sweep that expired something. */
    private readonly afterSweep?: () => void,
  ) {}

  add(e: T): void {
    if (e.expirySlot >= 0) return;
    const i = this.free.length > 0 ? this.free.pop()! : this.items.length;
    this.items[i] = e;
    e.expirySlot = i;
    this.count++;
    if (this.timer === null) {
      this.timer = setTimeout(this.sweep, this.sweepMs);
      this.timer.unref();
    }
  }

  delete(e: T): void {
    const i = e.expirySlot;
    if (i < 0 || this.items[i] !== e) return;
    this.items[i] = undefined;
    e.expirySlot = -1;
    this.free.push(i);
    this.count--;
  }

  get size(): number {
    return this.count;
  }

  private readonly sweep = (): void => {
    this.timer = null;
    const now = Date.now();
    let expired = false;
    const items = this.items;
    for (let i = 0; i < items.length; i++) {
      const e = items[i];
      if (e === undefined || e.at > now) continue;
      this.delete(e);
      this.expire(e);
      expired = true;
    }
    if (expired) this.afterSweep?.();
    if (this.count > 0) {
      this.timer = setTimeout(this.sweep, this.sweepMs);
      this.timer.unref();
    } else if (items.length > 1024) {
      // Empty after a burst: give the slots back.
      items.length = 0;
      this.free.length = 0;
    }
  };
}
