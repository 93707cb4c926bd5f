#!/usr/bin/env node
// SPDX-License-Identifier: LGPL-3.0-or-later
/**
 * The rhttp bench's service: one handler (`GET /hello` -> `{"msg":"hello"}`)
 * served two ways from one process:
 *  - as an RHTTP service over Redis, the way `rhttp_node` does it (string
 *    messages, parse on \r\n, headers split on ':', response text with
 *    Content-Length, X-RES-SERVER, Content-Type, X-Socket-ID; REJECT_PIPE for
 *    unknown endpoints; acknowledges every BEAT);
 *  - over plain node:http (the baseline).
 * Usage: rhttp-service.mjs REDIS_URL; prints {"msg":"ready","port":N} once both are up.
 */
import http from 'node:http';
import { Redis } from 'ioredis';

const NAME = 'benchsvc';
const url = process.argv[2];

/** The service logic both sides share. */
function handle(method, path) {
  if (method === 'GET' && path === '/hello') return { status: 200, type: 'application/json', body: '{"msg":"hello"}' };
  return null;
}

const sub = new Redis(url, { maxRetriesPerRequest: null });
const pub = new Redis(url, { maxRetriesPerRequest: null });
sub.on('message', (channel, text) => {
  if (channel === 'HEARTBEAT') {
    void pub.publish('ACKNOWLEDGE_PIPE', `${NAME}\u000eNODEJS`);
    return;
  }
  const lines = text.split('\r\n');
  const [method, path] = lines[0].split(' ');
  let id = '';
  for (let i = 1; i < lines.length && lines[i] !== ''; i++) {
    const parts = lines[i].split(':');
    if (parts[0].trim() === 'X-Socket-ID') id = (parts[1] ?? '').trim();
  }
  const out = handle(method, path);
  if (out === null) {
    void pub.publish('REJECT_PIPE', id);
    return;
  }
  void pub.publish('RESPONSE_PIPE', `HTTP/1.1 ${out.status} ${http.STATUS_CODES[out.status]}\r\nContent-Length: ${out.body.length}\r\nX-RES-SERVER: ${NAME}\r\nContent-Type: ${out.type}\r\nX-Socket-ID: ${id}\r\n\r\n${out.body}`);
});
await sub.subscribe('REQUEST_PIPE', 'HEARTBEAT');

const server = http.createServer((req, res) => {
  const out = handle(req.method, req.url);
  if (out === null) {
    res.writeHead(404, { 'Content-Length': 0 });
    res.end();
    return;
  }
  res.writeHead(out.status, { 'Content-Length': out.body.length, 'X-RES-SERVER': NAME, 'Content-Type': out.type });
  res.end(out.body);
});
server.keepAliveTimeout = 30_000;
server.listen(0, '127.0.0.1', () => {
  process.stdout.write(JSON.stringify({ msg: 'ready', port: server.address().port }) + '\n');
});
process.on('SIGTERM', () => {
  sub.disconnect();
  pub.disconnect();
  server.close();
  server.closeAllConnections();
});
