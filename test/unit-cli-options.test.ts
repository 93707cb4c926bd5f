// SPDX-License-Identifier: LGPL-3.0-or-later
// argv normalization (legacy single-dash long flags) and option validation.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Command } from 'commander';
import { normalizeArgv } from '../src/cli/argv.ts';
import { addServerOptions, moduleConfig, OTHER_FLAGS, SERVER_FLAGS, validateServerOptions, type RawServerOptions } from '../src/cli/options.ts';
import { UsageError } from '../src/errors.ts';

const NAMES = new Set<string>([...SERVER_FLAGS, ...OTHER_FLAGS]);

test('normalizeArgv: -port/-threads become --port/--threads; short flags, values, negatives and after -- are kept', () => {
  assert.deepEqual(normalizeArgv(['-port', '8080', '-threads', '4'], NAMES), ['--port', '8080', '--threads', '4']);
  assert.deepEqual(normalizeArgv(['-port=9', '-peek-timeout', '5'], NAMES), ['--port=9', '--peek-timeout', '5']);
  assert.deepEqual(normalizeArgv(['-p', '1', '-t', '2', '--port', '3'], NAMES), ['-p', '1', '-t', '2', '--port', '3']);
  assert.deepEqual(normalizeArgv(['-bogus', '-1', '--', '-port'], NAMES), ['-bogus', '-1', '--', '-port']);
});

function parse(argv: string[], env: NodeJS.ProcessEnv = {}): RawServerOptions {
  const saved = { ...process.env };
  // commander reads env vars from process.env at parse time.
  for (const k of Object.keys(process.env)) if (k.startsWith('HRMR_')) delete process.env[k];
  Object.assign(process.env, env);
  try {
    const cmd = addServerOptions(new Command('hrmr')).exitOverride();
    cmd.parse(normalizeArgv(argv, NAMES), { from: 'user' });
    return cmd.opts() as RawServerOptions;
  } finally {
    for (const k of Object.keys(process.env)) if (!(k in saved)) delete process.env[k];
    Object.assign(process.env, saved);
  }
}

test('defaults follow the issue', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'hrmr-unit-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const o = validateServerOptions(parse(['--modules', dir]), {});
  assert.equal(o.port, 8080);
  assert.equal(o.threads, 4);
  assert.equal(o.host, '127.0.0.1');
  assert.equal(o.peekTimeoutMs, 3000);
  assert.equal(o.maxPeek, 16384);
  assert.equal(o.drainTimeoutMs, 30000);
  assert.equal(o.adminToken, null);
  assert.equal(parse([]).modules, './modules');
});

test('legacy, short and long spellings give the same options; env vars fill in', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'hrmr-unit-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const a = validateServerOptions(parse(['-port', '9001', '-threads', '2', '-modules', dir]), {});
  const b = validateServerOptions(parse(['--port', '9001', '--threads', '2', '--modules', dir]), {});
  const c = validateServerOptions(parse(['-p', '9001', '-t', '2', '--modules', dir]), {});
  const d = validateServerOptions(parse([], { HRMR_PORT: '9001', HRMR_THREADS: '2', HRMR_MODULES: dir }), {});
  for (const o of [a, b, c, d]) {
    assert.equal(o.port, 9001);
    assert.equal(o.threads, 2);
    assert.equal(o.modulesDir, dir);
  }
  const e = validateServerOptions(parse(['--modules', dir], { HRMR_HOST: '0.0.0.0', HRMR_ADMIN_TOKEN: 's3cret', HRMR_PEEK_TIMEOUT: '50' }), {});
  assert.equal(e.host, '0.0.0.0');
  assert.equal(e.adminToken, 's3cret');
  assert.equal(e.peekTimeoutMs, 50);
  // A flag beats the env var.
  assert.equal(validateServerOptions(parse(['--port', '7', '--modules', dir], { HRMR_PORT: '9' }), {}).port, 7);
});

test('bad values raise UsageError naming the flag', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'hrmr-unit-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const bad: Array<[string[], RegExp]> = [
    [['--port', 'abc'], /--port/],
    [['--port', '70000'], /--port/],
    [['--port', '-1'], /--port/],
    [['--port', '80.5'], /--port/],
    [['--threads', '0'], /--threads/],
    [['--peek-timeout', 'x'], /--peek-timeout/],
    [['--max-peek', '0'], /--max-peek/],
    [['--drain-timeout', '1e3'], /--drain-timeout/],
    [['--log-level', 'loud'], /--log-level/],
  ];
  for (const [args, re] of bad) {
    assert.throws(() => validateServerOptions(parse([...args, '--modules', dir]), {}), (e: unknown) => e instanceof UsageError && re.test(e.message) && !e.message.includes('\n'), args.join(' '));
  }
  assert.throws(() => validateServerOptions(parse(['--modules', join(dir, 'nope')]), {}), (e: unknown) => e instanceof UsageError && /--modules/.test(e.message));
  assert.equal(validateServerOptions(parse(['--port', '0', '--modules', dir]), {}).port, 0);
});

test('module config from --set and HRMR_CFG_*', () => {
  const cfg = moduleConfig(['kv.max-size=10', 'kv.Mode=a=b'], { HRMR_CFG_KV_MAX_SIZE: '5', HRMR_CFG_ECHO_GREETING: 'hi' });
  assert.deepEqual(cfg.get('kv'), { max_size: '5', 'max-size': '10', mode: 'a=b' });
  assert.deepEqual(cfg.get('echo'), { greeting: 'hi' });
  assert.throws(() => moduleConfig(['nodot'], {}), UsageError);
});

test('--watch implies --reload-mode graceful unless the flag or HRMR_RELOAD_MODE is given; boolean env values mean what they say', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'hrmr-unit-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const v = (argv: string[], env: NodeJS.ProcessEnv = {}) => validateServerOptions(parse([...argv, '--modules', dir], env), env);
  assert.equal(v([]).reloadMode, '503');
  assert.equal(v(['--watch']).reloadMode, 'graceful');
  assert.equal(v([], { HRMR_WATCH: 'yes' }).reloadMode, 'graceful');
  assert.equal(v([], { HRMR_WATCH: '0' }).watch, false);
  assert.equal(v(['--no-watch'], { HRMR_WATCH: '1' }).watch, false);
  assert.equal(v(['--watch', '--reload-mode', '503']).reloadMode, '503');
  assert.equal(v(['--watch'], { HRMR_RELOAD_MODE: '503' }).reloadMode, '503');
  assert.equal(v(['--reload-mode', 'graceful']).reloadMode, 'graceful');
  for (const off of ['0', 'false', 'no', 'off', 'FALSE', '']) assert.equal(v([], { HRMR_PRETTY: off }).pretty, false, off);
  for (const on of ['1', 'true', 'yes', 'on']) assert.equal(v([], { HRMR_PRETTY: on }).pretty, true, on);
  assert.equal(v(['--no-pretty'], { HRMR_PRETTY: '1' }).pretty, false);
  assert.equal(v(['--pretty'], { HRMR_PRETTY: '0' }).pretty, true);
  assert.throws(() => v([], { HRMR_PRETTY: 'sometimes' }), (e: unknown) => e instanceof UsageError && /HRMR_PRETTY/.test(e.message));
});
