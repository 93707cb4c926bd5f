// SPDX-License-Identifier: LGPL-3.0-or-later
// `hrmr reload|status|shutdown` against a real server (and against sockets
// that never answer): printed reply and exit status 0 / 1 / 2.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { runCli, startHrmr } from './helpers/hrmr.ts';
import { exitCodeFor } from '../src/cli/admin-client.ts';

const ECHO = `export default { routes: [{ prefix: 'ECHO', message: (m) => m.toString() + '\\n' }] };\n`;

/** A loopback listener that does `onConn` with each connection; resolves with its port and a closer. */
async function fakeServer(onConn: (s: net.Socket) => void): Promise<{ port: number; close: () => Promise<void> }> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((s) => {
    sockets.add(s);
    s.on('error', () => undefined);
    onConn(s);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const port = (server.address() as net.AddressInfo).port;
  return {
    port,
    close: () =>
      new Promise<void>((r) => {
        for (const s of sockets) s.destroy();
        server.close(() => r());
      }),
  };
}

/** A port nobody listens on. */
async function deadPort(): Promise<number> {
  const f = await fakeServer(() => undefined);
  await f.close();
  return f.port;
}

test('exit code for a reply: OK 0, ERR (or anything else) 1, none 2', () => {
  assert.equal(exitCodeFor('OK reloaded 1 modules in 3 ms'), 0);
  assert.equal(exitCodeFor('OK'), 0);
  assert.equal(exitCodeFor('ERR forbidden'), 1);
  assert.equal(exitCodeFor('OKAY'), 1);
  assert.equal(exitCodeFor(null), 2);
});

test('status, reload and shutdown against a running server: reply on stdout, exit 0; subcommand --port and legacy -port parse', async () => {
  const h = await startHrmr({ modules: { echo: ECHO } });
  try {
    const status = await runCli(['status', '--port', String(h.port)]);
    assert.equal(status.code, 0, status.stderr);
    assert.match(status.stdout, /^OK \{/);
    const json = JSON.parse(status.stdout.slice(3)) as { port: number; modules: Array<{ name: string }> };
    assert.equal(json.port, h.port);
    assert.deepEqual(json.modules.map((m) => m.name), ['echo']);

    const legacy = await runCli(['status', '-port', String(h.port), '--host', '127.0.0.1', '--timeout', '5000']);
    assert.equal(legacy.code, 0, legacy.stderr);

    const viaEnv = await runCli(['reload'], { env: { HRMR_PORT: String(h.port) } });
    assert.equal(viaEnv.code, 0, viaEnv.stderr);
    assert.match(viaEnv.stdout, /^OK reloaded 1 modules in \d+ ms\n$/);

    const down = await runCli(['shutdown', '--port', String(h.port)]);
    assert.equal(down.code, 0, down.stderr);
    assert.equal(down.stdout, 'OK shutting down\n');
    assert.equal(await h.exited, 0);
  } finally {
    await h.kill();
  }
});

test('admin token: AUTH first; no token or a wrong one is ERR (exit 1), the right one OK (flag or HRMR_ADMIN_TOKEN)', async () => {
  const h = await startHrmr({ modules: { echo: ECHO }, args: ['--admin-token', 's3cret'] });
  try {
    const none = await runCli(['status', '--port', String(h.port)], { env: { HRMR_ADMIN_TOKEN: '' } });
    assert.equal(none.code, 1);
    assert.match(none.stdout, /^ERR forbidden/);
    const wrong = await runCli(['reload', '--port', String(h.port), '--admin-token', 'nope']);
    assert.equal(wrong.code, 1);
    assert.match(wrong.stdout, /^ERR forbidden/);
    const right = await runCli(['status', '--port', String(h.port), '--admin-token', 's3cret']);
    assert.equal(right.code, 0, right.stderr);
    assert.match(right.stdout, /^OK \{/);
    const env = await runCli(['reload', '--port', String(h.port)], { env: { HRMR_ADMIN_TOKEN: 's3cret' } });
    assert.equal(env.code, 0, env.stderr);
    assert.match(env.stdout, /^OK reloaded/);
  } finally {
    await h.kill();
  }
});

test('nothing answers: connection refused, silence past --timeout, closed without a reply all exit 2', async () => {
  const port = await deadPort();
  const refused = await runCli(['status', '--port', String(port)]);
  assert.equal(refused.code, 2);
  assert.equal(refused.stdout, '');
  assert.match(refused.stderr, /ECONNREFUSED/);

  const silent = await fakeServer(() => undefined);
  try {
    const r = await runCli(['reload', '--port', String(silent.port), '--timeout', '300']);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /no reply .* within 300 ms/);
  } finally {
    await silent.close();
  }

  const hangup = await fakeServer((s) => s.once('data', () => s.end()));
  try {
    const r = await runCli(['shutdown', '--port', String(hangup.port)]);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /closed the connection without a reply/);
  } finally {
    await hangup.close();
  }
});

test('a failed RELOAD on the real server: ERR reply printed as is, exit 1; the previous version keeps serving', async () => {
  const h = await startHrmr({ modules: { echo: ECHO } });
  try {
    // A module that fails to import: RELOAD reports it with ERR.
    h.writeModule('broken', 'export default { routes: [ this is not javascript\n');
    h.writeModule('echo', 'export default { routes: [{ prefix: \'ECHO\', message: () => { throw new Error(\'never\'); } }] };\nthrow new Error(\'top-level boom\');\n');
    const r = await runCli(['reload', '--port', String(h.port)]);
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stdout, /^ERR reload failed for 2 modules: [^\n]*broken: [^\n]*echo: [^\n]*top-level boom[^\n]*\n$/);
    const st = await runCli(['status', '--port', String(h.port)]);
    assert.equal(st.code, 0, st.stderr);
    const json = JSON.parse(st.stdout.slice(3)) as { modules: Array<{ name: string; version: number }> };
    assert.deepEqual(json.modules.map((m) => [m.name, m.version]), [['echo', 1]], 'echo v1 keeps serving; broken never loaded');
  } finally {
    await h.kill();
  }
});

test('bad client flags are usage errors (exit 2, message names the flag)', async () => {
  const r = await runCli(['status', '--port', 'abc']);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /--port/);
});
