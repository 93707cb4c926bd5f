// SPDX-License-Identifier: LGPL-3.0-or-later
/** A WebSocket client for lhttp tests (the `ws` package): send frames, await frames with deadlines. */
import http from 'node:http';
import WebSocket from 'ws';
import { admin } from './hrmr.ts';

export class LhttpClient {
  readonly frames: string[] = [];
  private waiter: (() => void) | null = null;
  closeCode: number | null = null;
  closed: Promise<number>;

  private constructor(readonly ws: WebSocket) {
    ws.on('message', (d: Buffer) => {
      this.frames.push(d.toString('utf8'));
      this.waiter?.();
    });
    ws.on('error', () => undefined);
    this.closed = new Promise((resolve) =>
      ws.on('close', (code: number) => {
        this.closeCode = code;
        this.waiter?.();
        resolve(code);
      }),
    );
  }

  static open(port: number, path = '/lhttp', headers: Record<string, string> = {}, timeoutMs = 10_000): Promise<LhttpClient> {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(`ws://127.0.0.1:${port}${path}`, { headers, maxPayload: 64 * 1024 * 1024 });
      const t = setTimeout(() => (ws.terminate(), reject(new Error(`no WebSocket open within ${timeoutMs} ms`))), timeoutMs);
      ws.once('open', () => (clearTimeout(t), resolve(new LhttpClient(ws))));
      ws.once('unexpected-response', (_req, res) => (clearTimeout(t), reject(new Error(`handshake answered ${res.statusCode}`))));
      ws.once('error', (err) => (clearTimeout(t), reject(err)));
    });
  }

  send(frame: string | Buffer, binary = false): void {
    this.ws.send(frame, { binary });
  }

  /** The next frame (in order), or throws after the deadline or if the connection closes first. */
  async next(timeoutMs = 10_000): Promise<string> {
    const deadline = Date.now() + timeoutMs;
    while (this.frames.length === 0) {
      if (this.closeCode !== null) throw new Error(`connection closed (${this.closeCode}) while waiting for a frame`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no frame within ${timeoutMs} ms`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.waiter = () => (clearTimeout(t), (this.waiter = null), resolve());
      });
    }
    return this.frames.shift()!;
  }

  /** Waits until `n` frames are queued (without taking them). */
  async waitFrames(n: number, timeoutMs = 20_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (this.frames.length < n) {
      if (this.closeCode !== null) throw new Error(`connection closed (${this.closeCode}) with ${this.frames.length} of ${n} frames`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`${this.frames.length} of ${n} frames within ${timeoutMs} ms`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.waiter = () => (clearTimeout(t), (this.waiter = null), resolve());
      });
    }
  }

  async waitClose(timeoutMs = 10_000): Promise<number> {
    let t: NodeJS.Timeout | undefined;
    try {
      return await Promise.race([this.closed, new Promise<number>((_, reject) => (t = setTimeout(() => reject(new Error(`not closed within ${timeoutMs} ms`)), timeoutMs)))]);
    } finally {
      clearTimeout(t);
    }
  }

  close(): void {
    this.ws.terminate();
  }
}

/** An lhttp frame. */
export function frame(command: string, headers: Array<[string, string]> | Record<string, string>, body = ''): string {
  const list = Array.isArray(headers) ? headers : Object.entries(headers);
  return `LHTTP/1.0 ${command}\r\n${list.map(([k, v]) => `${k}:${v}\r\n`).join('')}\r\n${body}`;
}

/** Parses a received frame into command, header map (for order-free comparison) and body. */
export function parseFrame(s: string): { command: string; headers: Record<string, string>; body: string } {
  const blank = s.indexOf('\r\n\r\n');
  const head = blank < 0 ? s : s.slice(0, blank);
  const lines = head.split('\r\n');
  const headers: Record<string, string> = {};
  for (const l of lines.slice(1)) {
    const i = l.indexOf(':');
    headers[l.slice(0, i)] = l.slice(i + 1);
  }
  return { command: lines[0]!.slice('LHTTP/1.0 '.length), headers, body: blank < 0 ? '' : s.slice(blank + 4) };
}

/** The lhttp module's status() as STATUS shows it. */
export async function lhttpStatus(port: number, module = 'lhttp'): Promise<Record<string, any>> {
  const line = await admin(port, 'STATUS');
  if (!line.startsWith('OK ')) throw new Error(`STATUS: ${line}`);
  const s = JSON.parse(line.slice(3)) as { modules: Array<{ name: string; status?: unknown }> };
  const m = s.modules.find((x) => x.name === module);
  if (!m) throw new Error(`STATUS has no module ${module}`);
  return m.status as Record<string, any>;
}

/** Opens `n` clients subscribed to `channels` (the subscription confirmed by a marker publish on a private channel). */
export async function subscribed(port: number, channels: string, n = 1, path = '/lhttp'): Promise<LhttpClient[]> {
  const out: LhttpClient[] = [];
  for (let i = 0; i < n; i++) {
    const c = await LhttpClient.open(port, path);
    await sync(c, channels);
    out.push(c);
  }
  return out;
}

let syncN = 0;
/**
 * Subscribes (optionally) and waits until the server has acted on it: the
 * client subscribes to a private channel in the same frame and publishes a
 * marker to it in the next; frames are handled in order.
 */
export async function sync(c: LhttpClient, channels = ''): Promise<void> {
  const priv = `sync.${process.pid}.${++syncN}`;
  c.send(frame('sync', { subscribe: channels ? `${channels} ${priv}` : priv }));
  c.send(frame('sync', { publish: priv }, 'marker'));
  const got = await c.next();
  if (!got.includes('marker')) throw new Error(`expected the sync marker, got ${JSON.stringify(got)}`);
  c.send(frame('sync', { unsubscribe: priv }));
}

/** An HTTP request with a body; resolves status, headers and body text. */
export function httpRequest(port: number, path: string, method: string, body: string | Buffer | null, headers: Record<string, string> = {}, timeoutMs = 10_000): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, path, method, headers, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (d: Buffer) => chunks.push(d));
      res.on('end', () => (clearTimeout(t), resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') })));
      res.on('error', reject);
    });
    const t = setTimeout(() => req.destroy(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
    req.on('error', (err) => (clearTimeout(t), reject(err)));
    req.end(body ?? undefined);
  });
}

/**
 * A test processor module as plain .mjs source: registers `procs` (an object
 * literal source: command -> { onOpen?, onMessage?, onClose? }) on the shared
 * registry in setup and removes them in dispose, as modules built from
 * modules_src/lhttp/processors.ts do.
 */
export function processorModule(procs: string): string {
  return `
const KEY = Symbol.for('hrmr.lhttp.processors');
const reg = () => (globalThis[KEY] ??= { schema: 1, processors: new Map(), api: null });
const mine = [];
export default {
  routes: [],
  setup(ctx) {
    if (ctx.thread !== 'main') return;
    const procs = ${procs};
    for (const [command, processor] of Object.entries(procs)) {
      const e = { command, processor, owner: ctx.module };
      reg().processors.set(command, e);
      mine.push(e);
    }
  },
  dispose() {
    for (const e of mine) if (reg().processors.get(e.command) === e) reg().processors.delete(e.command);
  },
};
`;
}
