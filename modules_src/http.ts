// SPDX-License-Identifier: LGPL-3.0-or-later
/**
 * The static HTTP module: serves files under a root folder (default
 * `./static_html`) over HTTP/1.1 with node's own parser. See docs/http.md.
 */
import type { Module, SetupContext, StreamRoute } from '../shared/index.ts';
import { existsSync } from 'node:fs';
import type { Socket } from 'node:net';
import { parseOptions } from './http/config.ts';
import { StaticServer } from './http/static-server.ts';

let server: StaticServer | null = null;

const connection = (socket: Socket): void => {
  if (server === null) {
    socket.destroy();
    return;
  }
  server.accept(socket);
};

const METHODS = ['GET ', 'HEAD ', 'POST ', 'PUT ', 'DELETE ', 'PATCH ', 'OPTIONS '];

const mod: Module = {
  name: 'http',
  routes: METHODS.map((prefix): StreamRoute => ({ prefix, connection })),
  setup(ctx: SetupContext): void {
    // Connections are only ever handled on the main thread.
    if (ctx.thread !== 'main') return;
    const opts = parseOptions(ctx.config, process.cwd());
    if (!existsSync(opts.root)) ctx.log.warn({ root: opts.root }, 'http root folder does not exist: every request gets 404');
    server = new StaticServer(opts, ctx.log);
    ctx.log.info({ root: opts.root, accessLog: opts.accessLog, cacheMaxFile: opts.cacheMaxFile, cacheSize: opts.cacheSize }, 'http serving');
  },
  dispose(): void {
    server?.close();
    server = null;
  },
};

export default mod;
