#!/usr/bin/env node
// SPDX-License-Identifier: LGPL-3.0-or-later
// Entry point: runs the built CLI (dist/ is made by `npm run build`, which `npm install` runs).
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

// Stack traces through source maps: a module's error points at modules_src/NAME.ts:line:col,
// not at its built snapshot (esbuild writes NAME.mjs.map beside each module). On before
// anything loads, so hrmr's own dist/ maps apply too.
process.setSourceMapsEnabled(true);

const built = fileURLToPath(new URL('../dist/hrmr.mjs', import.meta.url));
if (!existsSync(built)) {
  process.stderr.write('hrmr: not built yet; run `npm run build` in the hrmr folder\n');
  process.exit(1);
}
const { main } = await import(built);
await main(process.argv.slice(2));
