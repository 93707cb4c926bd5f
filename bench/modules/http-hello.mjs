// SPDX-License-Identifier: LGPL-3.0-or-later
/**
 * Bench module: an HTTP "hello" stream route. Node's own HTTP parser is fed
 * the routed socket, so everything after the peek is exactly what a plain
 * `node:http` server does. The baseline (bench/lib/plain-servers.mjs) runs
 * the same `hello` handler on `http.createServer`.
 */
import http from 'node:http';

export function hello(req, res) {
  res.end('hello');
}

let server = null;

export default {
  name: 'http-hello',
  routes: [
    {
      prefix: 'GET ',
      connection(socket) {
        server.emit('connection', socket);
      },
    },
  ],
  setup() {
    server = http.createServer(hello);
  },
  dispose() {
    server?.close();
    server = null;
  },
};
