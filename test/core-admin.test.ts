// SPDX-License-Identifier: LGPL-3.0-or-later
// Admin sessions: STATUS, CLOSE, command lines, --admin-token, SHUTDOWN draining, signals.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawnSync } from 'node:child_process';
import { existsSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { admin, connect, exchange, LineClient, startHrmr, tempDir, waitUntil } from './helpers/hrmr.ts';
import { isLoopback } from '../src/admin/session.ts';

const OTHER = `export default { routes: [{ prefix: 'OTHER', message: () => 'other\\n' }] };`;
function slow(marks: string, label = 'a'): string {
  return `import { writeFileSync } from 'node:fs';
export default { name: 'slow', routes: [
  { prefix: 'SLOW', message: async () => { writeFileSync(${JSON.stringify(marks)} + '/started', 'x'); await new Promise((r) => setTimeout(r, 400)); return 'slow done ${label}\\n'; } },
  { prefix: 'HOLD', connection: (s) => { s.on('data', () => {}); } },
  { prefix: 'V', message: (m, ctx) => '${label} v' + ctx.version + '\\n' },
], dispose() { writeFileSync(${JSON.stringify(marks)} + '/disposed-${label}', 'x'); } };`;
}
function marks(t: { after(fn: () => void): void }): string {
  const d = tempDir('hrmr-marks-');
  t.after(() => rmSync(d, { recursive: true, force: true }));
  return d;
}

interface Status {
  connections: number;
  adminSessions: number;
  reloads: number;
  modules: Array<{ name: string; version: number; connections: number; routes: Array<{ prefix: string; kind: string; connections: number }> }>;
}
const status = async (port: number): Promise<Status> => {
  const r = await admin(port, 'STATUS');
  assert.match(r, /^OK \{.*\}$/);
  return JSON.parse(r.slice(3)) as Status;
};

test('STATUS: one line of JSON with modules, versions, routes, connections and the reload count', async (t) => {
  const m = marks(t);
  const h = await startHrmr({ modules: { slow: slow(m), other: OTHER } });
  t.after(() => h.kill());
  const st0 = await status(h.port);
  assert.equal(st0.reloads, 0, 'the start-up load is not a RELOAD');
  assert.deepEqual(st0.modules.map((x) => [x.name, x.version]), [['other', 1], ['slow', 1]]);
  assert.deepEqual(st0.modules[1]!.routes.map((r) => [r.prefix, r.kind]), [['SLOW', 'message'], ['HOLD', 'stream'], ['V', 'message']]);
  const held = await connect(h.port);
  held.write('HOLD');
  const st1 = await waitUntil(async () => {
    const s = await status(h.port);
    return s.modules[1]!.connections === 1 ? s : null;
  }, 'the held connection to show');
  assert.equal(st1.modules[1]!.routes[1]!.connections, 1);
  // The held client connection; this admin session is counted apart.
  assert.equal(st1.connections, 1);
  assert.ok(st1.adminSessions >= 1, 'this STATUS session');
  h.writeModule('slow', slow(m, 'b'));
  assert.match(await admin(h.port, 'RELOAD'), /^OK reloaded 2 modules/);
  assert.match(await admin(h.port, 'RELOAD'), /^OK reloaded 2 modules/);
  const st2 = await status(h.port);
  assert.equal(st2.reloads, 2);
  assert.equal(st2.modules[1]!.version, 2);
  held.destroy();
});

test('an admin session takes many commands, with \\n or \\r\\n; CLOSE says OK bye and closes', async (t) => {
  const h = await startHrmr({ modules: { other: OTHER } });
  t.after(() => h.kill());
  const got = await exchange(h.port, 'STATUS\r\nRELOAD\r\nnonsense\nSTATUS\nCLOSE\nSTATUS\n');
  const lines = got.split('\n');
  assert.equal(lines.length, 6, got);
  assert.match(lines[0]!, /^OK \{/);
  assert.match(lines[1]!, /^OK reloaded 1 modules in \d+ ms$/);
  assert.match(lines[2]!, /^ERR /);
  assert.match(lines[3]!, /^OK \{/);
  assert.equal(lines[4], 'OK bye');
  assert.equal(lines[5], '');
  for (const cmd of ['RELOAD', 'CLOSE', 'SHUTDOWN', 'STATUS']) {
    // The admin word must be the whole first line: a longer word is not a command (and routes nowhere here).
    assert.equal(await exchange(h.port, `${cmd}X\n`), 'ERR no route\n');
  }
  assert.equal(await exchange(h.port, 'OTHER\n', { end: true }), 'other\n');
});

test('--admin-token: commands before AUTH get ERR forbidden; a wrong token is refused; the right one unlocks', async (t) => {
  const h = await startHrmr({ modules: { other: OTHER }, args: ['--admin-token', 's3cret'] });
  t.after(() => h.kill());
  const c = await LineClient.open(h.port);
  assert.equal(await c.request('STATUS'), 'ERR forbidden');
  assert.equal(await c.request('RELOAD'), 'ERR forbidden');
  assert.equal(await c.request('SHUTDOWN'), 'ERR forbidden');
  assert.equal(await c.request('AUTH wrong'), 'ERR forbidden');
  assert.equal(await c.request('AUTH s3cret'), 'OK');
  assert.match((await c.request('STATUS')) ?? '', /^OK \{/);
  assert.match((await c.request('RELOAD')) ?? '', /^OK reloaded 1 modules/);
  assert.equal(await c.request('CLOSE'), 'OK bye');
  assert.equal(await c.read(), null);
  // A session may start with AUTH.
  assert.match(await exchange(h.port, 'AUTH s3cret\nSTATUS\nCLOSE\n'), /^OK\nOK \{.*\}\nOK bye\n$/);
  assert.equal(await exchange(h.port, 'OTHER\n', { end: true }), 'other\n');
});

test('isLoopback: 127/8, ::1 and v4-mapped 127/8 only', () => {
  for (const a of ['127.0.0.1', '127.1.2.3', '::1', '::ffff:127.0.0.1']) assert.equal(isLoopback(a), true, a);
  for (const a of ['10.0.0.1', '192.0.2.2', '::ffff:10.0.0.1', '', undefined, '::', '0.0.0.0']) assert.equal(isLoopback(a), false, String(a));
});

/**
 * A real non-loopback peer: a network namespace joined to this one by a veth
 * pair (a private link, nothing leaves the machine). hrmr binds the address
 * of the host end; a client run inside the namespace connects from the
 * other end. Needs root (the test machines and CI run as root): if the
 * namespace cannot be made, the test fails with the reason.
 */
function ip(args: string[]): string {
  const r = spawnSync('ip', args, { encoding: 'utf8', timeout: 10_000 });
  if (r.error || r.status !== 0) throw new Error(`ip ${args.join(' ')} failed (${r.error?.message ?? `exit ${r.status}`}): ${(r.stderr ?? '').trim()}`);
  return r.stdout;
}

interface Peer {
  hostAddr: string;
  /** Sends `data` from inside the namespace to hostAddr:port and returns every byte until the server closes (or `timeoutMs`). */
  exchange(port: number, data: string, timeoutMs?: number): Promise<{ got: string; closed: boolean; local: string }>;
  remove(): void;
}

function makePeer(): Peer {
  const id = process.pid % 100_000;
  const ns = `hrmr-t${id}`;
  const a = `hv${id}a`;
  const b = `hv${id}b`;
  const net3 = `10.231.${id % 250}`;
  const hostAddr = `${net3}.1`;
  const remove = (): void => {
    spawnSync('ip', ['link', 'del', a], { stdio: 'ignore', timeout: 10_000 });
    spawnSync('ip', ['netns', 'del', ns], { stdio: 'ignore', timeout: 10_000 });
  };
  remove(); // left over from a killed run with this pid
  try {
    ip(['netns', 'add', ns]);
    ip(['link', 'add', a, 'type', 'veth', 'peer', 'name', b]);
    ip(['link', 'set', b, 'netns', ns]);
    ip(['addr', 'add', `${hostAddr}/30`, 'dev', a]);
    ip(['link', 'set', a, 'up']);
    ip(['netns', 'exec', ns, 'ip', 'addr', 'add', `${net3}.2/30`, 'dev', b]);
    ip(['netns', 'exec', ns, 'ip', 'link', 'set', b, 'up']);
    ip(['netns', 'exec', ns, 'ip', 'link', 'set', 'lo', 'up']);
  } catch (err) {
    remove();
    throw new Error(`cannot create the network namespace for a non-loopback peer (run as root with iproute2): ${(err as Error).message}`);
  }
  const CLIENT = `const net = require('node:net');
const [host, port, data, ms] = process.argv.slice(1);
const s = net.connect({ host, port: Number(port) }, () => s.write(data));
let got = ''; let local = '';
s.on('connect', () => (local = s.localAddress));
s.setEncoding('utf8');
s.on('data', (d) => (got += d));
s.on('error', () => {});
const t = setTimeout(() => { console.log(JSON.stringify({ got, closed: false, local })); process.exit(0); }, Number(ms));
s.on('close', () => { clearTimeout(t); console.log(JSON.stringify({ got, closed: true, local })); });`;
  return {
    hostAddr,
    exchange: (port, data, timeoutMs = 5000) =>
      new Promise((resolve, reject) => {
        execFile('ip', ['netns', 'exec', ns, process.execPath, '-e', CLIENT, hostAddr, String(port), data, String(timeoutMs)], { timeout: timeoutMs + 15_000 }, (err, stdout, stderr) => {
          if (err) return reject(new Error(`client in ${ns} failed: ${err.message} ${stderr}`));
          resolve(JSON.parse(stdout.trim().split('\n').pop()!) as { got: string; closed: boolean; local: string });
        });
      }),
    remove,
  };
}

test('admin commands from a real non-loopback peer: ERR forbidden without a token (routes still serve); with --admin-token, AUTH unlocks', async (t) => {
  const peer = makePeer();
  t.after(() => peer.remove());
  const h = await startHrmr({ modules: { other: OTHER }, args: ['--host', peer.hostAddr] });
  t.after(() => h.kill());
  const route = await peer.exchange(h.port, 'OTHER\n');
  assert.equal(route.local, `${peer.hostAddr.slice(0, -1)}2`, 'the client really is the namespace end of the link');
  assert.equal(route.got, 'other\n', 'module routes serve the non-loopback peer');
  for (const cmd of ['STATUS', 'RELOAD', 'SHUTDOWN']) {
    const r = await peer.exchange(h.port, `${cmd}\n`);
    assert.equal(r.got, 'ERR forbidden\n', `${cmd} from ${r.local}`);
  }
  assert.equal(h.proc.exitCode, null, 'SHUTDOWN from a non-loopback peer did not stop the server');
  assert.equal(h.logs.filter((l) => /^OK reloaded/.test(l.msg)).length, 0, 'RELOAD from a non-loopback peer did nothing');

  const tok = await startHrmr({ modules: { other: OTHER }, args: ['--host', peer.hostAddr, '--admin-token', 's3cret'] });
  t.after(() => tok.kill());
  // The session stays open for an AUTH, and says `ERR timeout` at 5 s: read for 2 s, well clear of that race on a loaded machine.
  assert.equal((await peer.exchange(tok.port, 'STATUS\n', 2000)).got, 'ERR forbidden\n');
  assert.match((await peer.exchange(tok.port, 'AUTH s3cret\nSTATUS\nCLOSE\n')).got, /^OK\nOK \{.*\}\nOK bye\n$/);
});

test('SHUTDOWN: replies, refuses new connections, lets an in-flight message finish, runs dispose, exits 0', async (t) => {
  const m = marks(t);
  const h = await startHrmr({ modules: { slow: slow(m), other: OTHER }, args: ['--drain-timeout', '5000'] });
  t.after(() => h.kill());
  const c = await LineClient.open(h.port);
  c.send('SLOW');
  await waitUntil(() => existsSync(join(m, 'started')), 'the slow handler to start');
  assert.equal(await admin(h.port, 'SHUTDOWN'), 'OK shutting down');
  // No longer accepting: refused, or closed without a reply.
  const late = await exchange(h.port, 'OTHER\n').catch((e: NodeJS.ErrnoException) => e.code ?? 'error');
  assert.ok(late === '' || late === 'ECONNREFUSED' || late === 'ECONNRESET', JSON.stringify(late));
  assert.equal(await c.read(), 'slow done a', 'the in-flight reply still arrives');
  assert.equal(await c.read(), null, 'then the connection is closed');
  assert.equal(await h.exited, 0);
  assert.ok(existsSync(join(m, 'disposed-a')), 'dispose ran');
  await h.waitForLog((l) => l.msg === 'shutdown complete');
});

test('SHUTDOWN with a connection that never finishes: closed at --drain-timeout, then exit 0', async (t) => {
  const m = marks(t);
  const h = await startHrmr({ modules: { slow: slow(m) }, args: ['--drain-timeout', '300'] });
  t.after(() => h.kill());
  const held = await LineClient.open(h.port);
  held.socket.write('HOLD');
  await waitUntil(async () => (await status(h.port)).modules[0]!.connections === 1, 'held connection');
  assert.equal(await admin(h.port, 'SHUTDOWN'), 'OK shutting down');
  assert.equal(await held.read(5000), null);
  assert.equal(await h.exited, 0);
  assert.ok(existsSync(join(m, 'disposed-a')));
});

test('SIGHUP reloads', async (t) => {
  const m = marks(t);
  const h = await startHrmr({ modules: { slow: slow(m) } });
  t.after(() => h.kill());
  assert.equal(await exchange(h.port, 'V\n', { end: true }), 'a v1\n');
  h.writeModule('slow', slow(m, 'b'));
  h.proc.kill('SIGHUP');
  await h.waitForLog((l) => l.msg === 'module reloaded' && l.module === 'slow');
  assert.equal(await exchange(h.port, 'V\n', { end: true }), 'b v2\n');
  await waitUntil(() => existsSync(join(m, 'disposed-a')), 'old version disposed');
});

for (const sig of ['SIGTERM', 'SIGINT'] as const) {
  test(`${sig} shuts down gracefully: in-flight reply, dispose, exit 0`, async (t) => {
    const m = marks(t);
    const h = await startHrmr({ modules: { slow: slow(m) } });
    t.after(() => h.kill());
    const c = await LineClient.open(h.port);
    c.send('SLOW');
    await waitUntil(() => existsSync(join(m, 'started')), 'the slow handler to start');
    h.proc.kill(sig);
    assert.equal(await c.read(), 'slow done a');
    assert.equal(await h.exited, 0);
    assert.ok(existsSync(join(m, 'disposed-a')));
  });
}

test('AUTH without a configured token says so instead of a bare OK', async (t) => {
  const h = await startHrmr({ modules: { other: `export default { routes: [{ prefix: 'O', message: () => 'o\\n' }] };` } });
  t.after(() => h.kill());
  assert.match(await exchange(h.port, 'AUTH anything\nCLOSE\n'), /^OK \(no token is configured\)\nOK bye\n$/);
});
