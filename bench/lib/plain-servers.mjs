// SPDX-License-Identifier: LGPL-3.0-or-later
/**
 * The baselines for the core suite, run as their own process (pinned like
 * hrmr): the very handlers of bench/modules/*.mjs on plain `net` and
 * `node:http` servers, no router in between. Prints one JSON line
 * `{"ready":true,"ports":{...}}` once every server listens.
 *
 * Usage: node bench/lib/plain-servers.mjs
 */
import http from 'node:http';
import net from 'node:net';
import { hello } from '../modules/http-hello.mjs';
import { echo, pong } from '../modules/line.mjs';

/** A plain line splitter calling the message handler per line, as a hand-written server would. */
function lineServer(handler) {
  return net.createServer({ noDelay: true }, (socket) => {
    let carry = null;
    socket.on('error', () => undefined);
    socket.on('data', (chunk) => {
      let buf = carry === null ? chunk : Buffer.concat([carry, chunk]);
      carry = null;
      let start = 0;
      let nl;
      while ((nl = buf.indexOf(10, start)) >= 0) {
        const end = nl > start && buf[nl - 1] === 13 ? nl - 1 : nl;
        const reply = handler(buf.subarray(start, end));
        if (reply != null) socket.write(reply);
        start = nl + 1;
      }
      if (start < buf.length) carry = buf.subarray(start);
    });
  });
}

function listen(server) {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen({ port: 0, host: '127.0.0.1', backlog: 4096 }, () => resolve(server.address().port));
  });
}

const servers = {
  message: lineServer(pong),
  stream: net.createServer({ noDelay: true }, (socket) => {
    socket.on('error', () => undefined);
    echo(socket);
  }),
  http: http.createServer(hello),
  // The floor of any router that peeks in JavaScript: read the first chunk,
  // then hand the socket and the chunk to node:http (what hrmr's HTTP path
  // does at the least). Its distance from `http` is what peeking itself
  // costs, with none of hrmr's per-connection work.
  httpPeek: (() => {
    const inner = http.createServer(hello);
    return net.createServer({ noDelay: true, allowHalfOpen: true }, (socket) => {
      socket.on('error', () => undefined);
      socket.once('data', (chunk) => {
        inner.emit('connection', socket);
        socket.emit('data', chunk);
      });
    });
  })(),
};
const ports = {};
for (const [name, server] of Object.entries(servers)) ports[name] = await listen(server);
process.stdout.write(JSON.stringify({ ready: true, ports }) + '\n');

const shutdown = () => {
  for (const s of Object.values(servers)) s.close();
  process.exit(0);
};
process.on('SIGTERM', shutdown);
process.on('SIGINT', shutdown);
