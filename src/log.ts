// SPDX-License-Identifier: LGPL-3.0-or-later
/** The process logger: pino JSON on stdout, human-readable on a terminal or with --pretty. */
import { createRequire } from 'node:module';
import { pino, type Logger, type LevelWithSilent } from 'pino';
import type PinoPretty from 'pino-pretty';

// pino-pretty (and its dependencies) load only in pretty mode: a JSON logger
// (every server whose stdout is not a terminal) does not pay for them, in the
// main thread or in any pool worker.
const requireHere = createRequire(import.meta.url);

export const LOG_LEVELS: readonly LevelWithSilent[] = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

/** Fields pretty mode never shows (pino's own, or printed apart). */
const HIDDEN = new Set(['pid', 'hostname', 'name', 'level', 'time', 'msg', 'errors', 'err', 'error']);

interface ErrLike {
  stack?: unknown;
  message?: unknown;
}

function errText(e: unknown): string | null {
  if (e === null || e === undefined) return null;
  if (typeof e === 'string') return e;
  if (typeof e === 'object') {
    const { stack, message } = e as ErrLike;
    if (typeof stack === 'string' && stack !== '') return stack;
    if (typeof message === 'string') return message;
  }
  return null;
}

const indent = (text: string): string => text.replace(/^/gm, '    ');

/**
 * One pretty log entry: the message and its fields on one line; located
 * errors (`errors`: build and type errors with their code frames) and error
 * stacks follow as real lines, not as escaped JSON strings.
 */
export function prettyMessage(log: Record<string, unknown>, messageKey = 'msg'): string {
  let out = String(log[messageKey] ?? '');
  const fields: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(log)) if (!HIDDEN.has(k) && k !== messageKey && v !== undefined) fields[k] = v;
  if (Object.keys(fields).length > 0) out += ` ${JSON.stringify(fields)}`;
  const errors = log.errors;
  if (Array.isArray(errors)) for (const e of errors) out += `\n${indent(typeof e === 'string' ? e : JSON.stringify(e))}`;
  else if (typeof errors === 'string') out += `\n${indent(errors)}`;
  for (const key of ['err', 'error']) {
    const t = errText(log[key]);
    if (t !== null) out += `\n${indent(t)}`;
  }
  return out;
}

/** The pino-pretty streams createLogger made: how a logger (or a child of it) is known to be pretty without looking at class names. */
const PRETTY_STREAMS = new WeakSet<object>();

/** Whether a logger writes through createLogger's pino-pretty stream rather than JSON to a file descriptor. */
export function writesPretty(log: Logger): boolean {
  const stream = (log as unknown as Record<symbol, unknown>)[pino.symbols.streamSym];
  return typeof stream === 'object' && stream !== null && PRETTY_STREAMS.has(stream);
}

export function createLogger(level: LevelWithSilent, prettyOutput: boolean): Logger {
  // pid through a mixin, not the base bindings: a line about another process (the supervisor's
  // `worker ready` with the worker's pid) then has one "pid" key, the one it names.
  const pid = { pid: process.pid };
  const options = { name: 'hrmr', level, base: {}, mixin: () => ({ ...pid }) };
  if (prettyOutput) {
    const pretty = requireHere('pino-pretty') as typeof PinoPretty;
    const stream = pretty({ colorize: process.stdout.isTTY === true, sync: true, ignore: 'pid,hostname,name', hideObject: true, messageFormat: (log, messageKey) => prettyMessage(log, messageKey) });
    PRETTY_STREAMS.add(stream);
    return pino(options, stream);
  }
  // Asynchronous writes keep logging off the hot path; pino flushes on exit.
  return pino(options, pino.destination({ dest: 1, sync: false }));
}
