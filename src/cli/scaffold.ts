// SPDX-License-Identifier: LGPL-3.0-or-later
/** `hrmr new`: validates a module name and prefix and writes a starter module. */
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join, relative, resolve, sep } from 'node:path';
import { RESERVED_WORDS } from '../admin/reserved.ts';
import { UsageError } from '../errors.ts';
import { findPackage } from '../modules/package-links.ts';
import { packageRoot } from '../util/package-root.ts';

const NAME = /^[a-z0-9_-]+$/;
const MAX_NAME = 64;

/** Throws UsageError unless `name` is a-z, 0-9, `_` or `-`. */
export function validateName(name: string): void {
  if (!NAME.test(name) || name.length > MAX_NAME) {
    throw new UsageError(`module name must be 1 to ${MAX_NAME} characters of a-z, 0-9, _ and - (got ${JSON.stringify(name)})`);
  }
}

/** The prefix a module gets without `--prefix`: its name upper-cased, then a space. */
export function defaultPrefix(name: string): string {
  return `${name.toUpperCase()} `;
}

/** Throws UsageError for a prefix the router would reject or could never match well. */
export function validatePrefix(prefix: string): void {
  if (prefix === '') throw new UsageError('--prefix must not be empty (the default route is set by hand: prefix \'\')');
  if (/[\r\n]/.test(prefix)) throw new UsageError('--prefix must not contain a line break');
  const upper = prefix.toUpperCase();
  for (const w of RESERVED_WORDS) {
    if (upper.startsWith(w)) throw new UsageError(`prefix ${JSON.stringify(prefix)} starts with the reserved admin word ${w}; choose another with --prefix`);
  }
}

export { packageRoot };

/**
 * The import specifier for the module API from a module in `srcDir`:
 * `../shared/index.ts` in an hrmr checkout; `'hrmr'` in a project where the
 * package resolves (installed as a dependency); else a relative path to the
 * hrmr running this command.
 */
export function sharedImport(srcDir: string, root: string | null = packageRoot()): string {
  const rel = (c: string): string => {
    const r = relative(resolve(srcDir), c).split(sep).join('/');
    return r.startsWith('.') ? r : `./${r}`;
  };
  const checkout = join(resolve(srcDir), '..', 'shared', 'index.ts');
  if (existsSync(checkout)) return rel(checkout);
  if (findPackage(resolve(srcDir), 'hrmr') !== null) return 'hrmr';
  if (root && existsSync(join(root, 'shared', 'index.ts'))) return rel(join(root, 'shared', 'index.ts'));
  return 'hrmr';
}

export interface StarterOptions {
  name: string;
  prefix: string;
  pool: boolean;
  /** Where the module API is imported from. */
  api: string;
}

/** The starter module's source. Pure. */
export function renderModule(o: StarterOptions): string {
  // In a project that installed hrmr, its command is npx hrmr and its docs are in node_modules.
  const installed = o.api === 'hrmr';
  const run = installed ? 'npx hrmr' : 'hrmr';
  const docs = installed ? 'node_modules/hrmr/docs/modules.md' : 'docs/modules.md';
  const pool = o.pool
    ? `,
      // pool: true runs this handler on the worker-thread pool (-threads), so
      // CPU-heavy work does not stall other connections. Each worker imports
      // this same version and runs setup/dispose too; module state is per thread.
      { pool: true },`
    : ',';
  return `/**
 * ${o.name}: an hrmr module.
 *
 * Build:  ${run} build${installed ? '' : ' (or npm run build:modules)'}, then ${run} reload
 * Or:     ${run} --watch  and just save: the server reloads it in place
 * Try it: printf '${o.prefix.replace(/[\\'%]|\*\//g, '')}world\\n' | nc -N 127.0.0.1 8080
 *
 * See ${docs} for the whole contract.
 */
import { defineModule, lineRoute, type SetupContext } from ${JSON.stringify(o.api)};

/** Connections whose first bytes are this prefix are routed to this module. */
const PREFIX = ${JSON.stringify(o.prefix)};

// Module-level state belongs to one version: a reload starts from scratch.
let served = 0;
let timer: ReturnType<typeof setInterval> | undefined;

export default defineModule({
  routes: [
    // A line route: every line (without its \\n) is one message, and the
    // returned string is written back with a \\n added. Return null to
    // write nothing; throw to answer "ERR <message>" and close.
    lineRoute(
      PREFIX,
      (line, ctx) => {
        served++;
        const text = line.slice(PREFIX.length);
        return \`${o.name} v\${ctx.version}: \${text}\`;
      }${pool}
    ),
  ],

  // Runs before this version serves (a throw keeps the previous version).
  // ctx.config holds --set ${o.name}.key=value and HRMR_CFG_${o.name.toUpperCase().replace(/-/g, '_')}_KEY values.
  setup(ctx: SetupContext) {
    ctx.log.info({ thread: ctx.thread }, '${o.name} ready');
    timer = setInterval(() => ctx.log.debug({ served }, '${o.name} stats'), 60_000);
  },

  // Runs once this version is retired and its connections have drained.
  // Release every timer, listener and handle here: anything left alive
  // keeps this old version in memory for good.
  dispose() {
    clearInterval(timer);
  },
});
`;
}

/** Writes `srcDir/NAME.ts`; refuses to overwrite. Returns the file written. */
export function writeStarter(srcDir: string, o: { name: string; prefix?: string; pool: boolean }): string {
  validateName(o.name);
  const prefix = o.prefix ?? defaultPrefix(o.name);
  validatePrefix(prefix);
  const dir = resolve(srcDir);
  const file = join(dir, `${o.name}.ts`);
  if (existsSync(file)) throw new UsageError(`${relative(process.cwd(), file) || file} already exists; not overwriting it`);
  mkdirSync(dir, { recursive: true });
  writeFileSync(file, renderModule({ name: o.name, prefix, pool: o.pool, api: sharedImport(dir) }), { flag: 'wx' });
  return file;
}
