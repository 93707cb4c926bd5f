// SPDX-License-Identifier: LGPL-3.0-or-later
// validateModule: the module contract, reserved prefixes, every problem reported.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { validateModule } from '../src/modules/validate.ts';
import { buildRouteTable } from '../src/modules/route-table.ts';
import { adminPrefixes, shadowedWord } from '../src/admin/reserved.ts';
import { ModuleShapeError } from '../src/errors.ts';

const msg = (): string => 'x';
const conn = (): void => undefined;

test('accepts the contract shape: stream and message routes, string and byte prefixes', () => {
  const spec = validateModule({ name: 'demo', routes: [{ prefix: 'PING', message: msg }, { prefix: new Uint8Array([1, 2]), connection: conn }, { prefix: '', framing: 'whole', pool: true, message: msg }], setup() {}, dispose() {} }, 'file');
  assert.equal(spec.name, 'demo');
  assert.deepEqual(spec.routes.map((r) => [r.kind, r.framing, r.pool, r.prefix.toString('hex')]), [
    ['message', 'line', false, Buffer.from('PING').toString('hex')],
    ['stream', 'line', false, '0102'],
    ['message', 'whole', true, ''],
  ]);
  assert.equal(typeof spec.setup, 'function');
  assert.equal(validateModule({ routes: [] }, 'base').name, 'base');
});

test('rejects bad shapes and lists every problem', () => {
  assert.throws(() => validateModule(undefined, 'm'), ModuleShapeError);
  assert.throws(() => validateModule({ routes: 'no' }, 'm'), /routes must be an array/);
  const e = (() => {
    try {
      validateModule({ setup: 1, routes: [{ prefix: 5, message: msg }, { prefix: 'A' }, { prefix: 'B', message: msg, connection: conn }, { prefix: 'C', framing: 'chunk', message: msg }, { prefix: 'D', message: msg }, { prefix: 'D', message: msg }] }, 'm');
    } catch (err) {
      return err as ModuleShapeError;
    }
    return null;
  })();
  assert.ok(e instanceof ModuleShapeError);
  const all = e.problems.join('\n');
  for (const re of [/setup must be a function/, /routes\[0\]\.prefix/, /routes\[1\] needs exactly one/, /routes\[2\] needs exactly one/, /routes\[3\]\.framing/, /appears twice/]) assert.match(all, re);
});

test('reserved prefixes are rejected at load', () => {
  for (const p of ['STATUS', 'RELOAD', 'CLOSE', 'SHUTDOWN', 'STATUS\n', 'RELOAD now']) {
    assert.throws(() => validateModule({ routes: [{ prefix: p, message: msg }] }, 'm'), /shadows the built-in command/, p);
  }
  assert.equal(shadowedWord(Buffer.from('STAT')), null);
  // A shorter prefix does not shadow: "STATUS\n" is longer and wins.
  assert.doesNotThrow(() => validateModule({ routes: [{ prefix: 'S', message: msg }] }, 'm'));
});

test('admin prefixes cover LF and CRLF for each command', () => {
  const p = adminPrefixes();
  for (const w of ['RELOAD', 'CLOSE', 'SHUTDOWN', 'STATUS']) {
    assert.ok(p.includes(`${w}\n`) && p.includes(`${w}\r\n`), w);
  }
});

test('route table: the earlier module in name order keeps a contested prefix', () => {
  const mk = (name: string, prefixes: string[]) => ({ swapping: false, current: { name, spec: validateModule({ name, routes: prefixes.map((prefix) => ({ prefix, message: msg })) }, name) } });
  const slots = [mk('zeta', ['DUP', 'Z']), mk('alpha', ['DUP', 'A'])] as unknown as Parameters<typeof buildRouteTable>[0];
  const { table, conflicts } = buildRouteTable(slots, adminPrefixes());
  const t = table.match(Buffer.from('DUP x')).entry!.target;
  assert.equal(t.kind === 'module' && t.version.name, 'alpha');
  assert.equal(conflicts.length, 1);
  assert.equal(conflicts[0]!.module, 'zeta');
  assert.match(conflicts[0]!.message, /zeta.*alpha/);
  assert.equal(table.match(Buffer.from('Z')).entry!.target.kind, 'module');
});
