// SPDX-License-Identifier: LGPL-3.0-or-later
// Load client for line protocols, run as a child process so it does not share
// the server's event loop. Holds C connections, each keeping W requests in
// flight, for D ms; checks every reply and prints one JSON line of counts.
//   node bench/clients/pipeline.mjs PORT CONNS WINDOW DURATION_MS 'REQ' 'EXPECTED_REPLY_PREFIX'
import net from 'node:net';

const [port, conns, window, duration] = process.argv.slice(2, 6).map(Number);
const req = process.argv[6].replace(/\\n/g, '\n');
const expect = process.argv[7] ?? '';
const line = Buffer.from(req.endsWith('\n') ? req : req + '\n');
let ok = 0;
let bad = 0;
let errors = 0;
let stop = false;
const started = Date.now();

function client() {
  return new Promise((resolve) => {
    const s = net.connect({ port, host: '127.0.0.1', noDelay: true });
    let buf = '';
    let inFlight = 0;
    const fill = () => {
      while (!stop && inFlight < window) {
        inFlight++;
        s.write(line);
      }
    };
    s.on('connect', fill);
    s.setEncoding('utf8');
    s.on('data', (d) => {
      buf += d;
      let i;
      while ((i = buf.indexOf('\n')) >= 0) {
        const r = buf.slice(0, i);
        buf = buf.slice(i + 1);
        inFlight--;
        if (r.startsWith(expect)) ok++;
        else bad++;
      }
      if (stop) {
        if (inFlight === 0) s.end();
      } else fill();
    });
    s.on('error', () => errors++);
    s.on('close', resolve);
  });
}

setTimeout(() => (stop = true), duration);
const all = Array.from({ length: conns }, client);
const hard = setTimeout(() => process.exit(3), duration + 10_000);
await Promise.all(all);
clearTimeout(hard);
process.stdout.write(JSON.stringify({ ok, bad, errors, ms: Date.now() - started, rps: Math.round((ok * 1000) / duration) }) + '\n');
