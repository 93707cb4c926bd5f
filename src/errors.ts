// SPDX-License-Identifier: LGPL-3.0-or-later
/**
 * Named errors, each with a stable `code`. ERROR_CODES is the one table of
 * every code: load-time, runtime and the service kit's (shared/errors.ts);
 * test/unit-errors.test.ts checks docs/errors.md against it.
 */
import { KIT_ERROR_CODES } from '../shared/errors.ts';

/** Every `HRMR_*` error code, with what it means. */
export const ERROR_CODES = {
  HRMR_MODULE_SHAPE: "a module's default export does not fit the contract",
  HRMR_MODULE_IMPORT: 'a module failed to import (syntax error, missing dependency, top-level throw)',
  HRMR_MODULE_SETUP: "a module's setup() threw or rejected",
  HRMR_SETUP_TIMEOUT: "a module's import, setup() or pool preparation ran past --setup-timeout",
  HRMR_ROUTE_CONFLICT: 'two modules claim the same prefix or HTTP path',
  HRMR_TLS_FILE: 'a TLS certificate, key or CA file cannot be loaded',
  HRMR_USAGE: 'a bad command-line value (exit status 2)',
  HRMR_LINE_TOO_LONG: "a 'line' message over 64 KiB",
  HRMR_POOL_BUSY: 'the pool queue (--max-queue) is full: `ERR busy`, HTTP 503',
  HRMR_POOL_TIMEOUT: 'a pool task ran past --task-timeout: `ERR timeout`, HTTP 504',
  ...KIT_ERROR_CODES,
} as const;

export type ErrorCode = keyof typeof ERROR_CODES;

export class HrmrError extends Error {
  override name = 'HrmrError';
  constructor(
    readonly code: ErrorCode,
    message: string,
  ) {
    super(message);
  }
}

/** A module's default export does not fit the contract. */
export class ModuleShapeError extends HrmrError {
  override name = 'ModuleShapeError';
  constructor(
    readonly module: string,
    readonly problems: string[],
  ) {
    super('HRMR_MODULE_SHAPE', problems.join('; '));
  }
}

/** A step of loading a module failed; `cause` holds the original error. */
abstract class ModuleStepError extends HrmrError {
  constructor(
    code: ErrorCode,
    step: string,
    readonly module: string,
    cause: unknown,
  ) {
    super(code, `${step} failed: ${firstLine(cause)}`);
    this.cause = cause;
  }
}

/** A module failed to import (syntax error, missing dependency, top-level throw). */
export class ModuleImportError extends ModuleStepError {
  override name = 'ModuleImportError';
  constructor(module: string, cause: unknown) {
    super('HRMR_MODULE_IMPORT', 'import', module, cause);
  }
}

/** A module's setup() threw or rejected. */
export class ModuleSetupError extends ModuleStepError {
  override name = 'ModuleSetupError';
  constructor(module: string, cause: unknown) {
    super('HRMR_MODULE_SETUP', 'setup', module, cause);
  }
}

/**
 * A module's load (import, `setup`, the pool's preparation) did not finish
 * within --setup-timeout: the load fails, the version serving keeps serving.
 */
export class ModuleSetupTimeoutError extends HrmrError {
  override name = 'ModuleSetupTimeoutError';
  constructor(
    readonly module: string,
    /** The step still running: import, setup or pool preparation. */
    readonly step: string,
    readonly timeoutMs: number,
  ) {
    super('HRMR_SETUP_TIMEOUT', `setup timed out (HRMR_SETUP_TIMEOUT): ${step} of ${module} did not finish within ${timeoutMs} ms (--setup-timeout)`);
  }
}

/** Two modules claim the same prefix; the later in name order loses it. */
export class RouteConflictError extends HrmrError {
  override name = 'RouteConflictError';
  constructor(
    readonly module: string,
    readonly prefix: string,
    readonly owner: string,
  ) {
    super('HRMR_ROUTE_CONFLICT', `prefix ${prefix} of ${module} is already claimed by ${owner}`);
  }
}

/** A TLS certificate, key or CA file that cannot be loaded (missing, not PEM, a key not fitting its certificate); the message names the file. */
export class TlsFileError extends HrmrError {
  override name = 'TlsFileError';
  constructor(
    readonly file: string,
    why: string,
  ) {
    super('HRMR_TLS_FILE', `${file}: ${why}`);
  }
}

/** Bad command-line value; the CLI exits with status 2. */
export class UsageError extends HrmrError {
  override name = 'UsageError';
  constructor(message: string) {
    super('HRMR_USAGE', message);
  }
}

/**
 * A pool refusal at run time: the queue is full (`busy`) or the task ran past
 * --task-timeout (`timeout`). The message is the word the wire carries
 * (`ERR busy`, `ERR timeout`); the HTTP host answers 503 or 504.
 */
export class PoolTaskError extends HrmrError {
  override name = 'PoolTaskError';
  constructor(readonly reason: 'busy' | 'timeout') {
    super(reason === 'busy' ? 'HRMR_POOL_BUSY' : 'HRMR_POOL_TIMEOUT', reason);
  }
}

/** A `'line'` message over the framer's limit; the session writes the message and closes. */
export class LineTooLongError extends HrmrError {
  override readonly name = 'LineTooLongError';
  constructor(limit: number) {
    super('HRMR_LINE_TOO_LONG', `line too long (over ${limit} bytes)`);
  }
}

export function firstLine(err: unknown): string {
  const text = err instanceof Error ? err.message : String(err);
  const line = text.split('\n').find((l) => l.trim() !== '') ?? text;
  return line.trim();
}
