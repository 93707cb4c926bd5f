// SPDX-License-Identifier: LGPL-3.0-or-later
/**
 * The Redis store's script calls, batched without ioredis's auto-pipelining:
 * the first command of an event-loop turn corks the connection's socket and
 * a setImmediate uncorks it, so the commands of a turn (every produce read
 * from the sockets that were ready) still leave in one write, as with
 * auto-pipelining, but each costs one ioredis Command and nothing more (no
 * Pipeline object per batch, no second promise and callback list per
 * command). Measured on the relay bench: about a fifth of the server's CPU
 * per produce went to auto-pipelining's machinery.
 *
 * Replies come as Buffers (like `evalshaBuffer`). Offline and timeout
 * behaviour is the client's own (sendCommand applies its commandTimeout and
 * refuses when the connection is down and the offline queue is off).
 */
import { createRequire } from 'node:module';
import type { Command as CommandT, Redis } from 'ioredis';

type CommandCtor = new (name: string, args: ReadonlyArray<string | Buffer>, options: { replyEncoding: null }) => CommandT;

let CommandClass: CommandCtor | undefined;
/** ioredis's Command, loaded as the kit loads ioredis (from the module's own node_modules). */
function commandClass(): CommandCtor {
  CommandClass ??= (createRequire(import.meta.url)('ioredis') as { Command: CommandCtor }).Command;
  return CommandClass;
}

export class ScriptBatcher {
  /** The socket corked in this turn, uncorked by the pending setImmediate. */
  private corked: { uncork(): void } | null = null;
  private readonly flush = (): void => {
    const s = this.corked;
    this.corked = null;
    s?.uncork();
  };

  constructor(private readonly client: Redis) {}

  /** Sends `name args...` and resolves with the reply (Buffers for strings). */
  send(name: string, args: ReadonlyArray<string | Buffer>): Promise<unknown> {
    const c = this.client;
    const Command = commandClass();
    const s = c.stream as (typeof c.stream & { writable: boolean; cork(): void; uncork(): void }) | undefined;
    if (this.corked === null && c.status === 'ready' && s !== undefined && s.writable) {
      s.cork();
      this.corked = s;
      setImmediate(this.flush);
    }
    const cmd = new Command(name, args, { replyEncoding: null });
    c.sendCommand(cmd);
    return cmd.promise;
  }
}
