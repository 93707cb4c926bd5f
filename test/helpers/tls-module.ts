// SPDX-License-Identifier: LGPL-3.0-or-later
/** A test module that reports what it sees of a connection (ctx.tls, the peer) over HTTP, WebSocket and a line protocol. */
export const INFO_MODULE = `import { createHash } from 'node:crypto';
import { WebSocketServer } from 'ws';
let wss;
const info = (ctx) => JSON.stringify({ tls: ctx.tls ?? null, peer: ctx.remoteAddress, port: ctx.remotePort });
export default {
  routes: [
    { http: '/', request(req, res, ctx) { res.setHeader('content-type', 'application/json'); res.end(info(ctx)); },
      upgrade(req, socket, head, ctx) { wss.handleUpgrade(req, socket, head, (ws) => { ws.send(info(ctx)); ws.on('message', (m) => ws.send('echo:' + m)); }); } },
    { prefix: 'HASH ', message(msg) { const [, alg, text] = msg.toString().split(' '); return createHash(alg).update(text).digest('hex') + '\\n'; } },
    { prefix: 'INFO', message(msg, ctx) { return info(ctx) + '\\n'; } },
    { prefix: 'PINFO', pool: true, message(msg, ctx) { return info(ctx) + '\\n'; } },
    { http: '/pool', pool: true, request(req, ctx) { return { body: info(ctx) }; } },
  ],
  setup(ctx) { if (ctx.thread === 'main') wss = new WebSocketServer({ noServer: true }); },
  dispose() { wss?.close(); },
};
`;
