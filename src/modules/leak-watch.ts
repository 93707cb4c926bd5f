// SPDX-License-Identifier: LGPL-3.0-or-later
/**
 * Finds retired versions that are still running: a module that starts a
 * timer (at import or in `setup`) and forgets to clear it in `dispose` keeps
 * its old code ticking after every reload, forever.
 *
 * Timers are attributed by an AsyncLocalStorage context entered around the
 * version's import and `setup` (and everything those start), and the global
 * `setTimeout`/`setInterval` record the timers created inside it. After the
 * version is disposed, any of its timers not yet cleared is reported.
 * Values made by `ctx.keep` are outside the context: they are meant to live on.
 * Cost outside a module's import/setup: one `getStore()` per global timer call.
 */
import { AsyncLocalStorage } from 'node:async_hooks';

type Timer = NodeJS.Timeout & { _destroyed?: boolean };

export class VersionWatch {
  readonly timers = new Set<Timer>();

  /** Runs `fn` (and all it starts asynchronously) as this version's code. */
  run<T>(fn: () => T): T {
    install();
    return owner.run(this, fn);
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

let installed = false;
function install(): void {
  if (installed) return;
  installed = true;
  const g = globalThis as unknown as Record<'setTimeout' | 'setInterval', (...a: unknown[]) => Timer>;
  for (const name of ['setTimeout', 'setInterval'] as const) {
    const orig = g[name];
    const wrapped = function (this: unknown, ...args: unknown[]): Timer {
      const t = orig.apply(this, args);
      const w = owner.getStore();
      if (w !== undefined && typeof t === 'object') w.timers.add(t);
      return t;
    };
    // Keep util.promisify(setTimeout) and friends working.
    Object.assign(wrapped, orig);
    g[name] = wrapped;
  }
}
