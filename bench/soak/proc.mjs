// SPDX-License-Identifier: LGPL-3.0-or-later
/**
 * Child processes of the soak: the hrmr server and the load generators. Every
 * child is registered so that a failure or a signal still kills all of them.
 * Children run under `bash -c 'ulimit -n ...; exec node ...'` so their soft
 * file-descriptor limit is raised as far as the hard limit allows.
 */
import { spawn, execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = fileURLToPath(new URL('../..', import.meta.url));
export const BIN = join(ROOT, 'bin', 'hrmr.mjs');
export const WORKERS = fileURLToPath(new URL('./workers/', import.meta.url));

const children = new Set();

/** The hard RLIMIT_NOFILE a child can raise its soft limit to. */
export function hardFdLimit() {
  try {
    const out = execFileSync('bash', ['-c', 'ulimit -Hn'], { encoding: 'utf8' }).trim();
    return out === 'unlimited' ? 1 << 20 : Number(out);
  } catch {
    return 1024;
  }
}

const RAISE = 'ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null; exec "$@"';

function spawnRaised(argv, opts) {
  const p = spawn('bash', ['-c', RAISE, 'bash', ...argv], { cwd: ROOT, ...opts });
  children.add(p);
  p.once('exit', () => children.delete(p));
  return p;
}

export function killAllSync() {
  for (const p of children) {
    try {
      p.kill('SIGKILL');
    } catch {
      /* gone */
    }
  }
}

/** Kills one child and waits for it. */
export async function kill(p) {
  if (p.exitCode === null && p.signalCode === null) {
    const gone = new Promise((r) => p.once('exit', r));
    p.kill('SIGKILL');
    await gone;
  }
}

/**
 * Starts hrmr with `args`; resolves once its `listening` log line shows.
 * Returns { port, proc, pid, exited, alive(), logs, stderr() }.
 */
export function startServer({ modulesDir, args = [], nodeArgs = [], timeoutMs = 15_000 }) {
  const argv = [process.execPath, ...nodeArgs, BIN, '--port', '0', '--modules', modulesDir, '--log-level', 'info', ...args];
  const proc = spawnRaised(argv, { stdio: ['ignore', 'pipe', 'pipe'] });
  let err = '';
  let buf = '';
  const logs = [];
  let crashed = null;
  const exited = new Promise((r) => proc.once('exit', (code, sig) => r({ code, sig })));
  proc.stderr.setEncoding('utf8').on('data', (d) => {
    if (err.length < 100_000) err += d;
  });
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`hrmr did not listen within ${timeoutMs} ms; stderr: ${err}`)), timeoutMs);
    proc.stdout.setEncoding('utf8').on('data', (d) => {
      buf += d;
      let i;
      while ((i = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, i);
        buf = buf.slice(i + 1);
        let l;
        try {
          l = JSON.parse(line);
        } catch {
          continue;
        }
        // Keep warnings and errors only: thousands of reload lines are not needed.
        if (l.level >= 40 && logs.length < 1000) logs.push(l);
        if (l.msg === 'listening') {
          clearTimeout(t);
          resolve({ port: l.port, proc, pid: proc.pid, exited, logs, stderr: () => err, alive: () => proc.exitCode === null && proc.signalCode === null, crashed: () => crashed });
        }
      }
    });
    void exited.then((e) => {
      crashed = e;
      clearTimeout(t);
      reject(new Error(`hrmr exited (${e.code ?? e.sig}) before listening; stderr: ${err}`));
    });
  });
}

/**
 * Starts a load generator (bench/soak/workers/NAME.mjs) with an IPC channel.
 * The worker gets `config` as its first message; `send`/`next` talk to it.
 */
export function startWorker(name, config) {
  const proc = spawnRaised([process.execPath, join(WORKERS, `${name}.mjs`)], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const inbox = [];
  const waiters = [];
  let exitInfo = null;
  proc.on('message', (m) => {
    const w = waiters.shift();
    if (w) w.resolve(m);
    else inbox.push(m);
  });
  proc.once('exit', (code, sig) => {
    exitInfo = { code, sig };
    for (const w of waiters.splice(0)) w.reject(new Error(`worker ${name} exited (${code ?? sig})`));
  });
  proc.send(config);
  return {
    proc,
    send: (m) => proc.send(m),
    /** Next message from the worker (rejects on timeout or exit). */
    next(timeoutMs = 60_000) {
      if (inbox.length > 0) return Promise.resolve(inbox.shift());
      if (exitInfo) return Promise.reject(new Error(`worker ${name} exited (${exitInfo.code ?? exitInfo.sig})`));
      return new Promise((resolve, reject) => {
        const w = {
          resolve: (m) => (clearTimeout(t), resolve(m)),
          reject: (e) => (clearTimeout(t), reject(e)),
        };
        const t = setTimeout(() => {
          waiters.splice(waiters.indexOf(w), 1);
          reject(new Error(`worker ${name}: no message within ${timeoutMs} ms`));
        }, timeoutMs);
        waiters.push(w);
      });
    },
    kill: () => kill(proc),
  };
}
