// SPDX-License-Identifier: LGPL-3.0-or-later
// Issue 15 (logs): pool workers log with the main thread's settings: its
// --log-level and its output format (--pretty or JSON).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { writeFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { BIN, ROOT, startHrmr, tempDir } from './helpers/hrmr.ts';

// setup runs in a pool worker too (the pool proves it can load the module before it serves).
const LOGGING = `export default {
  setup(ctx) { if (ctx.thread === 'worker') { ctx.log.debug('worker debug marker'); ctx.log.info('worker info marker'); } },
  routes: [{ prefix: 'P', pool: true, message: () => 'x\\n' }],
};`;

test('a pool worker logs at the --log-level of the server (debug shown at debug, hidden at info)', async (t) => {
  const dbg = await startHrmr({ modules: { logging: LOGGING } }); // the harness runs --log-level debug
  t.after(() => dbg.kill());
  const line = await dbg.waitForLog((l) => l.msg === 'worker debug marker');
  assert.equal(line.level, 20);
  assert.equal(line.module, 'logging');
  assert.equal(typeof line.threadId, 'number');
  assert.notEqual(line.threadId, 0);

  const info = await startHrmr({ modules: { logging: LOGGING }, args: ['--log-level', 'info'] });
  t.after(() => info.kill());
  await info.waitForLog((l) => l.msg === 'worker info marker');
  assert.equal(info.logs.filter((l) => l.msg === 'worker debug marker').length, 0);
});

test('a pool worker logs in pretty form when the server does', async (t) => {
  const dir = tempDir();
  writeFileSync(join(dir, 'logging.mjs'), LOGGING);
  const proc = spawn(process.execPath, [BIN, '--port', '0', '--modules', dir, '--threads', '1', '--log-level', 'info', '--pretty'], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  t.after(() => {
    proc.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  });
  let out = '';
  const line = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no worker log line and listening line in 15 s; stdout: ${out}`)), 15_000);
    proc.stdout.setEncoding('utf8').on('data', (d: string) => {
      out += d;
      const found = out.split('\n').find((l) => l.includes('worker info marker'));
      if (found !== undefined && /INFO.*listening/.test(out)) {
        clearTimeout(timer);
        resolve(found);
      }
    });
  });
  assert.ok(!line.trimStart().startsWith('{'), `worker log line is JSON: ${line}`);
  assert.match(line, /INFO.*worker info marker/);
  // The main thread's own lines are pretty too (the same format for both).
  assert.match(out, /INFO.*listening/);
});
