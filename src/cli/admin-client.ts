// SPDX-License-Identifier: LGPL-3.0-or-later
/**
 * The admin client behind `hrmr reload|status|shutdown`: one connection, an
 * optional `AUTH <token>`, one command, one reply line.
 */
import net from 'node:net';

/** Exit statuses: the server said OK, the server said ERR (or something else), nothing answered. */
export const EXIT_OK = 0,
  EXIT_ERR = 1,
  EXIT_NO_ANSWER = 2;

export interface AdminRequest {
  host: string;
  port: number;
  command: 'RELOAD' | 'STATUS' | 'SHUTDOWN';
  token: string | null;
  timeoutMs: number;
}

export interface AdminResult {
  /** The reply line (without `\n`), or null when nothing answered. */
  reply: string | null;
  /** Why nothing answered (when reply is null). */
  problem: string | null;
  exitCode: number;
}

/** The exit status for a reply line. */
export function exitCodeFor(reply: string | null): number {
  if (reply === null) return EXIT_NO_ANSWER;
  return /^OK(?:\s|$)/.test(reply) ? EXIT_OK : EXIT_ERR;
}

/** Sends one admin command and resolves with the reply. Never rejects. */
export function sendAdminCommand(r: AdminRequest): Promise<AdminResult> {
  return new Promise((resolve) => {
    const lines = [...(r.token !== null ? [`AUTH ${r.token}`] : []), r.command];
    let buf = '';
    let done = false;
    const socket = net.connect({ host: r.host, port: r.port });
    const finish = (reply: string | null, problem: string | null): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      socket.destroy();
      resolve({ reply, problem, exitCode: exitCodeFor(reply) });
    };
    const timer = setTimeout(() => finish(null, `no reply from ${r.host}:${r.port} within ${r.timeoutMs} ms`), r.timeoutMs);
    socket.setEncoding('utf8');
    socket.setNoDelay(true);
    socket.on('connect', () => socket.write(`${lines.shift()}\n`));
    socket.on('data', (d: string) => {
      buf += d;
      let i;
      while ((i = buf.indexOf('\n')) >= 0 && !done) {
        const line = buf.slice(0, i).replace(/\r$/, '');
        buf = buf.slice(i + 1);
        const next = lines.shift();
        // AUTH answered: anything but OK is the final reply; OK sends the command.
        if (next !== undefined && exitCodeFor(line) === EXIT_OK) socket.write(`${next}\n`);
        else finish(line, null);
      }
    });
    socket.on('error', (err: NodeJS.ErrnoException) => finish(null, `cannot reach ${r.host}:${r.port}: ${err.code ?? err.message}`));
    socket.on('close', () => {
      // A last line without its newline still counts as the reply.
      if (buf.trim() !== '' && lines.length === 0) finish(buf.replace(/\r$/, ''), null);
      else finish(null, `${r.host}:${r.port} closed the connection without a reply`);
    });
  });
}
