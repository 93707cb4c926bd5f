// SPDX-License-Identifier: LGPL-3.0-or-later
/** Subcommands: build, new, and the admin client (reload, status, shutdown). */
import { relative, resolve } from 'node:path';
import { Option, type Command } from 'commander';
import { UsageError } from '../errors.ts';
import { int } from './options.ts';

interface ClientOptions {
  port: string;
  host: string;
  adminToken?: string;
  timeout: string;
}

function shown(file: string): string {
  return relative(process.cwd(), file) || file;
}

/** The admin-client subcommands share their options; they are declared on each subcommand (the root has its own --port). */
function addClient(program: Command, name: string, command: 'RELOAD' | 'STATUS' | 'SHUTDOWN', description: string): void {
  program
    .command(name)
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
      if (r.reply !== null) process.stdout.write(`${r.reply}\n`);
      else process.stderr.write(`hrmr: ${r.problem}\n`);
      process.exitCode = r.exitCode;
    });
}

export function registerSubcommands(program: Command): void {
  program
    .command('build')
    .description('compile every <src>/*.ts module into <out>/NAME.mjs with esbuild')
    .option('--src <dir>', 'module sources (top-level *.ts are modules; subfolders are helpers)', './modules_src')
    .option('--out <dir>', 'folder for the built modules', './modules')
    .action(async (o: { src: string; out: string }) => {
      const { buildAll } = await import('../build/build.ts');
      const summary = await buildAll(resolve(o.src), resolve(o.out));
      if (summary.results.length === 0) process.stdout.write(`no modules in ${o.src}\n`);
      for (const r of summary.results) {
        for (const w of r.warnings) process.stderr.write(`${w}\n`);
        if (r.ok) process.stdout.write(`built ${r.module} -> ${shown(r.file!)} (${r.ms} ms)\n`);
        else process.stderr.write(`${r.errors.join('\n')}\nbuild of ${r.module} failed (${shown(r.entry)})\n`);
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
    .option('--src <dir>', 'module sources folder', './modules_src')
    .action(async (name: string, o: { prefix?: string; pool?: boolean; src: string }) => {
      const { writeStarter } = await import('./scaffold.ts');
      const file = writeStarter(o.src, { name, pool: o.pool === true, ...(o.prefix !== undefined ? { prefix: o.prefix } : {}) });
      process.stdout.write(`wrote ${shown(file)}\nnext: hrmr build, then hrmr reload (or run hrmr --watch and save)\n`);
    });

  addClient(program, 'reload', 'RELOAD', 'reload the modules of a running server');
  addClient(program, 'status', 'STATUS', "print a running server's status (OK {json})");
  addClient(program, 'shutdown', 'SHUTDOWN', 'shut a running server down gracefully');
}
