// SPDX-License-Identifier: LGPL-3.0-or-later
/**
 * The `hrmr` command. Without a subcommand it runs the server; subcommands
 * build modules, scaffold one, or talk to a running server.
 */
import { Command, CommanderError } from 'commander';
import { UsageError } from '../errors.ts';
import { normalizeArgv } from './argv.ts';
import { addServerOptions, OTHER_FLAGS, SERVER_FLAGS, validateServerOptions, type RawServerOptions } from './options.ts';
import { runServer } from './run-server.ts';
import { registerSubcommands } from './subcommands.ts';

export const EXIT_USAGE = 2;

function fail(message: string): never {
  process.stderr.write(`hrmr: ${message}\n`);
  process.exit(EXIT_USAGE);
}

export async function main(argv: readonly string[]): Promise<void> {
  const program = new Command('hrmr')
    .description('Hot-reloadable module router: one TCP port, many protocols.')
    .version(process.env.npm_package_version ?? '0.1.0')
    .enablePositionalOptions()
    .showSuggestionAfterError(true)
    .exitOverride()
    .configureOutput({ writeErr: (s) => process.stderr.write(s) });
  addServerOptions(program).action(async (raw: RawServerOptions) => {
    let opts;
    try {
      opts = validateServerOptions(raw);
    } catch (err) {
      if (err instanceof UsageError) fail(err.message);
      throw err;
    }
    await runServer(opts);
  });
  registerSubcommands(program);
  for (const sub of program.commands) sub.exitOverride();

  // `hrmr sttaus`: the server takes no arguments, so commander would only say "too many arguments".
  const first = argv[0];
  if (first !== undefined && first !== 'help' && /^[a-z][\w-]*$/i.test(first) && !program.commands.some((c) => c.name() === first || c.aliases().includes(first))) {
    fail(`unknown command '${first}' (commands: ${[...program.commands.map((c) => c.name()), 'help'].join(', ')})`);
  }

  const names = new Set<string>([...SERVER_FLAGS, ...OTHER_FLAGS]);
  try {
    await program.parseAsync(normalizeArgv(argv, names), { from: 'user' });
  } catch (err) {
    if (err instanceof CommanderError) {
      // Help asked for exits 0; help shown for a mistake (`hrmr help nosuch`) is a usage error.
      if (err.code === 'commander.helpDisplayed' || err.code === 'commander.version' || err.code === 'commander.help') process.exit(err.exitCode === 0 ? 0 : EXIT_USAGE);
      process.exit(EXIT_USAGE);
    }
    if (err instanceof UsageError) fail(err.message);
    throw err;
  }
}
