// SPDX-License-Identifier: MIT
/**
 * For `ctx.metrics` collect callbacks that read a module's own `status()`
 * counters: `read('connections')` is a collect function giving that key's
 * number at scrape time (null while there is no status or no number).
 */
export function statReader(stats: () => Record<string, unknown> | null): (key: string) => () => number | null {
  return (key) => () => {
    const v = stats()?.[key];
    return typeof v === 'number' ? v : null;
  };
}
