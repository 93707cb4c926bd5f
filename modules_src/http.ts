// SPDX-License-Identifier: LGPL-3.0-or-later
/**
 * The static HTTP module: serves files under a root folder (default
 * `./static_html`) at the path `/` (`--set http.mount=/static/` to move it)
 * through the core's HTTP host. See docs/http.md.
 */
import type { HttpRoute, Module, SetupContext } from '../shared/index.ts';
import { existsSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { parseOptions } from './http/config.ts';
import { StaticServer } from './http/static-server.ts';

let server: StaticServer | null = null;

const request = (req: IncomingMessage, res: ServerResponse): void => {
  if (server === null) {
    res.writeHead(503, { 'Content-Type': 'text/plain; charset=utf-8', 'Retry-After': '1' }).end('503 Service Unavailable\n');
    return;
  }
  server.handle(req, res);
};

const mod = {
  name: 'http',
  // Validated again (with every error) in setup; here only the mount matters.
  routes: (config): HttpRoute[] => [{ http: parseOptions(config, process.cwd()).mount, methods: ['GET'], request }],
  setup(ctx: SetupContext): void {
    // Requests are only ever handled on the main thread.
    if (ctx.thread !== 'main') return;
    const opts = parseOptions(ctx.config, process.cwd());
    if (!existsSync(opts.root)) ctx.log.warn({ root: opts.root }, 'http root folder does not exist: every request gets 404');
    server = new StaticServer(opts, ctx.log);
    ctx.log.info({ root: opts.root, mount: opts.mount, accessLog: opts.accessLog, cacheMaxFile: opts.cacheMaxFile, cacheSize: opts.cacheSize }, 'http serving');
  },
  dispose(): void {
    server?.close();
    server = null;
  },
  /** What STATUS shows: the memory cache (files held, request spellings pointing at them, bytes, files read so far). */
  status(): unknown {
    return server === null ? null : { cache: server.cache.status() };
  },
} satisfies Module & { status(): unknown };

export default mod;
