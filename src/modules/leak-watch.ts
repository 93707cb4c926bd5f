// SPDX-License-Identifier: LGPL-3.0-or-later
/**
 * Finds retired versions that are still running: a module that starts a
 * timer (at import or in `setup`) and forgets to clear it in `dispose` keeps
 * its old code ticking after every reload, forever.
 *
 * Timers are attributed by an AsyncLocalStorage context entered around the
 * version's import and `setup`, and the global `setTimeout`/`setInterval`
 * record the timers created inside it. After the version is disposed, any of
 * its timers not yet cleared is reported. Values made by `ctx.keep` are
 * outside the context: they are meant to live on.
 *
 * Only while a reload runs (`watching`): an enabled AsyncLocalStorage runs a
 * hook at every async resource and promise in the process, which costs every
 * connection; between reloads the hook is off and the timer functions are
 * node's own.
 */
import { AsyncLocalStorage } from 'node:async_hooks';

type Timer = NodeJS.Timeout & { _destroyed?: boolean };

export class VersionWatch {
  readonly timers = new Set<Timer>();

  /** Runs `fn` (and all it starts asynchronously) as this version's code. Only inside `watching`. */
  run<T>(fn: () => T): T {
    return active > 0 ? owner.run(this, fn) : fn();
  }

  /** Timers created by this version that are still scheduled. */
  live(): number {
    let n = 0;
    for (const t of this.timers) {
      if (t._destroyed === true) this.timers.delete(t);
      else n++;
    }
    return n;
  }
}

const owner = new AsyncLocalStorage<VersionWatch>();

/** Runs `fn` outside any version's context (kept state outlives versions by design). */
export function outsideVersion<T>(fn: () => T): T {
  return owner.exit(fn);
}

type TimerFn = (...a: unknown[]) => Timer;
const g = globalThis as unknown as Record<'setTimeout' | 'setInterval', TimerFn>;
const originals = { setTimeout: g.setTimeout, setInterval: g.setInterval };
const wrappers = {
  setTimeout: wrap(originals.setTimeout),
  setInterval: wrap(originals.setInterval),
};
let active = 0;

function wrap(orig: TimerFn): TimerFn {
  const wrapped = function (this: unknown, ...args: unknown[]): Timer {
    const t = orig.apply(this, args);
    const w = owner.getStore();
    if (w !== undefined && typeof t === 'object') w.timers.add(t);
    return t;
  };
  // Keep util.promisify(setTimeout) and friends working.
  Object.assign(wrapped, orig);
  return wrapped;
}

/** Runs `fn` (a reload) with timer attribution on; nested calls share one activation. */
export async function watching<T>(fn: () => Promise<T>): Promise<T> {
  if (active++ === 0) {
    g.setTimeout = wrappers.setTimeout;
    g.setInterval = wrappers.setInterval;
  }
  try {
    return await fn();
  } finally {
    if (--active === 0) {
      // Only if nobody replaced them meanwhile (a module patching timers itself).
      if (g.setTimeout === wrappers.setTimeout) g.setTimeout = originals.setTimeout;
      if (g.setInterval === wrappers.setInterval) g.setInterval = originals.setInterval;
      owner.disable();
    }
  }
}
