// SPDX-License-Identifier: LGPL-3.0-or-later
/**
 * One bot of the fleet test, as its own process: N increments of a shared
 * counter plus N inserts through hrmr, over HTTP keep-alive or the line
 * protocol. Prints one JSON line: {ok, failed, errors}.
 * Usage: node db-fleet-client.mjs PORT http|line CLIENT_ID N sqlite|postgres
 */
import http from 'node:http';
import net from 'node:net';

const [port, mode, id, n, dialect] = [Number(process.argv[2]), process.argv[3], Number(process.argv[4]), Number(process.argv[5]), process.argv[6]];
const ph = (i) => (dialect === 'postgres' ? `$${i}` : '?');
const statements = (i) => [
  { sql: 'UPDATE counter SET n = n + 1 WHERE id = 1' },
  { sql: `INSERT INTO events (client, i) VALUES (${ph(1)}, ${ph(2)})`, params: [id, i] },
];
let ok = 0;
let failed = 0;
const errors = [];
const deadline = setTimeout(() => {
  console.log(JSON.stringify({ ok, failed, errors: [...errors, 'deadline: 90 s'] }));
  process.exit(1);
}, 90_000);

function note(good, what) {
  if (good) ok++;
  else {
    failed++;
    if (errors.length < 5) errors.push(what);
  }
}

if (mode === 'http') {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  const post = (body) =>
    new Promise((resolve) => {
      const data = JSON.stringify(body);
      const req = http.request({ host: '127.0.0.1', port, path: '/db/query', method: 'POST', agent, headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(data) } }, (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (d) => (text += d));
        res.on('end', () => resolve({ status: res.statusCode, text }));
      });
      req.on('error', (e) => resolve({ status: 0, text: e.message }));
      req.end(data);
    });
  for (let i = 0; i < n; i++) {
    for (const st of statements(i)) {
      const r = await post(st);
      note(r.status === 200 && r.text.includes('"changes":1'), `${r.status} ${r.text}`);
    }
  }
  agent.destroy();
} else {
  const sock = net.connect(port, '127.0.0.1');
  sock.setEncoding('utf8');
  let buf = '';
  const waiting = [];
  sock.on('data', (d) => {
    buf += d;
    let k;
    while ((k = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, k);
      buf = buf.slice(k + 1);
      waiting.shift()?.(line);
    }
  });
  sock.on('close', () => {
    while (waiting.length) waiting.shift()('(closed)');
  });
  await new Promise((r) => sock.once('connect', r));
  const ask = (body) => new Promise((resolve) => (waiting.push(resolve), sock.write(`DB ${JSON.stringify(body)}\n`)));
  for (let i = 0; i < n; i++) {
    // The two statements of one step in flight together.
    const replies = await Promise.all(statements(i).map(ask));
    for (const line of replies) note(line.startsWith('OK {"changes":1'), line);
  }
  sock.destroy();
}
clearTimeout(deadline);
console.log(JSON.stringify({ ok, failed, errors }));
