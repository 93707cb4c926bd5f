// SPDX-License-Identifier: LGPL-3.0-or-later
/**
 * The per-connection `ctx` given to handlers. Everything is read on first
 * use: most connections never log, and asking the kernel for the peer
 * address (getpeername) is a system call per connection that most handlers
 * never need.
 */
import type { Socket } from 'node:net';
import type { Logger } from 'pino';
import type { Context, Keep, ModuleMetrics, TlsInfo } from '../../shared/index.ts';
import { tlsInfo } from '../tls/info.ts';
import { moduleMetrics } from '../metrics/module-api.ts';

/** What a context needs from the module version it belongs to. */
export interface ContextSource {
  readonly name: string;
  readonly number: number;
  readonly config: Readonly<Record<string, string>>;
  readonly log: Logger;
  readonly keep: Keep;
}

export class ConnectionContext implements Context {
  private _log: Logger | null = null;
  readonly threadId = 0;
  constructor(
    private readonly source: ContextSource,
    private readonly socket: Socket,
  ) {}

  get module(): string {
    return this.source.name;
  }
  get version(): number {
    return this.source.number;
  }
  get config(): Readonly<Record<string, string>> {
    return this.source.config;
  }
  get keep(): Keep {
    return this.source.keep;
  }
  get remoteAddress(): string {
    return this.socket.remoteAddress ?? '';
  }
  get remotePort(): number {
    return this.socket.remotePort ?? 0;
  }
  private _tls: TlsInfo | null | undefined = undefined;
  /** See TlsInfo: computed on first use (a message route's pool tasks carry it with every message). */
  get tls(): TlsInfo | null {
    return this._tls === undefined ? (this._tls = tlsInfo(this.socket)) : this._tls;
  }
  get metrics(): ModuleMetrics {
    return moduleMetrics(this.source.name);
  }
  get log(): Logger {
    return (this._log ??= this.source.log.child({ peer: `${this.remoteAddress}:${this.remotePort}` }));
  }
}
