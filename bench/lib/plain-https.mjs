// SPDX-License-Identifier: LGPL-3.0-or-later
/**
 * The baseline for the tls suite, run as its own process (pinned like
 * hrmr): the hello handler of bench/modules/http-hello.mjs on a plain
 * `node:https` server with the same certificate hrmr uses. Prints one JSON
 * line `{"ready":true,"port":N}` once it listens.
 *
 * Usage: node bench/lib/plain-https.mjs CERT KEY
 */
import { readFileSync } from 'node:fs';
import https from 'node:https';
import { hello } from '../modules/http-hello.mjs';

const [cert, key] = process.argv.slice(2);
const server = https.createServer({ cert: readFileSync(cert), key: readFileSync(key) }, hello);
server.listen({ port: 0, host: '127.0.0.1', backlog: 4096 }, () => {
  process.stdout.write(JSON.stringify({ ready: true, port: server.address().port }) + '\n');
});
const shutdown = () => {
  server.close();
  process.exit(0);
};
process.on('SIGTERM', shutdown);
process.on('SIGINT', shutdown);
