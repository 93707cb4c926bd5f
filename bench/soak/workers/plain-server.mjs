// SPDX-License-Identifier: LGPL-3.0-or-later
/** Baseline for the connection rate: a plain `net` server answering `HELLO` to the first bytes and closing. */
import net from 'node:net';
import { config, report } from './common.mjs';

await config();
const server = net.createServer({ noDelay: true }, (s) => {
  s.on('error', () => undefined);
  s.once('data', () => s.end('HELLO\n'));
});
server.listen({ port: 0, host: '127.0.0.1', backlog: 4096 }, () => report({ type: 'listening', port: server.address().port }));
