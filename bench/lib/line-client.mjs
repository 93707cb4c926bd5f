// SPDX-License-Identifier: LGPL-3.0-or-later
/** Runs the line load generator (line-load.mjs) in a child process pinned to the load CPU. */
import { fileURLToPath } from 'node:url';
import { collect, spawnTracked, stop } from './proc.mjs';

const SCRIPT = fileURLToPath(new URL('./line-load.mjs', import.meta.url));

/**
 * @param {{port:number, send:string, expect:string, mode:'keepalive'|'close', conns:number, durationMs:number}} o
 * @returns {Promise<{rps:number, replies:number, errors:number, firstError:string|null, seconds:number}>}
 */
export async function runLineLoad(o) {
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
  if (r.replies === 0) throw new Error(`line load: no replies at all (errors: ${r.errors}, first: ${r.firstError})`);
  // A few resets at the deadline are noise; many mean the server is failing.
  if (r.errors > Math.max(10, r.replies * 0.01)) throw new Error(`line load: ${r.errors} socket errors for ${r.replies} replies (first: ${r.firstError})`);
  return r;
}
