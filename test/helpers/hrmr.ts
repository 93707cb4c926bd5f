// SPDX-License-Identifier: LGPL-3.0-or-later
/**
 * Test harness: starts the real built server (dist/) as a child process on a
 * free loopback port, with modules written into a temporary folder, and
 * speaks real bytes to it.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = fileURLToPath(new URL('../..', import.meta.url));
// Tests load only the modules they write: no bundled modules beside them (every server a test spawns inherits this).
process.env.HRMR_BUNDLED ??= 'none';
export const BIN = join(ROOT, 'bin', 'hrmr.mjs');

export interface LogLine {
  level: number;
  msg: string;
  [k: string]: unknown;
}

export interface Hrmr {
  readonly port: number;
  readonly proc: ChildProcess;
  readonly dir: string;
  readonly logs: LogLine[];
  readonly stderr: () => string;
  /** Writes (or replaces) modules/NAME.mjs. */
  writeModule(name: string, source: string): void;
  removeModule(name: string): void;
  waitForLog(pred: (l: LogLine) => boolean, timeoutMs?: number): Promise<LogLine>;
  /** Resolves with the exit code. */
  exited: Promise<number | null>;
  /** SIGKILL if still running; removes the temp folder. */
  kill(): Promise<void>;
}

export function tempDir(prefix = 'hrmr-test-'): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

export interface StartOptions {
  modules?: Record<string, string>;
  /** Use this folder for modules instead of a temp one. */
  dir?: string;
  args?: string[];
  env?: Record<string, string>;
  cwd?: string;
}

export async function startHrmr(o: StartOptions = {}): Promise<Hrmr> {
  const dir = o.dir ?? tempDir();
  mkdirSync(dir, { recursive: true });
  for (const [name, src] of Object.entries(o.modules ?? {})) writeFileSync(join(dir, `${name}.mjs`), src);
  const args = [BIN, '--port', '0', '--modules', dir, '--log-level', 'debug', '--threads', '2', ...(o.args ?? [])];
  const proc = spawn(process.execPath, args, { cwd: o.cwd ?? ROOT, env: { HRMR_BUNDLED: 'none', ...process.env, ...o.env }, stdio: ['ignore', 'pipe', 'pipe'] });
  const logs: LogLine[] = [];
  const waiters: Array<{ pred: (l: LogLine) => boolean; resolve: (l: LogLine) => void }> = [];
  let err = '';
  let buf = '';
  proc.stdout!.setEncoding('utf8').on('data', (d: string) => {
    buf += d;
    let i;
    while ((i = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, i);
      buf = buf.slice(i + 1);
      let parsed: LogLine;
      try {
        parsed = JSON.parse(line) as LogLine;
      } catch {
        parsed = { level: 0, msg: line };
      }
      logs.push(parsed);
      for (let k = waiters.length - 1; k >= 0; k--) {
        if (waiters[k]!.pred(parsed)) waiters.splice(k, 1)[0]!.resolve(parsed);
      }
    }
  });
  proc.stderr!.setEncoding('utf8').on('data', (d: string) => (err += d));
  const exited = new Promise<number | null>((r) => proc.once('exit', (code) => r(code)));
  const waitForLog = (pred: (l: LogLine) => boolean, timeoutMs = 10_000): Promise<LogLine> => {
    const found = logs.find(pred);
    if (found) return Promise.resolve(found);
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`log line not seen in ${timeoutMs} ms; stderr: ${err}; logs: ${logs.map((l) => l.msg).join(' | ')}`)), timeoutMs);
      waiters.push({ pred, resolve: (l) => (clearTimeout(t), resolve(l)) });
      void exited.then(() => {
        clearTimeout(t);
        reject(new Error(`hrmr exited before the log line; stderr: ${err}`));
      });
    });
  };
  const listening = await waitForLog((l) => l.msg === 'listening');
  return {
    port: listening.port as number,
    proc,
    dir,
    logs,
    stderr: () => err,
    writeModule: (name, source) => writeFileSync(join(dir, `${name}.mjs`), source),
    removeModule: (name) => rmSync(join(dir, `${name}.mjs`), { force: true }),
    waitForLog,
    exited,
    async kill() {
      if (proc.exitCode === null && proc.signalCode === null) {
        proc.kill('SIGKILL');
        await exited;
      }
      if (!o.dir) rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Runs the CLI to completion (for flag errors); resolves with code and output. */
export function runCli(args: string[], opts: { timeoutMs?: number; env?: Record<string, string>; cwd?: string } = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const p = spawn(process.execPath, [BIN, ...args], { cwd: opts.cwd ?? ROOT, env: { ...process.env, ...opts.env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d) => (stdout += d));
    p.stderr.on('data', (d) => (stderr += d));
    const t = setTimeout(() => p.kill('SIGKILL'), opts.timeoutMs ?? 10_000);
    p.on('exit', (code) => {
      clearTimeout(t);
      resolve({ code, stdout, stderr });
    });
  });
}

export function connect(port: number): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const s = net.connect({ port, host: '127.0.0.1' }, () => resolve(s));
    s.once('error', reject);
  });
}

