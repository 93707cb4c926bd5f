// SPDX-License-Identifier: LGPL-3.0-or-later
/** Subcommands: build, new, and the admin client (reload, status, shutdown). */
import { join, relative, resolve } from 'node:path';
import { Option, type Command } from 'commander';
import { UsageError } from '../errors.ts';
import { envBool, int } from './options.ts';

interface ClientOptions {
  port: string;
  host: string;
  adminToken?: string;
  timeout: string;
  json?: boolean;
}

function shown(file: string): string {
  return relative(process.cwd(), file) || file;
}

/** The admin-client subcommands share their options; they are declared on each subcommand (the root has its own --port). */
function addClient(program: Command, name: string, command: 'RELOAD' | 'STATUS' | 'SHUTDOWN', description: string): void {
  const sub = program.command(name);
  if (command === 'STATUS') {
    sub.addOption(new Option('--json', 'print only the status JSON (indented), for jq; an ERR reply goes to stderr')).addOption(new Option('--no-json', 'print the reply line as is (OK {json})'));
  }
  sub
    .description(description)
    .addOption(new Option('-p, --port <port>', 'port of the running server').env('HRMR_PORT').default('8080'))
    .addOption(new Option('--host <address>', 'address of the running server').default('127.0.0.1'))
    .addOption(new Option('--admin-token <token>', 'send `AUTH <token>` first').env('HRMR_ADMIN_TOKEN'))
    .addOption(new Option('--timeout <ms>', 'give up waiting for the reply after this long').default('30000'))
    .action(async (o: ClientOptions) => {
      const port = int('port', o.port, 1, 65535);
      const timeoutMs = int('timeout', o.timeout, 1, 86_400_000);
      if (o.host.trim() === '') throw new UsageError('--host must not be empty');
      const { sendAdminCommand } = await import('./admin-client.ts');
      const r = await sendAdminCommand({ host: o.host, port, command, token: o.adminToken || null, timeoutMs });
      if (r.reply === null) process.stderr.write(`hrmr: ${r.problem}\n`);
      else if (o.json === true) {
        const json = statusJson(r.reply);
        if (json !== null) process.stdout.write(`${json}\n`);
        else {
          process.stderr.write(`${r.reply}\n`);
          process.exitCode = 1;
          return;
        }
      } else process.stdout.write(`${r.reply}\n`);
      process.exitCode = r.exitCode;
    });
}

/** `OK {json}` as indented JSON, or null when the reply is not an OK with JSON. */
export function statusJson(reply: string): string | null {
  const m = /^OK (\{.*\})$/s.exec(reply);
  if (!m) return null;
  try {
    return JSON.stringify(JSON.parse(m[1]!), null, 2);
  } catch {
    return null;
  }
}

