// SPDX-License-Identifier: LGPL-3.0-or-later
/**
 * Static file benchmark: the same 1 KB and 100 KB files served by hrmr's http
 * module, by nginx (one worker, access log off) and by a plain node:http +
 * fs.readFile server, loaded with wrk (keep-alive, -t1 -c50). Prints
 * requests per second and the ratios hrmr/nginx and hrmr/plain-fs; also a
 * node:http "hello" server with the body in memory, the ceiling for any
 * node:http server. Installs wrk and nginx with apt-get when missing (nginx
 * is skipped if that fails). Everything on 127.0.0.1; every server is killed
 * at the end.
 *
 * Run alone: node bench/suites/static.mjs   (env BENCH_SECONDS=3, BENCH_ROUNDS=3:
 * each server is run ROUNDS times, interleaved, and its best run counts)
 */
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { pinning } from '../lib/config.mjs';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const SECONDS = Number(process.env.BENCH_SECONDS ?? 3);
/** Rounds interleave the servers; the best round of each counts (load spikes from elsewhere only ever lower a figure). */
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const CONNECTIONS = 50;
const FILES = [
  ['1k.txt', 1024],
  ['100k.bin', 100 * 1024],
];

function have(cmd) {
  return spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status === 0;
}

let aptUpdated = false;
/** Installs the first apt package that works; false if none could be installed. */
function aptInstall(packages, log) {
  if (process.getuid?.() !== 0 && !have('sudo')) return false;
  const sudo = process.getuid?.() === 0 ? [] : ['sudo', '-n'];
  const run = (args) => spawnSync(sudo.length ? sudo[0] : args[0], sudo.length ? [...sudo.slice(1), ...args] : args.slice(1), { stdio: 'ignore', env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' }, timeout: 300_000 }).status === 0;
  if (!aptUpdated) {
    log(`apt-get update (to install ${packages.join(' or ')})`);
    run(['apt-get', 'update', '-qq']);
    aptUpdated = true;
  }
  for (const p of packages) {
    log(`apt-get install -y ${p}`);
    if (run(['apt-get', 'install', '-y', '-qq', p])) return true;
  }
  return false;
}

function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

function waitForPort(port, timeoutMs = 10_000) {
  const deadline = Date.now() + timeoutMs;
  return new Promise((resolve, reject) => {
    const attempt = () => {
      const s = net.connect({ port, host: '127.0.0.1' }, () => {
        s.destroy();
        resolve();
      });
      s.once('error', () => {
        s.destroy();
        if (Date.now() > deadline) reject(new Error(`nothing listening on ${port}`));
        else setTimeout(attempt, 50);
      });
    };
    attempt();
  });
}

const children = new Set();
function launch(cmd, args, opts = {}) {
  // Servers on CPU 0, wrk on CPU 1 (as in the core suite), so neither side steals the other's core.
  const pin = pinning();
  const p = pin ? spawn(pin.server[0], [...pin.server.slice(1), cmd, ...args], { stdio: ['ignore', 'pipe', 'pipe'], ...opts }) : spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], ...opts });
  children.add(p);
  p.once('exit', () => children.delete(p));
  p.stdout.resume();
  p.stderr.resume();
  return p;
}
async function killAll() {
  await Promise.all(
    [...children].map(
      (p) =>
        new Promise((resolve) => {
          if (p.exitCode !== null || p.signalCode !== null) return resolve();
          p.once('exit', resolve);
          p.kill('SIGTERM');
          setTimeout(() => p.kill('SIGKILL'), 2000).unref();
        }),
    ),
  );
}
process.once('exit', () => {
  for (const p of children) p.kill('SIGKILL');
});

/** Starts hrmr with the freshly built http module; resolves with its port once it logs "listening". */
async function startHrmr(modulesDir, site) {
  const p = launch(process.execPath, [join(ROOT, 'bin', 'hrmr.mjs'), '--port', '0', '--modules', modulesDir, '--log-level', 'info', '--set', `http.root=${site}`, '--set', 'http.access-log=off'], { cwd: ROOT });
  return new Promise((resolve, reject) => {
    let buf = '';
    const t = setTimeout(() => reject(new Error('hrmr did not start')), 15_000);
    p.stdout.on('data', (d) => {
      buf += d;
      for (const line of buf.split('\n')) {
        try {
          const j = JSON.parse(line);
          if (j.msg === 'listening') {
            clearTimeout(t);
            resolve(j.port);
          }
        } catch {
          // partial line
        }
      }
    });
    p.once('exit', (code) => reject(new Error(`hrmr exited (${code})`)));
  });
}

const PLAIN_FS = `
import http from 'node:http';
import fs from 'node:fs';
import path from 'node:path';
const root = process.argv[1];
http.createServer((req, res) => {
  fs.readFile(path.join(root, decodeURIComponent(req.url.split('?')[0])), (err, data) => {
    if (err) { res.writeHead(404); res.end(); return; }
    res.writeHead(200, { 'Content-Type': 'application/octet-stream', 'Content-Length': data.length });
    res.end(data);
  });
}).listen(Number(process.argv[2]), '127.0.0.1');
`;
const HELLO = `
import http from 'node:http';
import fs from 'node:fs';
import path from 'node:path';
const bodies = new Map(fs.readdirSync(process.argv[1]).map((n) => ['/' + n, fs.readFileSync(path.join(process.argv[1], n))]));
http.createServer((req, res) => {
  const b = bodies.get(req.url);
  res.writeHead(200, ['Content-Type', 'application/octet-stream', 'Content-Length', String(b.length)]);
  res.end(b);
}).listen(Number(process.argv[2]), '127.0.0.1');
`;