/**
 * Sends `data` (optionally half-closing after) and collects everything until
 * the server closes. Rejects after `timeoutMs`.
 */
export async function exchange(port: number, data: string | Buffer | Array<string | Buffer>, o: { end?: boolean; timeoutMs?: number; gapMs?: number } = {}): Promise<string> {
  const s = await connect(port);
  const parts = Array.isArray(data) ? data : [data];
  const chunks: Buffer[] = [];
  const done = new Promise<string>((resolve, reject) => {
    const t = setTimeout(() => {
      s.destroy();
      reject(new Error(`no close within ${o.timeoutMs ?? 5000} ms; got ${JSON.stringify(Buffer.concat(chunks).toString())}`));
    }, o.timeoutMs ?? 5000);
    s.on('data', (d: Buffer) => chunks.push(d));
    s.on('error', () => undefined);
    s.on('close', () => {
      clearTimeout(t);
      resolve(Buffer.concat(chunks).toString('utf8'));
    });
  });
  for (let i = 0; i < parts.length; i++) {
    if (i > 0 && o.gapMs) await sleep(o.gapMs);
    s.write(parts[i]!);
  }
  if (o.end) s.end();
  return done;
}

/** A line-oriented client: send lines, read reply lines. */
export class LineClient {
  private buf = '';
  private readonly lines: string[] = [];
  private waiting: ((l: string | null) => void) | null = null;
  closed = false;
  private constructor(readonly socket: net.Socket) {
    socket.setEncoding('utf8');
    socket.on('data', (d: string) => {
      this.buf += d;
      let i;
      while ((i = this.buf.indexOf('\n')) >= 0) {
        this.lines.push(this.buf.slice(0, i));
        this.buf = this.buf.slice(i + 1);
      }
      this.flush();
    });
    socket.on('error', () => undefined);
    socket.on('close', () => {
      this.closed = true;
      this.flush();
    });
  }
  static async open(port: number): Promise<LineClient> {
    return new LineClient(await connect(port));
  }
  send(line: string): void {
    this.socket.write(line + '\n');
  }
  private flush(): void {
    if (!this.waiting) return;
    if (this.lines.length > 0) {
      const w = this.waiting;
      this.waiting = null;
      w(this.lines.shift()!);
    } else if (this.closed) {
      const w = this.waiting;
      this.waiting = null;
      w(null);
    }
  }
  /** Next line, or null once the server closed. */
  read(timeoutMs = 15_000): Promise<string | null> {
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => {
        this.waiting = null;
        reject(new Error(`no line within ${timeoutMs} ms`));
      }, timeoutMs);
      this.waiting = (l) => {
        clearTimeout(t);
        resolve(l);
      };
      this.flush();
    });
  }
  async request(line: string, timeoutMs?: number): Promise<string | null> {
    this.send(line);
    return this.read(timeoutMs);
  }
  close(): void {
    this.socket.destroy();
  }
}

/** Sends one admin command on a fresh connection and returns the reply line. */
export async function admin(port: number, command: string, timeoutMs = 15_000): Promise<string> {
  const c = await LineClient.open(port);
  try {
    const r = await c.request(command, timeoutMs);
    return r ?? '(closed)';
  } finally {
    c.close();
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Polls `pred` until it returns a truthy value or `timeoutMs` passes (then rejects with `what`). */
export async function waitUntil<T>(pred: () => T | Promise<T>, what: string, timeoutMs = 10_000): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await pred();
    if (v) return v as NonNullable<T>;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(15);
  }
}
