// SPDX-License-Identifier: LGPL-3.0-or-later
/**
 * The core's thinned source maps (scripts/slim-sourcemap.mjs): every
 * generated position still maps to the same file and line through Node's own
 * SourceMap, with far fewer segments (what Node keeps in memory once a stack
 * trace passes through dist/).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { SourceMap } from 'node:module';
import { build } from 'esbuild';
import { fileURLToPath } from 'node:url';
// @ts-expect-error: a plain .mjs build script, no types
import { formatMappings, parseMappings, slimMappings, slimSourceMap } from '../scripts/slim-sourcemap.mjs';

const root = fileURLToPath(new URL('..', import.meta.url));

test('VLQ: parse then format gives the same mappings back', () => {
  const m = 'AAAA,SAASA,EAAE;;AACA,gBAAgB,CAAC;AAAA,CAAC,IAAIC';
  assert.equal(formatMappings(parseMappings(m)), m);
});

test('runs from one original line keep only their first segment; unmapped breaks stay', () => {
  // line 0: three segments from source 0 line 0, then one from line 1; line 1: mapped, unmapped, unmapped, mapped
  const lines = [
    [
      [0, 0, 0, 0],
      [4, 0, 0, 4],
      [9, 0, 0, 9],
      [12, 0, 1, 2],
    ],
    [[0, 0, 2, 0], [5], [7], [9, 0, 2, 6]],
  ];
  const slim = parseMappings(slimMappings(formatMappings(lines)));
  assert.deepEqual(slim, [
    [
      [0, 0, 0, 0],
      [12, 0, 1, 2],
    ],
    [[0, 0, 2, 0], [5], [9, 0, 2, 6]],
  ]);
});

test('a real bundle: every position maps to the same source and line, with far fewer segments', async () => {
  const out = await build({ absWorkingDir: root, entryPoints: ['src/supervisor/supervisor.ts'], bundle: true, format: 'esm', platform: 'node', packages: 'external', sourcemap: 'external', sourcesContent: false, write: false, outfile: 'x.mjs', logLevel: 'silent' });
  const mapText = out.outputFiles.find((f) => f.path.endsWith('.map'))!.text;
  const full = JSON.parse(mapText);
  const slim = JSON.parse(slimSourceMap(mapText));
  const count = (m: { mappings: string }) => parseMappings(m.mappings).reduce((n: number, l: unknown[]) => n + l.length, 0);
  assert.ok(count(slim) < count(full) / 2, `${count(slim)} segments of ${count(full)}`);
  assert.deepEqual(slim.names, full.names);
  const a = new SourceMap(full);
  const b = new SourceMap(slim);
  let checked = 0;
  parseMappings(full.mappings).forEach((segs: number[][], line: number) => {
    for (const s of segs) {
      if (s.length === 1) continue;
      const x = a.findEntry(line, s[0]!) as { originalSource?: string; originalLine?: number };
      const y = b.findEntry(line, s[0]!) as { originalSource?: string; originalLine?: number };
      assert.equal(y.originalSource, x.originalSource, `line ${line} col ${s[0]}`);
      assert.equal(y.originalLine, x.originalLine, `line ${line} col ${s[0]}`);
      checked++;
    }
  });
  assert.ok(checked > 500, `${checked} positions checked`);
});
