// SPDX-License-Identifier: LGPL-3.0-or-later
/**
 * Bench settings shared by every suite, from the environment so one knob
 * shortens or lengthens the whole run:
 *   BENCH_ROUNDS    alternating rounds per pair (default 5)
 *   BENCH_DURATION  seconds per measured run (default 2)
 *   BENCH_WARMUP    seconds of warm-up per side before the rounds (default 1)
 *   BENCH_NO_PIN=1  do not pin server and load to separate CPUs
 */
import { spawnSync } from 'node:child_process';
import os from 'node:os';
import { fileURLToPath } from 'node:url';

export const ROOT = fileURLToPath(new URL('../..', import.meta.url));

function num(name, def, min) {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return def;
  const n = Number(raw);
  if (!Number.isFinite(n) || n < min) throw new Error(`${name} must be a number >= ${min} (got ${JSON.stringify(raw)})`);
  return n;
}

export const config = {
  rounds: Math.round(num('BENCH_ROUNDS', 5, 1)),
  durationS: num('BENCH_DURATION', 2, 0.5),
  warmupS: num('BENCH_WARMUP', 1, 0),
};

let pinCache;
/**
 * CPU pinning: with taskset and at least 2 CPUs, servers (hrmr and its
 * baseline alike) run on CPU 0 and load generators on the other CPUs, so the two never
 * fight for one core and both sides of a pair get the same arrangement.
 * Returns the command prefixes, or null when pinning is off or impossible.
 */
export function pinning() {
  if (pinCache !== undefined) return pinCache;
  pinCache = null;
  if (process.env.BENCH_NO_PIN === '1' || os.availableParallelism() < 2) return pinCache;
  const r = spawnSync('taskset', ['-c', '0', 'true'], { stdio: 'ignore' });
  // Load gets every CPU but the server's (one on a 2-core machine).
  const n = os.availableParallelism();
  if (r.status === 0) pinCache = { server: ['taskset', '-c', '0'], load: ['taskset', '-c', n > 2 ? `1-${n - 1}` : '1'] };
  return pinCache;
}
