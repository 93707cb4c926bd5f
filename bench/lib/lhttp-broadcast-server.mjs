// SPDX-License-Identifier: LGPL-3.0-or-later
/**
 * The lhttp suite's reference: a minimal `ws` broadcast server (what a
 * hand-written fan-out would be): every message a client sends goes, as is,
 * to every other client. No parsing, no channels. Prints one JSON line
 * `{"ready":true,"port":N}` once it listens.
 *
 * Usage: node bench/lib/lhttp-broadcast-server.mjs
 */
import http from 'node:http';
import { WebSocketServer } from 'ws';

const server = http.createServer((_req, res) => res.writeHead(426).end());
const wss = new WebSocketServer({ server, perMessageDeflate: false, maxPayload: 1024 * 1024 });
const clients = new Set();
wss.on('connection', (ws) => {
  clients.add(ws);
  ws.on('error', () => undefined);
  ws.on('close', () => clients.delete(ws));
  ws.on('message', (data, isBinary) => {
    for (const c of clients) if (c !== ws && c.readyState === 1) c.send(data, { binary: isBinary });
  });
});
server.listen({ port: 0, host: '127.0.0.1', backlog: 4096 }, () => {
  process.stdout.write(JSON.stringify({ ready: true, port: server.address().port }) + '\n');
});
const shutdown = () => process.exit(0);
process.on('SIGTERM', shutdown);
process.on('SIGINT', shutdown);
