// SPDX-License-Identifier: LGPL-3.0-or-later
/**
 * HTTP client calls for the rhttp tests: one request on a fresh connection
 * (or on a given keep-alive agent), with a body, raw body bytes back, and a
 * deadline; plus a raw keep-alive connection to check that several requests
 * share one socket.
 */
import http from 'node:http';
import net from 'node:net';
import { parseResponses, type RawResponse } from './http-client.ts';

export interface Reply {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
  text: string;
}

export function call(port: number, method: string, path: string, o: { body?: string | Buffer; headers?: Record<string, string>; timeoutMs?: number; agent?: http.Agent } = {}): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, path, method, headers: o.headers, agent: o.agent ?? false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (d: Buffer) => chunks.push(d));
      res.on('end', () => {
        clearTimeout(t);
        const body = Buffer.concat(chunks);
        resolve({ status: res.statusCode!, headers: res.headers, body, text: body.toString('utf8') });
      });
      res.on('error', reject);
    });
    const t = setTimeout(() => req.destroy(new Error(`no answer within ${o.timeoutMs ?? 10_000} ms for ${method} ${path}`)), o.timeoutMs ?? 10_000);
    req.on('error', (err) => {
      clearTimeout(t);
      reject(err);
    });
    if (o.body !== undefined) req.end(o.body);
    else req.end();
  });
}

/** One raw TCP connection: send a request's bytes, read exactly one response (Content-Length bodies). */
export class RawConnection {
  private buf = Buffer.alloc(0);
  private wake: (() => void) | null = null;
  closed = false;
  private constructor(readonly socket: net.Socket) {
    socket.on('data', (d: Buffer) => {
      this.buf = Buffer.concat([this.buf, d]);
      this.wake?.();
    });
    socket.on('error', () => undefined);
    socket.on('close', () => {
      this.closed = true;
      this.wake?.();
    });
  }
  static open(port: number): Promise<RawConnection> {
    return new Promise((resolve, reject) => {
      const s = net.connect({ port, host: '127.0.0.1' }, () => resolve(new RawConnection(s)));
      s.once('error', reject);
    });
  }
  /** Sends `text` and resolves with the next complete response. */
  async exchange(text: string, timeoutMs = 10_000): Promise<RawResponse> {
    this.socket.write(text);
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const end = this.buf.indexOf('\r\n\r\n');
      if (end >= 0) {
        const m = /\r\ncontent-length: *(\d+)/i.exec(this.buf.subarray(0, end).toString('latin1'));
        const total = end + 4 + (m ? Number(m[1]) : 0);
        if (this.buf.length >= total) {
          const one = this.buf.subarray(0, total);
          this.buf = this.buf.subarray(total);
          return parseResponses(one)[0]!;
        }
      }
      if (this.closed) throw new Error(`connection closed; got ${JSON.stringify(this.buf.toString('latin1').slice(0, 300))}`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error('no complete response in time');
      await new Promise<void>((r) => {
        const t = setTimeout(r, left);
        this.wake = () => (clearTimeout(t), (this.wake = null), r());
      });
    }
  }
  close(): void {
    this.socket.destroy();
  }
}

/** RFC 9110 5.6.7 IMF-fixdate. */
export const IMF_FIXDATE = /^(Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d{2} (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) \d{4} \d{2}:\d{2}:\d{2} GMT$/;
