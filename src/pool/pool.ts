// SPDX-License-Identifier: LGPL-3.0-or-later
import type { Logger } from 'pino';
import type { MessagePool } from '../server.ts';

export interface PoolOptions {
  threads: number;
  taskTimeoutMs: number;
  maxQueue: number;
  log: Logger;
}

export function createPool(_o: PoolOptions): MessagePool | null {
  return null;
}
