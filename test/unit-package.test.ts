// SPDX-License-Identifier: LGPL-3.0-or-later
// Pure pieces of issue 21: --bundled parsing, folder scanning order, the
// packages a built module imports, `hrmr ws` escapes, source locations of
// shape problems, the prefixes a module routes, and who started us.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseBundled, BUNDLED_MODULES, bundledDir } from '../src/modules/bundled.ts';
import { scanFolders } from '../src/modules/scan.ts';
import { importedPackages } from '../src/modules/package-links.ts';
import { unescapeSend } from '../src/cli/ws-client.ts';
import { locate, problemPattern } from '../src/modules/source-location.ts';
import { routePrefixes } from '../src/cli/prefix-owners.ts';
import { startedByNpm } from '../src/cli/parent-watch.ts';
import { UsageError } from '../src/errors.ts';
import { ROOT, tempDir } from './helpers/hrmr.ts';

test('--bundled: all, none, or known names (deduplicated); anything else is a usage error', () => {
  assert.deepEqual(parseBundled('all'), [...BUNDLED_MODULES]);
  assert.deepEqual(parseBundled('none'), []);
  assert.deepEqual(parseBundled(' hash, relay,hash '), ['hash', 'relay']);
  assert.throws(() => parseBundled('hash,nope'), UsageError);
  assert.equal(bundledDir(join(ROOT, 'modules'), ['hash'], ROOT), null, 'a clone serving its own modules/ adds nothing');
  assert.equal(bundledDir('/elsewhere', [], ROOT), null);
  assert.equal(bundledDir('/elsewhere', ['hash'], ROOT), join(ROOT, 'modules'));
});

test('scanFolders: later folders replace modules of the same name; `only` limits a folder; a missing optional folder is nothing', (t) => {
  const root = tempDir('hrmr-scan-');
  t.after(() => rmSync(root, { recursive: true, force: true }));
  const a = join(root, 'a');
  const b = join(root, 'b');
  mkdirSync(a);
  mkdirSync(b);
  for (const n of ['x.mjs', 'y.mjs', 'z.mjs', '.hidden.mjs']) writeFileSync(join(a, n), '');
  writeFileSync(join(b, 'x.mjs'), '');
  writeFileSync(join(b, 'w.js'), '');
  const failed: Array<{ module: string; error: string }> = [];
  const got = scanFolders(
    [
      { dir: join(root, 'missing'), only: null, origin: 'm', required: false },
      { dir: a, only: ['x', 'y'], origin: 'bundled', required: false },
      { dir: b, only: null, origin: '', required: true },
    ],
    failed,
  );
  assert.deepEqual([...got.keys()], ['w', 'x', 'y']);
  assert.deepEqual(got.get('x'), { file: join(b, 'x.mjs'), origin: '' });
  assert.deepEqual(got.get('y'), { file: join(a, 'y.mjs'), origin: 'bundled' });
  assert.deepEqual(failed, []);
  scanFolders([{ dir: join(root, 'missing'), only: null, origin: '', required: true }], failed);
  assert.equal(failed.length, 1);
});

test('importedPackages: bare specifiers of static, re-export and dynamic imports; no builtins, relative or URLs', () => {
  const code = [
    'import Redis from "ioredis";',
    'import { a,\n  b } from "@scope/pkg/sub";',
    'export * from "pg";',
    'import "side-effect";',
    'const m = await import("ws");',
    'import fs from "node:fs";',
    'import path from "path";',
    'import x from "./local.mjs";',
    'import y from "file:///x.mjs";',
  ].join('\n');
  assert.deepEqual(importedPackages(code).sort(), ['@scope/pkg', 'ioredis', 'pg', 'side-effect', 'ws']);
});

test('hrmr ws --send interprets \\r \\n \\t and \\\\ only', () => {
  assert.equal(unescapeSend('LHTTP/1.0 chat\\r\\nsubscribe:a\\r\\n\\r\\n'), 'LHTTP/1.0 chat\r\nsubscribe:a\r\n\r\n');
  assert.equal(unescapeSend('a\\tb\\\\n\\x'), 'a\tb\\n\\x');
});

test('shape problems locate the offending key in the source, else the default export', () => {
  const src = "import x from 'y';\n\nexport default defineModule({\n  rout: [],\n});\n";
  assert.deepEqual(locate(src, problemPattern('default export: unknown key "rout"; known keys: …')), { line: 4, column: 3 });
  assert.deepEqual(locate(src, problemPattern('setup must be a function')), { line: 3, column: 1 });
  assert.equal(locate(src, /nothing/), null);
});

test('routePrefixes reads byte-prefix routes only; startedByNpm reads npm\'s variables', () => {
  assert.deepEqual(routePrefixes({ routes: [{ prefix: 'A ' }, { http: '/x' }, { prefix: Buffer.from('B') }] }), ['A ', 'B']);
  assert.deepEqual(routePrefixes(null), []);
  assert.equal(startedByNpm({ npm_command: 'exec' }), true);
  assert.equal(startedByNpm({ npm_lifecycle_event: 'start' }), true);
  assert.equal(startedByNpm({}), false);
});