async function startNode(source, site) {
  const port = await freePort();
  launch(process.execPath, ['--input-type=module', '-e', source, site, String(port)]);
  await waitForPort(port);
  return port;
}

async function startNginx(site, work) {
  const port = await freePort();
  const prefix = join(work, 'nginx');
  mkdirSync(join(prefix, 'logs'), { recursive: true });
  mkdirSync(join(prefix, 'tmp'), { recursive: true });
  const conf = join(prefix, 'nginx.conf');
  const t = join(prefix, 'tmp');
  writeFileSync(
    conf,
    `worker_processes 1;
daemon off;
master_process on;
error_log ${join(prefix, 'logs', 'error.log')} warn;
pid ${join(prefix, 'nginx.pid')};
events { worker_connections 4096; }
http {
  access_log off;
  sendfile on;
  tcp_nopush on;
  keepalive_requests 1000000;
  default_type application/octet-stream;
  client_body_temp_path ${t}; proxy_temp_path ${t}; fastcgi_temp_path ${t}; uwsgi_temp_path ${t}; scgi_temp_path ${t};
  server { listen 127.0.0.1:${port}; root ${site}; }
}
`,
  );
  const bin = have('nginx') ? 'nginx' : '/usr/sbin/nginx';
  launch(bin, ['-p', prefix, '-c', conf]);
  await waitForPort(port);
  return port;
}

/** One wrk run; resolves with requests per second (throws on socket errors or non-2xx answers). */
function wrk(url, seconds) {
  const pin = pinning();
  const args = ['-t1', `-c${CONNECTIONS}`, `-d${seconds}s`, '--latency', url];
  const out = pin ? execFileSync(pin.load[0], [...pin.load.slice(1), 'wrk', ...args], { encoding: 'utf8', timeout: (seconds + 30) * 1000 }) : execFileSync('wrk', args, { encoding: 'utf8', timeout: (seconds + 30) * 1000 });
  const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(out)?.[1]);
  if (/Non-2xx/.test(out)) throw new Error(`non-2xx answers from ${url}:\n${out}`);
  if (!Number.isFinite(rps)) throw new Error(`cannot read wrk output:\n${out}`);
  return rps;
}

export async function run({ log = console.log } = {}) {
  if (!have('wrk') && !aptInstall(['wrk'], log)) {
    log('static: wrk is not installed and could not be installed; skipped');
    return [];
  }
  const nginx = have('nginx') || existsSync('/usr/sbin/nginx') || aptInstall(['nginx-light', 'nginx'], log);
  if (!nginx) log('static: nginx could not be installed; the nginx comparison is skipped');
  if (!existsSync(join(ROOT, 'dist', 'hrmr.mjs'))) execFileSync(process.execPath, [join(ROOT, 'scripts', 'build-core.mjs')], { stdio: 'inherit' });

  const work = mkdtempSync(join(tmpdir(), 'hrmr-bench-static-'));
  const site = join(work, 'site');
  const modules = join(work, 'modules');
  mkdirSync(site);
  // nginx workers run as an unprivileged user: they must be able to read the site.
  chmodSync(work, 0o755);
  chmodSync(site, 0o755);
  for (const [name, size] of FILES) {
    const b = Buffer.alloc(size);
    for (let i = 0; i < size; i++) b[i] = 97 + (i % 26);
    writeFileSync(join(site, name), b);
  }
  const { build } = await import('esbuild');
  await build({ entryPoints: [join(ROOT, 'modules_src', 'http.ts')], outfile: join(modules, 'http.mjs'), bundle: true, format: 'esm', platform: 'node', target: 'node20.19', packages: 'external', logLevel: 'silent' });

  const rows = [];
  try {
    const servers = [['hrmr', await startHrmr(modules, site)]];
    if (nginx) servers.push(['nginx', await startNginx(site, work)]);
    servers.push(['plain-fs', await startNode(PLAIN_FS, site)]);
    servers.push(['node-hello', await startNode(HELLO, site)]);
    const rps = {};
    for (const [file] of FILES) {
      for (const [, port] of servers) wrk(`http://127.0.0.1:${port}/${file}`, 1); // warm-up (JIT, caches)
      for (let round = 0; round < ROUNDS; round++) {
        for (const [name, port] of servers) {
          const r = wrk(`http://127.0.0.1:${port}/${file}`, SECONDS);
          const k = `${name} ${file}`;
          rps[k] = Math.max(rps[k] ?? 0, r);
          log(`static: round ${round + 1} ${name.padEnd(10)} ${file.padEnd(8)} ${Math.round(r)} req/s`);
        }
      }
    }
    for (const [file] of FILES) {
      const hr = rps[`hrmr ${file}`];
      for (const base of ['nginx', 'plain-fs', 'node-hello']) {
        const b = rps[`${base} ${file}`];
        if (b === undefined) continue;
        rows.push({ name: `http ${file} hrmr/${base}`, rps: Math.round(hr), baseline: Math.round(b), ratio: Math.round((hr / b) * 100) / 100 });
      }
    }
    log('');
    log(`static files, wrk -t1 -c${CONNECTIONS} -d${SECONDS}s, keep-alive, best of ${ROUNDS}`);
    log('file      hrmr req/s   baseline        req/s   ratio');
    for (const r of rows) {
      const [, file, pair] = r.name.split(' ');
      log(`${file.padEnd(9)} ${String(r.rps).padStart(10)}   ${pair.split('/')[1].padEnd(10)} ${String(r.baseline).padStart(10)}   ${r.ratio.toFixed(2)}`);
    }
  } finally {
    await killAll();
    rmSync(work, { recursive: true, force: true });
  }
  return rows;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  run().then(
    () => process.exit(0),
    (err) => {
      console.error(err);
      process.exit(1);
    },
  );
}
