// SPDX-License-Identifier: LGPL-3.0-or-later
/** A small HTTP client for the relay tests: any method, a body, raw headers, a deadline. */
import http from 'node:http';

export interface RelayReply {
  status: number;
  /** Header names lower-cased. */
  headers: http.IncomingHttpHeaders;
  /** Header names as sent, in order. */
  rawNames: string[];
  body: Buffer;
  text: string;
}

export interface RelayRequestOptions {
  method?: string;
  headers?: Record<string, string>;
  body?: string | Buffer;
  timeoutMs?: number;
  agent?: http.Agent | false;
}

export function relayRequest(port: number, path: string, o: RelayRequestOptions = {}): Promise<RelayReply> {
  const timeoutMs = o.timeoutMs ?? 10_000;
  return new Promise((resolve, reject) => {
    const headers: Record<string, string | number> = { ...o.headers };
    if (o.body !== undefined && headers['Content-Length'] === undefined && headers['Transfer-Encoding'] === undefined) headers['Content-Length'] = Buffer.byteLength(o.body);
    const req = http.request({ host: '127.0.0.1', port, path, method: o.method ?? 'GET', headers, agent: o.agent ?? false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (d: Buffer) => chunks.push(d));
      res.on('end', () => {
        clearTimeout(t);
        const body = Buffer.concat(chunks);
        resolve({ status: res.statusCode!, headers: res.headers, rawNames: res.rawHeaders.filter((_, i) => i % 2 === 0), body, text: body.toString('utf8') });
      });
      res.on('error', reject);
    });
    const t = setTimeout(() => req.destroy(new Error(`no answer within ${timeoutMs} ms for ${o.method ?? 'GET'} ${path}`)), timeoutMs);
    req.on('error', (err) => {
      clearTimeout(t);
      reject(err);
    });
    req.end(o.body);
  });
}

/** Shorthands bound to one port. */
export function relayClient(port: number, base = '') {
  const r = (method: string, path: string, o: RelayRequestOptions = {}): Promise<RelayReply> => relayRequest(port, base + path, { ...o, method });
  return {
    get: (path: string, o?: RelayRequestOptions) => r('GET', path, o),
    post: (path: string, body: string | Buffer, o: RelayRequestOptions = {}) => r('POST', path, { ...o, body }),
    del: (path: string, o?: RelayRequestOptions) => r('DELETE', path, o),
    options: (path: string, o?: RelayRequestOptions) => r('OPTIONS', path, o),
    req: r,
  };
}

export type RelayClient = ReturnType<typeof relayClient>;
