// SPDX-License-Identifier: LGPL-3.0-or-later
/**
 * Task timeouts without `AbortSignal.timeout()` per task: that creates a
 * timer and registers it for garbage collection tracking, a cost measured in
 * microseconds on every pool task. Every task of a pool has the same
 * timeout, so deadlines come in order: one FIFO and one timer armed for the
 * oldest serve them all (the same scheme as the peek clock).
 */
export class Deadline {
  readonly controller = new AbortController();
  settled = false;
  constructor(readonly at: number) {}
  get signal(): AbortSignal {
    return this.controller.signal;
  }
  /** The task settled: its deadline no longer matters. */
  done(): void {
    this.settled = true;
  }
}

const SLACK_MS = 25;

export class Deadlines {
  private queue: Deadline[] = [];
  private head = 0;
  private timer: NodeJS.Timeout | null = null;

  constructor(private readonly ms: number) {}

  /** A deadline `ms` from now; its signal aborts with a TimeoutError then, unless done() came first. */
  start(): Deadline {
    const d = new Deadline(Date.now() + this.ms);
    this.queue.push(d);
    if (this.timer === null) this.arm(d.at);
    return d;
  }

  /** At most one wake-up per SLACK_MS, not one per task (see the peek clock): a timeout may fire up to SLACK_MS late. */
  private arm(at: number): void {
    this.timer = setTimeout(() => this.fire(), Math.max(SLACK_MS, at - Date.now()));
    this.timer.unref();
  }

  private fire(): void {
    this.timer = null;
    const now = Date.now();
    const q = this.queue;
    while (this.head < q.length && q[this.head]!.at <= now) {
      const d = q[this.head]!;
      q[this.head++] = undefined as unknown as Deadline;
      if (!d.settled) d.controller.abort(new DOMException('The operation was aborted due to timeout', 'TimeoutError'));
    }
    if (this.head === q.length) {
      this.queue = [];
      this.head = 0;
      return;
    }
    if (this.head > 1024 && this.head * 2 > q.length) {
      this.queue = q.slice(this.head);
      this.head = 0;
    }
    this.arm(this.queue[this.head]!.at);
  }
}
