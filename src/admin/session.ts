// SPDX-License-Identifier: LGPL-3.0-or-later
/**
 * An admin session: every line is a command, each reply one line starting
 * with OK or ERR. Commands run one at a time, in order (RELOAD replies only
 * when done).
 */
import { timingSafeEqual } from 'node:crypto';
import type { Socket } from 'node:net';
import { LineFramer, LineTooLongError } from '../router/line-framer.ts';
import type { ReloadReport } from '../modules/registry.ts';
import { endWith } from '../router/responses.ts';
import { ADMIN_FIRST_COMMAND_MS, MAX_AUTH_FAILURES, type ConnectionGuard } from './guard.ts';

export interface AdminControl {
  reload(): Promise<ReloadReport>;
  /** Optional: the whole RELOAD reply line (the `--workers` agent answers for every worker). */
  reloadLine?(): Promise<string>;
  /** A JSON-able value, or a promise of one. */
  status(): unknown;
  /** Starts a graceful shutdown; resolves when it has begun. */
  shutdown(reason: string): void;
  readonly adminToken: string | null;
}

export function isLoopback(address: string | undefined): boolean {
  if (!address) return false;
  return address === '::1' || address.startsWith('127.') || address.startsWith('::ffff:127.');
}

export function formatReload(r: ReloadReport): string {
  if (!r.ok) {
    // Every failure and every conflict, so one line tells the whole story.
    const conflicts = r.conflicts.length ? `; conflicts: ${r.conflicts.join('; ')}` : '';
    if (r.failed.length === 0) return `ERR reload refused ${r.refused.length} route${r.refused.length === 1 ? '' : 's'}: ${r.refused.join('; ')}`;
    // By module name: loads finish in any order, the reply reads the same every time.
    const why = [...r.failed].sort((a, b) => (a.module < b.module ? -1 : a.module > b.module ? 1 : 0)).map((f) => `${f.module}: ${f.error.replace(/[\r\n]+/g, ' ')}`).join('; ');
    return `ERR reload failed for ${r.failed.length} module${r.failed.length === 1 ? '' : 's'}: ${why}${conflicts}`;
  }
  const base = `OK reloaded ${r.modules} modules in ${r.ms} ms`;
  return r.conflicts.length ? `${base}; conflicts: ${r.conflicts.join('; ')}` : base;
}

/** Commands queued at most before the session stops reading (back-pressure for clients that never read replies). */
const MAX_QUEUED = 64;

export class AdminSession {
  private readonly framer = new LineFramer(4096);
  private readonly lines: string[] = [];
  private running = false;
  private authorized: boolean;
  private closed = false;
  /** Reading stopped: too many commands queued or the replies are not being read. */
  private paused = false;
  /** Wrong AUTH tokens sent on this connection. */
  private authFailures = 0;
  /**
   * Runs until a command has completed with the session authorized
   * (ADMIN_FIRST_COMMAND_MS); then --idle-timeout takes over. In the reserve
   * (accepted over --max-connections) the first command must authorize it.
   */
  private firstCommandTimer: NodeJS.Timeout | null = null;
  /** The first-command time ran out while a command was running: decided when it completes. */
  private expired = false;

  constructor(
    private readonly socket: Socket,
    private readonly control: AdminControl,
    private readonly guard: ConnectionGuard | null = null,
    private readonly reserve = false,
    /** --idle-timeout (0 = off): applies once the session is authorized, and never while a command runs. */
    private readonly idleMs = 0,
  ) {
    this.authorized = control.adminToken === null && isLoopback(socket.remoteAddress);
  }

  start(initial: Buffer | null, ended: boolean): void {
    this.socket.on('close', () => {
      this.closed = true;
      if (this.firstCommandTimer) clearTimeout(this.firstCommandTimer);
    });
    // Not held by a client that never finishes (or never authorizes with) a command.
    this.firstCommandTimer = setTimeout(() => {
      if (this.closed) return;
      if (this.running) this.expired = true;
      else this.timedOut();
    }, ADMIN_FIRST_COMMAND_MS);
    if (initial) this.onData(initial);
    if (ended) this.onEnd();
    else {
      this.socket.on('data', (c: Buffer) => this.onData(c));
      this.socket.on('end', () => this.onEnd());
      if (!this.paused) this.socket.resume();
    }
  }

  private onData(chunk: Buffer): void {
    try {
      this.framer.push(chunk, (line) => {
        this.lines.push(line.toString('utf8'));
      });
    } catch (err) {
      if (err instanceof LineTooLongError) {
        this.closed = true;
        endWith(this.socket, Buffer.from('ERR line too long\n'));
      }
      return;
    }
    if (this.lines.length >= MAX_QUEUED && !this.paused) {
      this.paused = true;
      this.socket.pause();
    }
    void this.pump();
  }

  private onEnd(): void {
    this.lines.push('\u0000end');
    void this.pump();
  }

