// SPDX-License-Identifier: LGPL-3.0-or-later
/**
 * Shared by the test/workers-*.test.ts files: a probe module whose routes
 * answer with the worker's pid, and a way to reach a chosen worker. With
 * SCHED_NONE the kernel picks which worker accepts a connection; a worker
 * whose event loop is busy does not accept, so blocking one worker for a
 * moment (the BLK stream route) steers new connections to the other.
 */
import { readFileSync } from 'node:fs';
import { admin, LineClient, waitUntil, type Hrmr } from './helpers/hrmr.ts';

export const PROBE = `
export default {
  routes: [
    { prefix: 'PID', message: () => process.pid + '\\n' },
    { prefix: 'VER', message: (m, ctx) => ctx.version + ' ' + process.pid + '\\n' },
    { prefix: 'SLOW ', message: (m) => new Promise((r) => setTimeout(() => r('slow ' + process.pid + '\\n'), Number(String(m).slice(5)))) },
    { prefix: 'EXIT', message: () => { process.exit(1); } },
    { prefix: 'HANG', message: function hangForever() { for (;;) {} } },
    { prefix: 'BLK ', connection(socket) {
        let buf = '';
        socket.on('data', (d) => {
          buf += d;
          const i = buf.indexOf('\\n');
          if (i < 0) return;
          const ms = Number(buf.slice(4, i));
          socket.write('blocking ' + process.pid + '\\n');
          const t = Date.now();
          while (Date.now() - t < ms) {}
          socket.end('unblocked ' + process.pid + '\\n');
        });
      } },
  ],
};
`;

export interface Blocked {
  pid: number;
  /** Resolves when the worker is free again. */
  done: Promise<void>;
}

/** Blocks whichever worker accepts the connection for `ms`; resolves once it is blocked, with its pid. */
export async function block(port: number, ms: number): Promise<Blocked> {
  const c = await LineClient.open(port);
  const first = await c.request(`BLK ${ms}`);
  const m = /^blocking (\d+)$/.exec(first ?? '');
  if (!m) throw new Error(`BLK answered ${JSON.stringify(first)}`);
  const done = c.read(ms + 20_000).then(
    () => c.close(),
    () => c.close(),
  );
  return { pid: Number(m[1]), done };
}

/** The two worker pids (the second found while the first is blocked). */
export async function twoPids(port: number): Promise<[number, number]> {
  const a = await block(port, 1200);
  const b = await block(port, 10);
  await Promise.all([a.done, b.done]);
  if (a.pid === b.pid) throw new Error(`both connections went to ${a.pid}`);
  return [a.pid, b.pid];
}

/**
 * Runs `fn` while only the worker `pid` accepts connections (the other of
 * two is blocked): every connection `fn` opens at its start lands on `pid`.
 */
export async function onWorker<T>(port: number, pid: number, fn: () => Promise<T>, windowMs = 2500): Promise<T> {
  const a = await block(port, 1000);
  if (a.pid !== pid) {
    try {
      return await fn();
    } finally {
      await a.done;
    }
  }
  // `pid` itself is blocked: block the other one for longer, then wait for `pid` to be free.
  const b = await block(port, windowMs);
  await a.done;
  try {
    return await fn();
  } finally {
    await b.done;
  }
}

/** One request on a fresh connection (the reply line, or null if the server closed first). */
export async function ask(port: number, line: string, timeoutMs = 15_000): Promise<string | null> {
  const c = await LineClient.open(port);
  try {
    return await c.request(line, timeoutMs);
  } finally {
    c.close();
  }
}

export interface WorkerRow {
  worker: number;
  pid: number;
  state: string;
  started: number;
  restarts: number;
  connections: number | null;
  reloads: number | null;
  imports: number;
  memory: { rssBytes: number; heapUsedBytes: number } | null;
  uptimeSeconds: number;
}

export interface Status {
  connections: number;
  supervisor: { pid: number; restarts: number; recycled: number; hangKills: number; workers: number };
  workers: WorkerRow[];
  [k: string]: unknown;
}

export async function status(port: number): Promise<Status> {
  const r = await admin(port, 'STATUS');
  if (!r.startsWith('OK ')) throw new Error(`STATUS: ${r}`);
  return JSON.parse(r.slice(3)) as Status;
}

/** Waits until STATUS shows `n` ready workers, none of them in `not`; returns the status. */
export async function readyWorkers(port: number, n: number, not: readonly number[] = [], timeoutMs = 30_000): Promise<Status> {
  return waitUntil(
    async () => {
      const s = await status(port);
      const ready = s.workers.filter((w) => w.state === 'ready' && !not.includes(w.pid));
      return ready.length === n && s.workers.length === n ? s : null;
    },
    `${n} ready workers`,
    timeoutMs,
  );
}

/** Every worker pid this test saw, so `after` can stop them even if the supervisor is gone. */
export class Pids {
  private readonly seen = new Set<number>();
  add(...pids: number[]): void {
    for (const p of pids) this.seen.add(p);
  }
  addStatus(s: Status): void {
    for (const w of s.workers) this.seen.add(w.pid);
  }
  /** SIGKILL every seen pid that is still an hrmr process. */
  killAll(): void {
    for (const pid of this.seen) {
      try {
        if (!readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('hrmr')) continue;
        process.kill(pid, 'SIGKILL');
      } catch {
        // gone
      }
    }
  }
}

/** Stops the server and any worker it may have left behind. */
export async function stopAll(h: Hrmr | null, pids: Pids): Promise<void> {
  if (h) {
    try {
      pids.addStatus(await status(h.port));
    } catch {
      // not answering
    }
    await h.kill();
  }
  pids.killAll();
}
