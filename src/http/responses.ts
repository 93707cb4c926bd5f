// SPDX-License-Identifier: LGPL-3.0-or-later
/** The short answers the HTTP host writes itself (404, 405, 413, 503, 504, 500, and client errors). */
import { STATUS_CODES, type ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import { bodyFor } from '../../shared/status-body.ts';

export const TEXT_PLAIN = 'text/plain; charset=utf-8';

export { bodyFor };

/**
 * A text answer on a live request. The connection stays open when the
 * request allows it, unless `close` is set (an unread body we will not drain).
 */
export function answer(res: ServerResponse, status: number, extra: readonly string[] | null = null, close = false): void {
  if (res.headersSent || res.destroyed) {
    res.destroy();
    return;
  }
  const body = bodyFor(status);
  const h: string[] = ['Content-Type', TEXT_PLAIN, 'Content-Length', String(body.length)];
  if (extra !== null) h.push(...extra);
  if (close) res.shouldKeepAlive = false;
  res.writeHead(status, h);
  res.end(res.req.method === 'HEAD' ? undefined : body);
}

/** A whole response written on a raw socket, then the connection is closed (upgrade refusals, parse errors). */
export function answerRaw(socket: Duplex, status: number, extra: readonly string[] = [], lingerMs = 2000): void {
  const body = bodyFor(status);
  let head = `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? ''}\r\nContent-Type: ${TEXT_PLAIN}\r\nContent-Length: ${body.length}\r\n`;
  for (let i = 0; i < extra.length; i += 2) head += `${extra[i]}: ${extra[i + 1]}\r\n`;
  head += 'Connection: close\r\n\r\n';
  socket.end(head + body.toString('latin1'));
  // Do not wait forever for the peer to close its side.
  const s = socket as Duplex & { setTimeout?: (ms: number, cb: () => void) => void };
  s.setTimeout?.(lingerMs, () => socket.destroy());
}