export function registerSubcommands(program: Command): void {
  // `hrmr help <subcommand>` as `hrmr <subcommand> --help` (commander adds it only to programs without an action).
  program.helpCommand('help [command]', 'show help for a command (hrmr help status)');

  program
    .command('build')
    .description('compile every <src>/*.ts module into <out>/NAME.mjs with esbuild, and type-check them')
    .option('--src <dir>', 'module sources (top-level *.ts are modules; subfolders are helpers)', './modules_src')
    .option('--out <dir>', 'folder for the built modules', './modules')
    .addOption(new Option('--typecheck', 'type-check the modules; a module with type errors fails and is not written (default; env HRMR_TYPECHECK=1|0)'))
    .addOption(new Option('--no-typecheck', 'skip the type-check (esbuild only strips types)'))
    .action(async (o: { src: string; out: string; typecheck?: boolean }) => {
      const typecheck = o.typecheck ?? envBool('HRMR_TYPECHECK', process.env.HRMR_TYPECHECK) ?? true;
      const { buildAll } = await import('../build/build.ts');
      const summary = await buildAll(resolve(o.src), resolve(o.out), { typecheck });
      if (summary.results.length === 0) process.stdout.write(`no modules in ${o.src}\n`);
      for (const r of summary.results) {
        for (const w of r.warnings) process.stderr.write(`${w}\n`);
        if (r.ok) process.stdout.write(`built ${r.module} -> ${shown(r.file!)} (${r.ms} ms)\n`);
        else if (r.typeErrors) {
          const n = r.errors.length;
          process.stderr.write(`${r.errors.join('\n')}\nbuild of ${r.module} failed: ${n} type error${n === 1 ? '' : 's'} (${shown(r.entry)}; --no-typecheck skips the check)\n`);
        } else process.stderr.write(`${r.errors.join('\n')}\nbuild of ${r.module} failed (${shown(r.entry)})\n`);
      }
      for (const n of summary.removed) process.stdout.write(`removed ${shown(join(resolve(o.out), `${n}.mjs`))} (its source ${n}.ts is gone)\n`);
      const tc = summary.typecheck;
      if (tc.ran) process.stdout.write(`type-checked in ${tc.ms} ms (${tc.tsconfig !== null ? shown(tc.tsconfig) : 'default compiler options'})\n`);
      else if (tc.why === 'typescript missing') {
        const { TYPESCRIPT_MISSING } = await import('../build/typecheck.ts');
        process.stderr.write(`hrmr build: warning: ${TYPESCRIPT_MISSING}\n`);
      }
      const failed = summary.results.filter((r) => !r.ok).length;
      if (failed > 0) process.stderr.write(`hrmr build: ${failed} of ${summary.results.length} modules failed\n`);
      process.exitCode = failed > 0 ? 1 : 0;
    });

  program
    .command('new')
    .description('write a commented starter module <src>/<name>.ts')
    .argument('<name>', 'module name: a-z, 0-9, _ and -')
    .option('--prefix <prefix>', 'route prefix (default: the name upper-cased, then a space)')
    .option('--pool', 'run the handler on the worker-thread pool')
    .option('--no-pool', 'run the handler on the main thread (the default)')
    .option('--src <dir>', 'module sources folder', './modules_src')
    .addOption(new Option('--modules <dir>', 'built modules folder, checked (with the bundled modules) for a module already on the prefix').env('HRMR_MODULES').default('./modules'))
    .action(async (name: string, o: { prefix?: string; pool?: boolean; src: string; modules: string }) => {
      const { writeStarter, defaultPrefix } = await import('./scaffold.ts');
      const file = writeStarter(o.src, { name, pool: o.pool === true, ...(o.prefix !== undefined ? { prefix: o.prefix } : {}) });
      process.stdout.write(`wrote ${shown(file)}\nnext: hrmr build, then hrmr reload (or run hrmr --watch and save)\n`);
      // A prefix another module routes: the module loading first keeps it, so the new one would serve nothing.
      const prefix = o.prefix ?? defaultPrefix(name);
      const { prefixOwners } = await import('./prefix-owners.ts');
      const { hrmrRoot } = await import('../modules/bundled.ts');
      const root = hrmrRoot();
      const owners = (await prefixOwners([...(root ? [join(root, 'modules')] : []), resolve(o.modules)], prefix)).filter((x) => x.module !== name);
      for (const w of owners) {
        process.stderr.write(`hrmr new: warning: prefix ${JSON.stringify(prefix)} is taken: module ${w.module} (${shown(w.file)}) routes it, so ${name} would serve nothing beside it; choose another with --prefix\n`);
      }
    });

  addClient(program, 'reload', 'RELOAD', 'reload the modules of a running server');
  addClient(program, 'status', 'STATUS', "print a running server's status (OK {json}; --json: the JSON alone)");
  addClient(program, 'shutdown', 'SHUTDOWN', 'shut a running server down gracefully');

  program
    .command('ws')
    .description('a WebSocket client: send text frames, print each frame received on its own line (for the lhttp and relay WebSocket routes)')
    .argument('<url>', 'ws:// or wss:// URL, e.g. ws://127.0.0.1:8080/lhttp')
    .option('--send <text>', 'send one text frame once connected (repeatable; \\r \\n \\t \\\\ are interpreted)', (v: string, prev: string[]) => [...prev, v], [] as string[])
    .option('--wait <ms>', 'close and exit this long after the last send (default: stay open until Ctrl-C or SIGTERM)')
    .action(async (url: string, o: { send: string[]; wait?: string }) => {
      if (!/^wss?:\/\/\S+$/.test(url)) throw new UsageError(`hrmr ws takes a ws:// or wss:// URL (got ${JSON.stringify(url)})`);
      const waitMs = o.wait === undefined ? null : int('wait', o.wait, 0, 86_400_000);
      const { runWs } = await import('./ws-client.ts');
      process.exitCode = await runWs({ url, sends: o.send, waitMs });
    });
}
