// SPDX-License-Identifier: LGPL-3.0-or-later
/** Rate-limited warnings for the lhttp engine (one line per second per kind). */
import type { Logger } from '../../shared/index.ts';

export interface WarnState {
  readonly log: Logger;
  /** Kind -> last time logged and how many were suppressed since. */
  readonly warned: Map<string, { at: number; suppressed: number }>;
}

/** Logs at most one line per second per kind; the next one says how many were suppressed. */
export function warnLimited(state: WarnState, kind: string, obj: Record<string, unknown>, msg: string): void {
  const now = Date.now();
  const w = state.warned.get(kind);
  if (w && now - w.at < 1000) {
    w.suppressed++;
    return;
  }
  const suppressed = w?.suppressed ?? 0;
  state.warned.set(kind, { at: now, suppressed: 0 });
  if (state.warned.size > 1000) state.warned.clear();
  state.log.warn(suppressed > 0 ? { ...obj, suppressed } : obj, msg);
}
