// SPDX-License-Identifier: LGPL-3.0-or-later
/**
 * Debian's haproxy in front of hrmr for the PROXY protocol tests: TCP mode,
 * one frontend per `send-proxy` variant on free loopback ports, connecting
 * to hrmr from `source` (a loopback address of its own, so hrmr can trust
 * it alone). Config in a temp folder; stopped by pid.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { join } from 'node:path';
import { tempDir } from './hrmr.ts';
import { freePort } from './redis.ts';

export interface Haproxy {
  /** Frontend ports by variant name. */
  readonly ports: Record<string, number>;
  stop(): Promise<void>;
}

/** `variants`: name -> server options (e.g. `send-proxy`, `send-proxy-v2`). */
export async function startHaproxy(target: number, source: string, variants: Record<string, string>): Promise<Haproxy> {
  const dir = tempDir('hrmr-haproxy-');
  const ports: Record<string, number> = {};
  let cfg = `global\n  maxconn 200\n\ndefaults\n  mode tcp\n  timeout connect 5s\n  timeout client 60s\n  timeout server 60s\n\n`;
  for (const [name, opts] of Object.entries(variants)) {
    const port = await freePort();
    ports[name] = port;
    cfg += `frontend fe_${name}\n  bind 127.0.0.1:${port}\n  default_backend be_${name}\n\nbackend be_${name}\n  source ${source}\n  server hrmr 127.0.0.1:${target} ${opts}\n\n`;
  }
  const file = join(dir, 'haproxy.cfg');
  writeFileSync(file, cfg);
  const proc: ChildProcess = spawn('haproxy', ['-f', file, '-db'], { stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  proc.stderr!.setEncoding('utf8').on('data', (d: string) => (err += d));
  const exited = new Promise<void>((r) => proc.once('exit', () => r()));
  const stop = async (): Promise<void> => {
    if (proc.exitCode === null && proc.signalCode === null) {
      proc.kill('SIGKILL');
      await exited;
    }
    rmSync(dir, { recursive: true, force: true });
  };
  const deadline = Date.now() + 10_000;
  for (const port of Object.values(ports)) {
    for (;;) {
      const up = await new Promise<boolean>((resolve) => {
        const c = net.connect(port, '127.0.0.1', () => {
          c.destroy();
          resolve(true);
        });
        c.on('error', () => resolve(false));
      });
      if (up) break;
      if (proc.exitCode !== null || Date.now() > deadline) {
        await stop();
        throw new Error(`haproxy did not start: ${err}`);
      }
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  return { ports, stop };
}
