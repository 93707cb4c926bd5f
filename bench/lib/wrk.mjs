// SPDX-License-Identifier: LGPL-3.0-or-later
/** Runs wrk (installing it with apt-get when missing) and parses its report. */
import { spawnSync } from 'node:child_process';
import { collect, spawnTracked, stop } from './proc.mjs';

let ensured = null;

function has(cmd) {
  return spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status === 0;
}

/** Makes sure `wrk` is on the PATH; tries `apt-get install -y wrk` once. Throws a clear error otherwise. */
export function ensureWrk() {
  if (ensured) return ensured;
  if (has('wrk')) return (ensured = 'wrk');
  const how = 'install it (Debian/Ubuntu: `apt-get install wrk`, macOS: `brew install wrk`) and run the bench again';
  if (!has('apt-get') || (typeof process.getuid === 'function' && process.getuid() !== 0)) {
    throw new Error(`wrk is not installed; ${how}`);
  }
  process.stderr.write('bench: wrk not found; installing it with apt-get...\n');
  const update = spawnSync('apt-get', ['update'], { stdio: ['ignore', 'ignore', 'pipe'], timeout: 180_000 });
  const install = update.status === 0 ? spawnSync('apt-get', ['install', '-y', 'wrk'], { stdio: ['ignore', 'ignore', 'pipe'], timeout: 180_000, env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } }) : update;
  if (install.status !== 0 || !has('wrk')) {
    throw new Error(`wrk is not installed and apt-get could not install it (${String(install.stderr ?? '').trim().split('\n').pop() || `exit ${install.status}`}); ${how}`);
  }
  return (ensured = 'wrk');
}


/** Parses wrk's text report. Pure. */
export function parseWrk(text) {
  const rps = /Requests\/sec:\s+([\d.]+)/.exec(text);
  if (!rps) throw new Error(`cannot parse wrk output: ${text.trim().slice(0, 400)}`);
  const total = /(\d+) requests in ([\d.]+)(\w+)/.exec(text);
  const sock = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(text);
  const non2xx = /Non-2xx or 3xx responses: (\d+)/.exec(text);
  const lat = /Latency\s+([\d.]+)(\w+)/.exec(text);
  let latencyMs = null;
  if (lat) latencyMs = Number(lat[1]) * ({ us: 1e-3, ms: 1, s: 1e3, m: 6e4 }[lat[2]] ?? NaN);
  return {
    rps: Number(rps[1]),
    requests: total ? Number(total[1]) : null,
    errors: sock ? { connect: +sock[1], read: +sock[2], write: +sock[3], timeout: +sock[4] } : { connect: 0, read: 0, write: 0, timeout: 0 },
    non2xx: non2xx ? Number(non2xx[1]) : 0,
    latencyMs,
  };
}

/**
 * @param {{url:string, threads?:number, connections?:number, durationS:number, headers?:string[]}} o
 */
export async function runWrk({ url, threads = 1, connections = 50, durationS, headers = [] }) {
  ensureWrk();
  // wrk takes whole seconds only.
  const seconds = Math.max(1, Math.round(durationS));
  const args = [`-t${threads}`, `-c${connections}`, `-d${seconds}s`, '--timeout', '5s'];
  for (const h of headers) args.push('-H', h);
  args.push(url);
  const child = spawnTracked('wrk', args, { role: 'load' });
  const out = collect(child);
  const killer = setTimeout(() => void stop(child, 500), (seconds + 15) * 1000);
  let code;
  try {
    code = await child.exited;
  } finally {
    clearTimeout(killer);
  }
  if (code !== 0) throw new Error(`wrk exited ${code}: ${(out.stderr.trim() || out.stdout.trim()).split('\n')[0]}`);
  const r = parseWrk(out.stdout);
  if (r.non2xx > 0) throw new Error(`wrk: ${r.non2xx} non-2xx responses from ${url}`);
  const errs = r.errors.connect + r.errors.read + r.errors.write + r.errors.timeout;
  if (r.requests !== null && errs > Math.max(10, r.requests * 0.01)) throw new Error(`wrk: ${errs} socket errors for ${r.requests} requests (${JSON.stringify(r.errors)})`);
  return r;
}
