// SPDX-License-Identifier: LGPL-3.0-or-later
/**
 * `hrmr ws <url>`: a tiny WebSocket client for trying the lhttp and relay
 * WebSocket routes with what hrmr ships (no websocat needed). Each `--send`
 * is one text frame; every frame received is printed on its own line.
 */
import { WebSocket } from 'ws';

/** `\r`, `\n`, `\t` and `\\` in a `--send` value as the characters they name. Pure. */
export function unescapeSend(s: string): string {
  return s.replace(/\\([rnt\\])/g, (_m, c: string) => (c === 'r' ? '\r' : c === 'n' ? '\n' : c === 't' ? '\t' : '\\'));
}

export interface WsOptions {
  url: string;
  sends: readonly string[];
  /** Close this long after the last send (null: stay open until a signal or the server closes). */
  waitMs: number | null;
  out?: NodeJS.WritableStream;
  err?: NodeJS.WritableStream;
}

/** Runs the client; resolves with the exit code (0 once closed, 1 when it could not connect). */
export function runWs(o: WsOptions): Promise<number> {
  const out = o.out ?? process.stdout;
  const err = o.err ?? process.stderr;
  return new Promise((resolve) => {
    let opened = false;
    let done = false;
    const ws = new WebSocket(o.url);
    const finish = (code: number): void => {
      if (done) return;
      done = true;
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      clearTimeout(timer);
      resolve(code);
    };
    const stop = (): void => {
      if (ws.readyState === WebSocket.OPEN) {
        ws.close(1000);
        // A server that never answers the close: do not wait for it.
        setTimeout(() => finish(0), 2000).unref();
      } else {
        ws.terminate();
        finish(0);
      }
    };
    let timer: NodeJS.Timeout | undefined;
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
    ws.on('open', () => {
      opened = true;
      for (const s of o.sends) ws.send(unescapeSend(s));
      if (o.waitMs !== null) timer = setTimeout(stop, o.waitMs);
    });
    ws.on('message', (data: Buffer | ArrayBuffer | Buffer[]) => {
      const buf = Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data as Buffer);
      out.write(`${buf.toString('utf8')}\n`);
    });
    ws.on('error', (e: Error) => {
      err.write(`hrmr ws: ${e.message}\n`);
      if (!opened) finish(1);
    });
    ws.on('close', () => finish(opened ? 0 : 1));
  });
}
