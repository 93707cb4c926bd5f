// SPDX-License-Identifier: LGPL-3.0-or-later
/** The process logger: pino JSON on stdout, human-readable on a terminal or with --pretty. */
import { pino, type Logger, type LevelWithSilent } from 'pino';
import pretty from 'pino-pretty';

export const LOG_LEVELS: readonly LevelWithSilent[] = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

export function createLogger(level: LevelWithSilent, prettyOutput: boolean): Logger {
  const options = { name: 'hrmr', level, base: { pid: process.pid } };
  if (prettyOutput) return pino(options, pretty({ colorize: process.stdout.isTTY === true, sync: true, ignore: 'pid,hostname,name' }));
  // Asynchronous writes keep logging off the hot path; pino flushes on exit.
  return pino(options, pino.destination({ dest: 1, sync: false }));
}
