// SPDX-License-Identifier: LGPL-3.0-or-later
/**
 * CPU time a process has used (user + system), from /proc (Linux). Used for
 * "server CPU per request": far less sensitive to a noisy machine than
 * requests per second, and it shows the router's own cost even when the load
 * generator, not the server, is the bottleneck.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';

let tickUs = null;
function usPerTick() {
  if (tickUs === null) {
    const r = spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' });
    const hz = Number(r.stdout?.trim());
    tickUs = 1e6 / (Number.isFinite(hz) && hz > 0 ? hz : 100);
  }
  return tickUs;
}

/** Microseconds of CPU used so far by `pid`, or null where /proc is not available. */
export function cpuMicros(pid) {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name (which may hold spaces) start at ')' + 2; utime, stime are fields 14, 15.
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(f[11]) + Number(f[12])) * usPerTick();
  } catch {
    return null;
  }
}

/** Runs `fn` and returns its result with `cpuUs`: the CPU `pid` used meanwhile (null if unknown). */
export async function withCpu(pid, fn) {
  const c0 = cpuMicros(pid);
  const result = await fn();
  const c1 = cpuMicros(pid);
  return { ...result, cpuUs: c0 === null || c1 === null ? null : c1 - c0 };
}

/** Pids of `pid` and all its descendants (Linux: /proc/PID/task/TID/children). */
export function processTree(pid) {
  const out = [];
  const walk = (p) => {
    out.push(p);
    let tasks = [];
    try {
      tasks = readdirSync(`/proc/${p}/task`);
    } catch {
      return;
    }
    for (const t of tasks) {
      let kids = '';
      try {
        kids = readFileSync(`/proc/${p}/task/${t}/children`, 'utf8');
      } catch {
        continue;
      }
      for (const k of kids.split(' ')) if (k.trim()) walk(Number(k));
    }
  };
  walk(pid);
  return out;
}

/** CPU microseconds used so far by `pid` and its descendants together (a supervisor and its workers), or null. */
export function treeCpuMicros(pid) {
  let sum = 0;
  for (const p of processTree(pid)) {
    const c = cpuMicros(p);
    if (c === null && p === pid) return null;
    sum += c ?? 0;
  }
  return sum;
}
