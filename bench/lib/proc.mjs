// SPDX-License-Identifier: LGPL-3.0-or-later
/**
 * Child processes for the bench: every one is tracked so the runner can kill
 * whatever is left on errors, Ctrl-C or exit. A process is pinned with
 * `taskset` when pinning is on (see config.mjs).
 */
import { spawn } from 'node:child_process';
import { pinning } from './config.mjs';

const children = new Set();

/**
 * Spawns `cmd args`, optionally pinned to the 'server' or 'load' CPU.
 * stdout/stderr are piped; the child is tracked until it exits.
 */
export function spawnTracked(cmd, args, { role = null, env, cwd } = {}) {
  const pin = role ? pinning() : null;
  const [c, a] = pin ? [pin[role][0], [...pin[role].slice(1), cmd, ...args]] : [cmd, args];
  const child = spawn(c, a, { stdio: ['ignore', 'pipe', 'pipe'], env: env ?? process.env, cwd });
  children.add(child);
  child.exited = new Promise((resolve) =>
    child.once('exit', (code, signal) => {
      children.delete(child);
      resolve(code ?? signal);
    }),
  );
  // A spawn failure (ENOENT) is reported through 'exit' too; never crash the runner.
  child.on('error', () => children.delete(child));
  return child;
}

/** Stops one child: SIGTERM, then SIGKILL after `graceMs`. Resolves when it has exited. */
export async function stop(child, graceMs = 2000) {
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  child.kill('SIGTERM');
  const t = setTimeout(() => child.kill('SIGKILL'), graceMs);
  await child.exited;
  clearTimeout(t);
}

/** Kills every child still running (the runner's last resort). */
export async function stopAll() {
  await Promise.all([...children].map((c) => stop(c, 500)));
}

/** Synchronous kill for process 'exit' handlers. */
export function killAllSync() {
  for (const c of children) {
    try {
      c.kill('SIGKILL');
    } catch {
      // already gone
    }
  }
}

/** Collects a child's stdout and stderr as text. */
export function collect(child) {
  const out = { stdout: '', stderr: '' };
  child.stdout.setEncoding('utf8').on('data', (d) => (out.stdout += d));
  child.stderr.setEncoding('utf8').on('data', (d) => (out.stderr += d));
  return out;
}

/**
 * Reads a child's stdout as JSON lines, calling `onLine(obj)` for each
 * (non-JSON lines arrive as `{ msg: text }`). Keeps draining so the child
 * never blocks on a full pipe.
 */
export function jsonLines(stream, onLine) {
  let buf = '';
  stream.setEncoding('utf8').on('data', (d) => {
    buf += d;
    let i;
    while ((i = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, i);
      buf = buf.slice(i + 1);
      if (line.trim() === '') continue;
      let obj;
      try {
        obj = JSON.parse(line);
      } catch {
        obj = { msg: line };
      }
      onLine(obj);
    }
  });
}

/**
 * Resolves with the first JSON line matching `pred`; rejects if the child
 * exits first or `timeoutMs` passes.
 */
export function waitForLine(child, pred, timeoutMs, what) {
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (d) => (stderr = (stderr + d).slice(-4000)));
  return new Promise((resolve, reject) => {
    let done = false;
    const t = setTimeout(() => finish(new Error(`${what}: not ready within ${timeoutMs} ms; stderr: ${stderr.trim()}`)), timeoutMs);
    const finish = (err, value) => {
      if (done) return;
      done = true;
      clearTimeout(t);
      if (err) reject(err);
      else resolve(value);
    };
    jsonLines(child.stdout, (obj) => {
      if (!done && pred(obj)) finish(null, obj);
    });
    void child.exited.then((code) => finish(new Error(`${what}: exited (${code}) before it was ready; stderr: ${stderr.trim()}`)));
  });
}
