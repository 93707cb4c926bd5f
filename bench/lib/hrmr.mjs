// SPDX-License-Identifier: LGPL-3.0-or-later
/**
 * Starts the built hrmr (bin/hrmr.mjs) on a free loopback port with a given
 * set of module files copied into a temporary modules folder, and waits for
 * its `listening` log line (pino JSON on stdout when not a TTY).
 */
import { copyFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { ROOT } from './config.mjs';
import { jsonLines, spawnTracked, stop, waitForLine } from './proc.mjs';

export const BIN = join(ROOT, 'bin', 'hrmr.mjs');

/**
 * @param {object} o
 * @param {string[]} o.modules  paths of .mjs module files to serve
 * @param {string[]} [o.args]   extra CLI flags
 * @param {'server'|null} [o.role] CPU pinning role ('server': the server CPU; null: not pinned)
 * @returns {Promise<{port:number, proc:import('node:child_process').ChildProcess, dir:string, problems:object[], stop():Promise<void>}>}
 */
export async function startHrmr({ modules, args = [], role = 'server' }) {
  const dir = mkdtempSync(join(tmpdir(), 'hrmr-bench-'));
  for (const file of modules) copyFileSync(file, join(dir, basename(file)));
  // --log-level info: the listening line is info; hrmr logs nothing per request at info.
  // --bundled none: only the bench's modules. With the bundled ones beside them, the static `http`
  // module owned `/` and the http and tls suites' "HTTP route hello" rows measured its index page.
  const proc = spawnTracked(process.execPath, [BIN, '--port', '0', '--host', '127.0.0.1', '--modules', dir, '--log-level', 'info', '--threads', '1', '--bundled', 'none', ...args], { role, cwd: ROOT });
  // A route of a bench module that another module owns means the row measures something else: fail.
  const conflicts = [];
  jsonLines(proc.stdout, (l) => {
    if (l.msg === 'route conflict' && conflicts.length < 5) conflicts.push(l);
  });
  const cleanup = async () => {
    await stop(proc);
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    const listening = await waitForLine(proc, (l) => l.msg === 'listening', 15_000, 'hrmr');
    if (!(listening.modules >= modules.length)) throw new Error(`hrmr loaded ${listening.modules} of ${modules.length} bench modules`);
    if (conflicts.length > 0) throw new Error(`hrmr: route conflict: ${conflicts.map((c) => JSON.stringify({ module: c.module, prefix: c.prefix, owner: c.owner })).join('; ')}`);
    // Warnings and errors during the run (a handler failing) are reported by the suite.
    const problems = [];
    jsonLines(proc.stdout, (l) => {
      if (typeof l.level === 'number' && l.level >= 40 && problems.length < 20) problems.push(l);
    });
    return { port: listening.port, proc, dir, problems, stop: cleanup };
  } catch (err) {
    await cleanup();
    throw err;
  }
}
