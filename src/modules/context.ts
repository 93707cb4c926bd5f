// SPDX-License-Identifier: LGPL-3.0-or-later
/** The per-connection `ctx` given to handlers. The logger is made on first use: most connections never log. */
import type { Logger } from 'pino';
import type { Context } from '../../shared/index.ts';

export class ConnectionContext implements Context {
  private _log: Logger | null = null;
  constructor(
    readonly module: string,
    readonly version: number,
    readonly remoteAddress: string,
    readonly remotePort: number,
    readonly config: Readonly<Record<string, string>>,
    private readonly parentLog: Logger,
    readonly threadId: number = 0,
  ) {}

  get log(): Logger {
    return (this._log ??= this.parentLog.child({ peer: `${this.remoteAddress}:${this.remotePort}` }));
  }

  /** What crosses to a pool worker (the logger is rebuilt there). */
  toJSON(): { module: string; version: number; remoteAddress: string; remotePort: number } {
    return { module: this.module, version: this.version, remoteAddress: this.remoteAddress, remotePort: this.remotePort };
  }
}
