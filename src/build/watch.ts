// SPDX-License-Identifier: LGPL-3.0-or-later
import type { Logger } from 'pino';
import type { HrmrServer } from '../server.ts';

export async function startWatch(_o: { srcDir: string; outDir: string; server: HrmrServer; log: Logger }): Promise<void> {}
