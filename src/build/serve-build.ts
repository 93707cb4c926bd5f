// SPDX-License-Identifier: LGPL-3.0-or-later
/**
 * `hrmr --build` (what `npm start` runs): build every module source with
 * esbuild before serving (fast, no type-check), so one broken module costs
 * only itself; once serving, type-check beside it in a worker thread, as
 * watch mode does, and log each module's type errors with file:line:col.
 */
import { relative } from 'node:path';
import type { Logger } from 'pino';
import { buildAll, type ModuleBuildResult } from './build.ts';

const shown = (p: string): string => relative(process.cwd(), p) || p;

/** Builds `srcDir` into `outDir` and logs each failure (one record per module). Returns the results. */
export async function buildBeforeServe(srcDir: string, outDir: string, log: Logger): Promise<ModuleBuildResult[]> {
  const summary = await buildAll(srcDir, outDir, { typecheck: false });
  for (const r of summary.results) {
    if (r.ok) continue;
    log.error({ module: r.module, file: shown(r.entry), errors: r.errors }, `build of ${r.module} failed, not served: ${r.errors[0]?.split('\n')[0] ?? ''}`);
  }
  const failed = summary.results.filter((r) => !r.ok).length;
  log.info({ src: shown(srcDir), built: summary.results.length - failed, failed, removed: summary.removed }, `built ${summary.results.length - failed} of ${summary.results.length} modules`);
  return summary.results;
}

/** Type-checks the modules that built, in a worker thread; logs one record per module with errors. Resolves when done. */
export async function typecheckBeside(srcDir: string, built: readonly ModuleBuildResult[], log: Logger): Promise<void> {
  const modules = built.filter((r) => r.ok).map((r) => ({ module: r.module, entry: r.entry, files: r.inputs }));
  // HRMR_TYPECHECK=0 turns it off, as for hrmr build and watch mode.
  if (modules.length === 0 || /^(?:0|false|no|off)$/i.test((process.env.HRMR_TYPECHECK ?? '').trim())) return;
  const { startBackgroundTypecheck } = await import('./typecheck.ts');
  await new Promise<void>((done) => {
    let checker: Awaited<ReturnType<typeof startBackgroundTypecheck>> | null = null;
    void startBackgroundTypecheck(srcDir, {
      onResult(results, ms) {
        let errors = 0;
        for (const r of results) {
          const n = r.errors.length;
          if (n === 0) continue;
          errors += n;
          log.error({ module: r.module, typeErrors: n, errors: r.errors.slice(0, 20), ms }, `${n} type error${n === 1 ? '' : 's'} in ${r.module} (it serves as built): ${r.errors[0]!.split('\n')[0]}`);
        }
        if (errors === 0) log.info({ typeErrors: 0, ms, modules: results.length }, `type-checked ${results.length} modules in ${ms} ms: no errors`);
        void checker?.close();
        done();
      },
      onUnavailable(reason) {
        log.warn({ typecheck: false }, `type-checking is off: ${reason}`);
        done();
      },
    }).then((c) => {
      checker = c;
      c.request(modules);
    });
  });
}
