// SPDX-License-Identifier: LGPL-3.0-or-later
/** Runs the line load generator (line-load.mjs) in child processes pinned to the load CPU(s). */
import { fileURLToPath } from 'node:url';
import { collect, spawnTracked, stop } from './proc.mjs';

const SCRIPT = fileURLToPath(new URL('./line-load.mjs', import.meta.url));

/** Load processes per line run (BENCH_LOAD_PROCS, default 2): one node process can be the bottleneck. */
export const LOAD_PROCS = Math.max(1, Math.round(Number(process.env.BENCH_LOAD_PROCS ?? 2)) || 2);

/** One load generator process. */
async function runOne(o) {
  const child = spawnTracked(process.execPath, [SCRIPT, JSON.stringify(o)], { role: 'load' });
  const out = collect(child);
  const killer = setTimeout(() => void stop(child, 500), o.durationMs + 10_000);
  let code;
  try {
    code = await child.exited;
  } finally {
    clearTimeout(killer);
  }
  let r;
  try {
    r = JSON.parse(out.stdout.trim().split('\n').pop());
  } catch {
    throw new Error(`line load generator failed (exit ${code}): ${out.stderr.trim() || out.stdout.trim()}`);
  }
  if (r.wrong) throw new Error(`line load: ${r.wrong}`);
  if (code !== 0) throw new Error(`line load generator exited ${code}: ${out.stderr.trim()}`);
  return r;
}

/**
 * Runs `procs` load generator processes at once (the connections split
 * between them), all on the load CPU(s), and sums their counts.
 * @param {{port:number, send:string, expect:string, mode:'keepalive'|'close', conns:number, durationMs:number, procs?:number}} o
 * @returns {Promise<{rps:number, replies:number, errors:number, firstError:string|null, seconds:number, procs:number}>}
 */
export async function runLineLoad({ procs = LOAD_PROCS, ...o }) {
  const n = Math.max(1, Math.min(procs, o.conns));
  const parts = await Promise.all(Array.from({ length: n }, (_, i) => runOne({ ...o, conns: Math.floor(o.conns / n) + (i < o.conns % n ? 1 : 0) })));
  const r = {
    replies: parts.reduce((a, p) => a + p.replies, 0),
    errors: parts.reduce((a, p) => a + p.errors, 0),
    firstError: parts.find((p) => p.firstError)?.firstError ?? null,
    seconds: Math.max(...parts.map((p) => p.seconds)),
    procs: n,
  };
  r.rps = parts.reduce((a, p) => a + p.rps, 0);
  if (r.replies === 0) throw new Error(`line load: no replies at all (errors: ${r.errors}, first: ${r.firstError})`);
  // A few resets at the deadline are noise; many mean the server is failing.
  if (r.errors > Math.max(10, r.replies * 0.01)) throw new Error(`line load: ${r.errors} socket errors for ${r.replies} replies (first: ${r.firstError})`);
  return r;
}
