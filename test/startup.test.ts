// SPDX-License-Identifier: LGPL-3.0-or-later
/** The port is bound before any module loads: a port in use fails with one line, exit 1, no module set up. */
import assert from 'node:assert/strict';
import { readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { runCli, startHrmr, tempDir } from './helpers/hrmr.ts';

test('a port in use: one line on stderr, exit 1, and no module was loaded or set up', async (t) => {
  const marks = tempDir('hrmr-marks-');
  t.after(() => rmSync(marks, { recursive: true, force: true }));
  const mod = `import { writeFileSync } from 'node:fs';
export default { routes: [{ prefix: 'X', message: () => 'x\\n' }], setup() { writeFileSync(${JSON.stringify(marks)} + '/setup-' + process.pid, ''); } };`;
  const h = await startHrmr({ modules: { marker: mod } });
  t.after(() => h.kill());
  assert.equal(readdirSync(marks).length, 1, 'the first server set the module up');
  const dir = tempDir();
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(join(dir, 'marker.mjs'), mod);
  const r = await runCli(['--port', String(h.port), '--modules', dir, '--threads', '1'], { timeoutMs: 10_000 });
  assert.equal(r.code, 1);
  assert.equal(r.stderr, `hrmr: port ${h.port} on 127.0.0.1 is already in use\n`);
  assert.doesNotMatch(r.stdout, /FATAL|"level":60|module loaded/);
  assert.equal(readdirSync(marks).length, 1, 'the second server never ran setup');
});
