// SPDX-License-Identifier: LGPL-3.0-or-later
/** Subcommands: build, new, and the admin client (reload, status, shutdown). */
import type { Command } from 'commander';

export function registerSubcommands(_program: Command): void {}