  private async pump(): Promise<void> {
    if (this.running) return;
    this.running = true;
    while (this.lines.length > 0 && !this.closed) {
      const line = this.lines.shift()!;
      if (line === '\u0000end') {
        this.socket.end();
        break;
      }
      const cmd = line.trim();
      if (cmd === '') continue;
      const idle = this.idleMs > 0 && this.firstCommandTimer === null;
      // A command that takes long (RELOAD) is not idleness.
      if (idle) this.socket.setTimeout(0);
      const stop = await this.run(cmd);
      if (stop) break;
      if (idle) this.socket.setTimeout(this.idleMs);
      if (this.firstCommandTimer) {
        if (this.authorized) {
          clearTimeout(this.firstCommandTimer);
          this.firstCommandTimer = null;
          if (this.idleMs > 0) {
            this.socket.on('timeout', onIdle);
            this.socket.setTimeout(this.idleMs);
          }
        } else if (this.reserve) {
          // Over the connection limit only an authorized operator may stay.
          clearTimeout(this.firstCommandTimer);
          this.firstCommandTimer = null;
          this.closed = true;
          endWith(this.socket, Buffer.alloc(0));
          break;
        } else if (this.expired) {
          this.timedOut();
          break;
        }
      }
      // A client that does not read its replies: wait instead of buffering them without bound.
      if (this.socket.writableNeedDrain) await this.drained();
    }
    this.running = false;
    if (this.paused && !this.closed) {
      this.paused = false;
      this.socket.resume();
    }
  }

  /** The first-command time is up (see firstCommandTimer). */
  private timedOut(): void {
    if (this.closed) return;
    this.closed = true;
    this.firstCommandTimer = null;
    // The reserve's refusal is `ERR busy` (a slot it could not keep); any other session's `ERR timeout`.
    endWith(this.socket, Buffer.from(this.reserve ? 'ERR busy\n' : 'ERR timeout\n'));
  }

  private drained(): Promise<void> {
    return new Promise((resolve) => {
      const done = (): void => {
        this.socket.removeListener('drain', done);
        this.socket.removeListener('close', done);
        resolve();
      };
      this.socket.on('drain', done);
      this.socket.on('close', done);
    });
  }

  /** Runs one command; true when the session is over. */
  private async run(line: string): Promise<boolean> {
    if (line === '') return false;
    const sp = line.indexOf(' ');
    const cmd = (sp < 0 ? line : line.slice(0, sp)).toUpperCase();
    const arg = sp < 0 ? '' : line.slice(sp + 1).trim();
    if (cmd === 'AUTH') {
      const token = this.control.adminToken;
      if (token === null) {
        // Say so: a client that thinks it proved a token should learn none is checked.
        if (this.authorized) return this.reply('OK (no token is configured)');
        return this.reply('ERR forbidden', true);
      }
      if (safeEqual(arg, token)) {
        this.authorized = true;
        return this.reply('OK');
      }
      // No unlimited guessing: every failure is logged and counted, the third closes the connection.
      this.authFailures++;
      this.guard?.authFailed(peerOf(this.socket), this.authFailures);
      return this.reply('ERR forbidden', this.authFailures >= MAX_AUTH_FAILURES);
    }
    if (!this.authorized) {
      // Without a token there is no way to become authorized: end the session.
      return this.reply('ERR forbidden', this.control.adminToken === null);
    }
    switch (cmd) {
      case 'RELOAD': {
        if (this.control.reloadLine) return this.reply(await this.control.reloadLine());
        const report = await this.control.reload();
        return this.reply(formatReload(report));
      }
      case 'STATUS':
        return this.reply(`OK ${JSON.stringify(withGuard(await this.control.status(), this.guard))}`);
      case 'CLOSE':
        return this.reply('OK bye', true);
      case 'SHUTDOWN':
        this.reply('OK shutting down', true);
        this.control.shutdown('SHUTDOWN command');
        return true;
      default:
        return this.reply(`ERR unknown command ${JSON.stringify(cmd.slice(0, 64))} (RELOAD, STATUS, CLOSE, SHUTDOWN, AUTH)`);
    }
  }

  private reply(text: string, end = false): boolean {
    if (this.closed) return true;
    if (end) {
      // Nothing more is run on this session; whatever the client still sends is discarded until it closes.
      this.closed = true;
      endWith(this.socket, Buffer.from(text + '\n'));
    } else this.socket.write(text + '\n');
    return end;
  }
}

function onIdle(this: Socket): void {
  this.destroy();
}

function safeEqual(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

function peerOf(socket: Socket): string {
  const a = socket.remoteAddress ?? '?';
  return a.includes(':') ? `[${a}]:${socket.remotePort}` : `${a}:${socket.remotePort}`;
}

/** STATUS with this process's admin and over-limit counters (authFailures, adminReserve, overLimit). */
function withGuard(status: unknown, guard: ConnectionGuard | null): unknown {
  if (guard === null || status === null || typeof status !== 'object' || Array.isArray(status)) return status;
  return { ...(status as Record<string, unknown>), ...guard.stats() };
}
