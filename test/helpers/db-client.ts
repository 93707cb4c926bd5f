// SPDX-License-Identifier: LGPL-3.0-or-later
/** Clients for the db module in tests: JSON over HTTP (keep-alive) and the `DB ` line protocol. */
import http from 'node:http';
import { LineClient } from './hrmr.ts';

export interface DbReply {
  status: number;
  headers: http.IncomingHttpHeaders;
  text: string;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  json: any;
}

const agent = new http.Agent({ keepAlive: true, maxSockets: 64 });

/** POST {mount}{op} with a JSON body (an object is stringified, a string sent as is). */
export function dbPost(port: number, path: string, body: unknown, o: { token?: string; method?: string; timeoutMs?: number } = {}): Promise<DbReply> {
  const data = typeof body === 'string' ? body : JSON.stringify(body);
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(data)) };
    if (o.token !== undefined) headers.authorization = `Bearer ${o.token}`;
    const req = http.request({ host: '127.0.0.1', port, path, method: o.method ?? 'POST', headers, agent }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (d: Buffer) => chunks.push(d));
      res.on('end', () => {
        clearTimeout(t);
        const text = Buffer.concat(chunks).toString('utf8');
        let json: unknown = undefined;
        try {
          json = JSON.parse(text);
        } catch {
          /* not JSON (a core 503/504 text answer) */
        }
        resolve({ status: res.statusCode!, headers: res.headers, text, json });
      });
      res.on('error', reject);
    });
    const t = setTimeout(() => req.destroy(new Error(`no answer within ${o.timeoutMs ?? 15_000} ms for ${path}`)), o.timeoutMs ?? 15_000);
    req.on('error', (err) => {
      clearTimeout(t);
      reject(err);
    });
    req.end(data);
  });
}

export const query = (port: number, sql: string, params?: unknown, o: { token?: string; rowMode?: string; mount?: string } = {}): Promise<DbReply> =>
  dbPost(port, `${o.mount ?? '/db/'}query`, { sql, ...(params === undefined ? {} : { params }), ...(o.rowMode ? { rowMode: o.rowMode } : {}) }, o);

export const batch = (port: number, statements: Array<{ sql: string; params?: unknown }>, o: { token?: string } = {}): Promise<DbReply> => dbPost(port, '/db/batch', { statements }, o);

/** Ends the shared keep-alive sockets (call in `after`). */
export function closeAgent(): void {
  agent.destroy();
}

/** A line-protocol connection. */
export class DbLine {
  private constructor(readonly c: LineClient) {}
  static async open(port: number): Promise<DbLine> {
    return new DbLine(await LineClient.open(port));
  }
  send(line: string): void {
    this.c.send(line);
  }
  read(timeoutMs = 15_000): Promise<string | null> {
    return this.c.read(timeoutMs);
  }
  async request(line: string, timeoutMs?: number): Promise<string | null> {
    return this.c.request(line, timeoutMs);
  }
  /** `DB {json}` and the parsed reply: `{ok: true, value}` or `{ok: false, code, message}`. */
  async query(sql: string, params?: unknown): Promise<{ ok: boolean; value?: any; code?: string; message?: string; raw: string | null }> {
    const raw = await this.request(`DB ${JSON.stringify({ sql, ...(params === undefined ? {} : { params }) })}`);
    return parseLine(raw);
  }
  close(): void {
    this.c.close();
  }
  get closed(): boolean {
    return this.c.closed;
  }
}

export function parseLine(raw: string | null): { ok: boolean; value?: any; code?: string; message?: string; raw: string | null } {
  if (raw === null) return { ok: false, code: 'closed', raw };
  if (raw.startsWith('OK ')) return { ok: true, value: JSON.parse(raw.slice(3)), raw };
  const m = /^ERR (\S+) ?(.*)$/.exec(raw);
  return m ? { ok: false, code: m[1], message: m[2], raw } : { ok: false, code: 'garbled', raw };
}
