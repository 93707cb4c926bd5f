// SPDX-License-Identifier: LGPL-3.0-or-later
/**
 * Reload-under-load client: `conns` connections, half on the PING message
 * route and half on the STRM stream route, each doing request/response in a
 * loop and reconnecting every `reqsPerConn` requests, until told to stop.
 * Counts correct replies, wrong ones, lost ones (closed or timed out with a
 * request outstanding), connection errors and 503s (only valid as the first
 * reply on a new connection).
 */
import net from 'node:net';
import { config, report, waitFor } from './common.mjs';

const c = await config();
const r = { ok: 0, wrong: 0, lost: 0, connErrors: 0, r503: 0, connections: 0, samples: [] };
const tags = new Set();
let stopping = false;

function sample(what) {
  if (r.samples.length < 10) r.samples.push(what);
}

/** One connection: resolves when done (after reqsPerConn requests, a 503, or a failure). */
function session(kind, seq) {
  return new Promise((resolve) => {
    r.connections++;
    const s = net.connect({ port: c.port, host: '127.0.0.1', localAddress: c.localAddress });
    s.setNoDelay(true);
    s.setEncoding('latin1');
    let buf = '';
    let n = 0;
    let expect = null;
    let done = false;
    let timer = null;
    const finish = () => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      s.destroy();
      resolve();
    };
    const send = () => {
      if (stopping || n >= c.reqsPerConn) return finish();
      n++;
      const id = `${seq}.${n}`;
      const line = kind === 'ping' ? `PING ${id}` : `STRM ${id}`;
      expect = kind === 'ping' ? `PONG ${id} ` : line;
      s.write(line + '\n');
      clearTimeout(timer);
      timer = setTimeout(() => {
        r.lost++;
        sample(`timeout ${kind} ${id}`);
        finish();
      }, 10_000);
    };
    s.once('connect', send);
    s.on('data', (d) => {
      buf += d;
      let i;
      while (!done && (i = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, i);
        buf = buf.slice(i + 1);
        if (line.startsWith('HTTP/1.1 503')) {
          if (n === 1) r.r503++;
          else {
            r.wrong++;
            sample(`503 mid-connection (${kind})`);
          }
          expect = null;
          return finish();
        }
        const ok = kind === 'ping' ? line.startsWith(expect) && line.length > expect.length : line === expect;
        if (ok) {
          r.ok++;
          if (kind === 'ping') tags.add(line.slice(expect.length));
        } else {
          r.wrong++;
          sample(`${kind}: expected ${JSON.stringify(expect)} got ${JSON.stringify(line.slice(0, 80))}`);
        }
        expect = null;
        send();
      }
    });
    s.on('error', (e) => {
      if (done) return;
      r.connErrors++;
      sample(`${kind}: ${e.code ?? e.message}`);
      finish();
    });
    s.on('close', () => {
      if (done) return;
      if (expect !== null) {
        r.lost++;
        sample(`${kind}: closed with a request outstanding`);
      }
      finish();
    });
  });
}

async function loop(kind, k) {
  let seq = 0;
  while (!stopping) await session(kind, `${k}-${seq++}`);
}

const loops = [];
for (let k = 0; k < c.conns; k++) loops.push(loop(k % 2 === 0 ? 'ping' : 'strm', k));
report({ type: 'started' });
await waitFor('stop');
stopping = true;
await Promise.race([Promise.all(loops), new Promise((res) => setTimeout(res, 12_000))]);
report({ type: 'done', ...r, tags: tags.size });
setTimeout(() => process.exit(0), 50);
