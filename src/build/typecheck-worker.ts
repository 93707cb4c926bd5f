// SPDX-License-Identifier: LGPL-3.0-or-later
/**
 * Watch mode's type-checker thread (see typecheck.ts): one TypeChecker kept
 * warm across saves; each message is a batch of modules to check.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { loadTypeScript, TypeChecker, type ModuleFiles, type WorkerReply } from './typecheck.ts';

const port = parentPort!;
const { srcDir, cwd } = workerData as { srcDir: string; cwd: string };
const reply = (m: WorkerReply): void => port.postMessage(m);

const ts = await loadTypeScript();
if (ts === null) {
  reply({ type: 'missing' });
} else {
  let checker: TypeChecker | null = null;
  port.on('message', (m: { type: 'check'; modules: ModuleFiles[] }) => {
    const started = performance.now();
    try {
      checker ??= new TypeChecker(ts, srcDir, cwd);
      const results = checker.check(m.modules);
      reply({ type: 'result', results, ms: Math.round(performance.now() - started) });
    } catch (err) {
      reply({ type: 'failed', error: err instanceof Error ? (err.stack ?? err.message) : String(err) });
    }
  });
}
