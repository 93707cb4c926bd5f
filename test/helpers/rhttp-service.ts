// SPDX-License-Identifier: LGPL-3.0-or-later
/**
 * An RHTTP service for the rhttp tests, speaking the channels over a real
 * Redis connection the way `rhttp_node` does (see shared/specs/rhttp.md):
 * subscribes to REQUEST_PIPE and HEARTBEAT; answers every BEAT with
 * `name\x0Edescription` on ACKNOWLEDGE_PIPE; splits a request on `\r\n`,
 * takes `METHOD PATH` from the first line, splits each header line on `:`
 * (a value is cut at its first `:`) and trims, concatenates the body lines
 * without their CRLFs; matches method and whole path (query included) for
 * equality; publishes `HTTP/1.1 CODE TEXT`, `Content-Length` (string length),
 * `X-RES-SERVER`, `Content-Type`, `X-Socket-ID` copied from the request,
 * blank line, body on RESPONSE_PIPE; or the id alone on REJECT_PIPE when it
 * has no endpoint (or the handler returns '').
 */
import { STATUS_CODES } from 'node:http';
import { Redis } from 'ioredis';

export interface ServiceRequest {
  method: string;
  path: string;
  headers: Record<string, string>;
  body: string;
  /** The text as received on REQUEST_PIPE. */
  raw: string;
}

export interface ServiceReply {
  status?: number;
  type?: string;
  body: string;
  /** Extra headers, written after the standard ones. */
  headers?: Record<string, string>;
}

/** Routes are keyed `METHOD PATH` (whole path, query included, as rhttp_node compares); `'*'` takes any other request. */
/** A handler returns the reply, '' (reject, as rhttp_node), or `null` to never answer (a hung service). */
export type Handler = (req: ServiceRequest) => ServiceReply | '' | null | Promise<ServiceReply | '' | null>;

export interface Service {
  readonly name: string;
  /** Every request received (parsed), in order. */
  readonly received: ServiceRequest[];
  /** Ids this service rejected. */
  readonly rejected: string[];
  /** Acknowledgements sent so far. */
  acks: number;
  /** Set false to stop answering BEATs (the service looks dead to the gateway). */
  acking: boolean;
  /** Resolves once the service has acknowledged at least one BEAT. */
  acked(timeoutMs?: number): Promise<void>;
  /** Publishes raw text on RESPONSE_PIPE (for malformed or late responses). */
  publishRaw(channel: string, text: string | Buffer): Promise<number>;
  stop(): Promise<void>;
}

/** rhttp_node's parse of the request text. */
export function parseLikeRhttpNode(text: string): ServiceRequest {
  const lines = text.split('\r\n');
  const [method = '', path = ''] = lines[0]!.split(' ');
  const headers: Record<string, string> = {};
  let i = 1;
  for (; i < lines.length; i++) {
    const line = lines[i]!;
    if (line === '') break;
    const parts = line.split(':');
    headers[parts[0]!.trim()] = (parts[1] ?? '').trim();
  }
  const body = lines.slice(i + 1).join('');
  return { method, path, headers, body, raw: text };
}

export function formatLikeRhttpNode(name: string, id: string, r: ServiceReply): string {
  const status = r.status ?? 200;
  let head = `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? 'Unknown'}\r\nContent-Length: ${r.body.length}\r\nX-RES-SERVER: ${name}\r\nContent-Type: ${r.type ?? 'application/json'}\r\n`;
  for (const [k, v] of Object.entries(r.headers ?? {})) head += `${k}: ${v}\r\n`;
  return `${head}X-Socket-ID: ${id}\r\n\r\n${r.body}`;
}

export async function startService(url: string, name: string, routes: Record<string, Handler>, description = 'NODEJS'): Promise<Service> {
  const sub = new Redis(url, { maxRetriesPerRequest: null, retryStrategy: (n) => Math.min(n * 50, 500) });
  const pub = new Redis(url, { maxRetriesPerRequest: null, retryStrategy: (n) => Math.min(n * 50, 500) });
  sub.on('error', () => undefined);
  pub.on('error', () => undefined);
  const ackWaiters: Array<() => void> = [];
  const svc: Service = {
    name,
    received: [],
    rejected: [],
    acks: 0,
    acking: true,
    acked(timeoutMs = 10_000) {
      if (svc.acks > 0) return Promise.resolve();
      return new Promise((resolve, reject) => {
        const t = setTimeout(() => reject(new Error(`service ${name} saw no BEAT within ${timeoutMs} ms`)), timeoutMs);
        ackWaiters.push(() => (clearTimeout(t), resolve()));
      });
    },
    publishRaw: (channel, text) => pub.publish(channel, text),
    async stop() {
      sub.disconnect();
      pub.disconnect();
    },
  };
  sub.on('message', (channel: string, text: string) => {
    if (channel === 'HEARTBEAT') {
      if (text !== 'BEAT' || !svc.acking) return;
      void pub.publish('ACKNOWLEDGE_PIPE', `${name}\u000e${description}`).then(() => {
        svc.acks++;
        for (const w of ackWaiters.splice(0)) w();
      });
      return;
    }
    if (channel !== 'REQUEST_PIPE') return;
    const req = parseLikeRhttpNode(text);
    svc.received.push(req);
    const id = req.headers['X-Socket-ID'] ?? '';
    const handler = routes[`${req.method} ${req.path}`] ?? routes['*'];
    void (async () => {
      const out = handler ? await handler(req) : '';
      if (out === null) return;
      if (out === '') {
        svc.rejected.push(id);
        await pub.publish('REJECT_PIPE', id);
        return;
      }
      await pub.publish('RESPONSE_PIPE', formatLikeRhttpNode(name, id, out));
    })();
  });
  await sub.subscribe('REQUEST_PIPE', 'HEARTBEAT');
  await pub.ping();
  return svc;
}
