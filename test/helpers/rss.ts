// SPDX-License-Identifier: LGPL-3.0-or-later
/**
 * A process's peak memory, measured from outside through /proc (tests of
 * memory bounds): the peak is reset first (`clear_refs` 5, Linux ≥ 4.0) when
 * allowed, and VmRSS is also polled, so either way the highest RSS while
 * `fn` ran is seen.
 */
import { readFileSync, writeFileSync } from 'node:fs';

function kib(pid: number, field: 'VmRSS' | 'VmHWM'): number {
  const m = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  if (!m) throw new Error(`no ${field} in /proc/${pid}/status`);
  return Number(m[1]);
}

/** RSS of `pid` in MiB now. */
export const rssMiB = (pid: number): number => kib(pid, 'VmRSS') / 1024;

/** Runs `fn`; resolves with its value, the RSS before (MiB) and the peak RSS while it ran (MiB). */
export async function peakDuring<T>(pid: number, fn: () => Promise<T>): Promise<{ value: T; idle: number; peak: number }> {
  const idle = rssMiB(pid);
  let hwm = false;
  try {
    writeFileSync(`/proc/${pid}/clear_refs`, '5');
    hwm = true;
  } catch {
    /* not allowed: polling only */
  }
  let peak = idle;
  const poll = setInterval(() => {
    try {
      peak = Math.max(peak, rssMiB(pid));
    } catch {
      /* gone */
    }
  }, 5);
  try {
    const value = await fn();
    peak = Math.max(peak, rssMiB(pid));
    if (hwm) peak = Math.max(peak, kib(pid, 'VmHWM') / 1024);
    return { value, idle, peak };
  } finally {
    clearInterval(poll);
  }
}
