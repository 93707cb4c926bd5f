// SPDX-License-Identifier: LGPL-3.0-or-later
/**
 * Small HTTP/1.1 helpers for the http module tests: a node:http request that
 * keeps bodies raw (no decompression, no path normalization), and a parser
 * for raw response bytes (Content-Length bodies only, which is all the http
 * module sends) so pipelined and malformed exchanges can be checked byte for byte.
 */
import http from 'node:http';

export interface HttpReply {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
}

export function request(port: number, path: string, o: { method?: string; headers?: Record<string, string>; timeoutMs?: number } = {}): Promise<HttpReply> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, path, method: o.method ?? 'GET', headers: o.headers, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (d: Buffer) => chunks.push(d));
      res.on('end', () => {
        clearTimeout(t);
        resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks) });
      });
      res.on('error', reject);
    });
    const t = setTimeout(() => req.destroy(new Error(`no answer within ${o.timeoutMs ?? 5000} ms for ${path}`)), o.timeoutMs ?? 5000);
    req.on('error', (err) => {
      clearTimeout(t);
      reject(err);
    });
    req.end();
  });
}

export interface RawResponse {
  version: string;
  status: number;
  headers: Map<string, string>;
  body: Buffer;
}

/** Parses consecutive responses from `buf`. `noBody[i]`: the i-th answers a HEAD (no body whatever Content-Length says). */
export function parseResponses(buf: Buffer, noBody: boolean[] = []): RawResponse[] {
  const out: RawResponse[] = [];
  let at = 0;
  while (at < buf.length) {
    const end = buf.indexOf('\r\n\r\n', at);
    if (end < 0) throw new Error(`incomplete head: ${JSON.stringify(buf.subarray(at).toString('latin1').slice(0, 200))}`);
    const lines = buf.subarray(at, end).toString('latin1').split('\r\n');
    const m = /^(HTTP\/\d\.\d) (\d{3})/.exec(lines[0]!);
    if (!m) throw new Error(`bad status line: ${JSON.stringify(lines[0])}`);
    const headers = new Map<string, string>();
    for (const l of lines.slice(1)) {
      const i = l.indexOf(':');
      headers.set(l.slice(0, i).trim().toLowerCase(), l.slice(i + 1).trim());
    }
    const status = Number(m[2]);
    const len = noBody[out.length] || status === 304 || status === 204 ? 0 : Number(headers.get('content-length') ?? 0);
    const body = buf.subarray(end + 4, end + 4 + len);
    if (body.length < len) throw new Error(`short body: ${body.length} of ${len}`);
    out.push({ version: m[1]!, status, headers, body });
    at = end + 4 + len;
  }
  return out;
}
