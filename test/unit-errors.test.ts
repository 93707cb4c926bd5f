// SPDX-License-Identifier: LGPL-3.0-or-later
/** The one error table (src/errors.ts) against docs/errors.md, and the errors' codes against the table. */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { BodyAbortedError, BodyTooLargeError, ConfigError } from '../shared/index.ts';
import { KIT_ERROR_CODES } from '../shared/errors.ts';
import { ERROR_CODES, LineTooLongError, ModuleImportError, ModuleSetupError, ModuleSetupTimeoutError, ModuleShapeError, PoolTaskError, RouteConflictError, TlsFileError, UsageError } from '../src/errors.ts';

const DOC = readFileSync(new URL('../docs/errors.md', import.meta.url), 'utf8');

/** The codes docs/errors.md lists: a table cell holding only `HRMR_X`. */
function documentedCodes(): Set<string> {
  return new Set([...DOC.matchAll(/\|\s*`(HRMR_[A-Z0-9_]+)`\s*\|/g)].map((m) => m[1]!));
}

test('every code of the error table is documented in docs/errors.md, and every documented code is in the table', () => {
  const table = Object.keys(ERROR_CODES).sort();
  const doc = [...documentedCodes()].sort();
  assert.deepEqual(table.filter((c) => !doc.includes(c)), [], 'codes missing from docs/errors.md');
  assert.deepEqual(doc.filter((c) => !table.includes(c)), [], 'codes in docs/errors.md but not in src/errors.ts');
  for (const [code, meaning] of Object.entries(ERROR_CODES)) assert.ok(meaning.length > 10, `${code} has a meaning`);
});

test('the table holds the runtime codes and the service kit codes', () => {
  for (const c of ['HRMR_POOL_BUSY', 'HRMR_POOL_TIMEOUT', 'HRMR_LINE_TOO_LONG']) assert.ok(c in ERROR_CODES, c);
  for (const c of Object.keys(KIT_ERROR_CODES)) assert.ok(c in ERROR_CODES, c);
});

test('every named error carries a code of the table; pool refusals keep their wire words', () => {
  const errors: { code: string; message: string }[] = [
    new ModuleShapeError('m', ['x']),
    new ModuleImportError('m', new Error('x')),
    new ModuleSetupError('m', new Error('x')),
    new ModuleSetupTimeoutError('m', 'setup', 10),
    new RouteConflictError('m', 'P', 'o'),
    new TlsFileError('f', 'why'),
    new UsageError('u'),
    new LineTooLongError(65536),
    new PoolTaskError('busy'),
    new PoolTaskError('timeout'),
    new ConfigError('m', 'k', 'v', 'e'),
    new BodyTooLargeError(1, false),
    new BodyAbortedError(),
  ];
  for (const e of errors) assert.ok(e.code in ERROR_CODES, `${e.code} is in the table`);
  const busy = new PoolTaskError('busy');
  const timeout = new PoolTaskError('timeout');
  assert.deepEqual([busy.code, busy.message, busy.reason], ['HRMR_POOL_BUSY', 'busy', 'busy']);
  assert.deepEqual([timeout.code, timeout.message, timeout.reason], ['HRMR_POOL_TIMEOUT', 'timeout', 'timeout']);
  assert.equal(new LineTooLongError(65536).message, 'line too long (over 65536 bytes)');
});
