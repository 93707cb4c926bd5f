// SPDX-License-Identifier: LGPL-3.0-or-later
// Builds the core (src/) into dist/ with esbuild: the CLI, the pool worker and
// the module API are separate entry points; npm packages stay external.
import { build } from 'esbuild';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
if (process.argv.includes('--if-missing') && existsSync(`${root}/dist/hrmr.mjs`)) process.exit(0);
await build({
  absWorkingDir: root,
  // shared: the module API's runtime helpers, for `import { defineModule } from 'hrmr'`.
  entryPoints: { hrmr: 'src/cli/main.ts', worker: 'src/pool/worker.ts', shared: 'shared/index.ts' },
  outdir: 'dist',
  outExtension: { '.js': '.mjs' },
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20.19',
  packages: 'external',
  sourcemap: true,
  logLevel: 'warning',
});
