// SPDX-License-Identifier: LGPL-3.0-or-later
// The CLI as a module author meets it: boolean env values and --no- flags,
// pretty build errors as lines, stack traces at modules_src/*.ts, `status
// --json`, `help <subcommand>`, and docs that list every option.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { BIN, exchange, ROOT, runCli, startHrmr, tempDir, type Hrmr } from './helpers/hrmr.ts';
import { buildModule } from './helpers/build-module.ts';
import { envBool } from '../src/cli/options.ts';
import { statusJson } from '../src/cli/subcommands.ts';
import { prettyMessage } from '../src/log.ts';

const API = JSON.stringify(join(ROOT, 'shared', 'index.ts'));
const ECHO = `export default { routes: [{ prefix: 'ECHO', message: (m) => m.toString() + '\\n' }] };\n`;

/**
 * Runs the server with `args`/`env` until stdout matches `until` (then
 * SIGKILL), or until it exits. Resolves with its stdout and exit code.
 */
function runUntil(args: string[], env: Record<string, string>, until: RegExp, o: { cwd?: string; timeoutMs?: number } = {}): Promise<{ stdout: string; stderr: string; code: number | null; matched: boolean }> {
  return new Promise((resolve) => {
    const p = spawn(process.execPath, [BIN, '--port', '0', '--threads', '1', ...args], { cwd: o.cwd ?? ROOT, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    let matched = false;
    const timer = setTimeout(() => p.kill('SIGKILL'), o.timeoutMs ?? 20_000);
    p.stdout.setEncoding('utf8').on('data', (d: string) => {
      stdout += d;
      if (!matched && until.test(stdout)) {
        matched = true;
        p.kill('SIGKILL');
      }
    });
    p.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    p.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ stdout, stderr, code, matched });
    });
  });
}

function modulesDir(t: { after(fn: () => void): void }): string {
  const d = tempDir('hrmr-acli-');
  writeFileSync(join(d, 'echo.mjs'), ECHO);
  t.after(() => rmSync(d, { recursive: true, force: true }));
  return d;
}

const isJson = (line: string): boolean => {
  try {
    return typeof (JSON.parse(line) as { msg?: unknown }).msg === 'string';
  } catch {
    return false;
  }
};

test('envBool: 1/true/yes/on and 0/false/no/off in any case, empty is false, unset undefined, else a usage error', () => {
  for (const v of ['1', 'true', 'TRUE', 'yes', 'On', ' yes ']) assert.equal(envBool('X', v), true, v);
  for (const v of ['0', 'false', 'False', 'no', 'NO', 'off', '']) assert.equal(envBool('X', v), false, v);
  assert.equal(envBool('X', undefined), undefined);
  assert.throws(() => envBool('HRMR_PRETTY', 'maybe'), /HRMR_PRETTY must be/);
});

test('HRMR_PRETTY=0/false/no give JSON logs, 1 pretty ones; --no-pretty beats HRMR_PRETTY=1, --pretty beats HRMR_PRETTY=0; a bad value exits 2', async (t) => {
  const dir = modulesDir(t);
  const listening = /listening[^\n]*\n/;
  const runs = await Promise.all(
    [
      [[], { HRMR_PRETTY: '0' }, true],
      [[], { HRMR_PRETTY: 'false' }, true],
      [[], { HRMR_PRETTY: 'no' }, true],
      [[], { HRMR_PRETTY: '1' }, false],
      [['--no-pretty'], { HRMR_PRETTY: '1' }, true],
      [['--pretty'], { HRMR_PRETTY: '0' }, false],
    ].map(async ([args, env, json]) => ({ args, env, json, r: await runUntil(['--modules', dir, ...(args as string[])], env as Record<string, string>, listening) })),
  );
  for (const { args, env, json, r } of runs) {
    const what = `${JSON.stringify(env)} ${(args as string[]).join(' ')}`;
    assert.ok(r.matched, `${what}: no listening line; stderr ${r.stderr}`);
    const line = r.stdout.split('\n').find((l) => l.includes('listening'))!;
    assert.equal(isJson(line), json, `${what}: ${line}`);
    if (!json) assert.match(line, /INFO.*: listening /);
  }
  const bad = await runCli(['--modules', dir, '--port', '0'], { env: { HRMR_PRETTY: 'maybe' } });
  assert.equal(bad.code, 2);
  assert.equal(bad.stderr, 'hrmr: HRMR_PRETTY must be 1/true/yes/on or 0/false/no/off (got "maybe")\n');
  const watchOff = await runUntil(['--modules', dir, '--no-watch'], { HRMR_WATCH: '1' }, listening);
  assert.ok(watchOff.matched, watchOff.stderr);
  assert.doesNotMatch(watchOff.stdout, /watching module sources/);
});

/** Long options listed by `--help` output: boolean ones have no `<value>`. */
function helpOptions(help: string): Array<{ name: string; boolean: boolean }> {
  const out: Array<{ name: string; boolean: boolean }> = [];
  const section = help.split(/^Options:$/m)[1]?.split(/^Commands:$/m)[0] ?? '';
  for (const m of section.matchAll(/^ {2}(?:-[A-Za-z], )?--([a-z][a-z-]*)( [<[])?/gm)) {
    if (m[1] === 'help' || m[1] === 'version') continue;
    out.push({ name: m[1]!, boolean: m[2] === undefined });
  }
  return out;
}

const SUBCOMMANDS = ['build', 'new', 'reload', 'status', 'shutdown'];

test('every boolean flag (server and subcommands) has its --no- form, and `hrmr help <subcommand>` prints what --help does', async () => {
  const root = await runCli(['--help']);
  assert.equal(root.code, 0, root.stderr);
  const helps = new Map<string, string>([['hrmr', root.stdout]]);
  for (const sub of SUBCOMMANDS) {
    const [viaHelp, viaFlag] = await Promise.all([runCli(['help', sub]), runCli([sub, '--help'])]);
    assert.equal(viaHelp.code, 0, `hrmr help ${sub}: ${viaHelp.stderr}`);
    assert.equal(viaFlag.code, 0);
    assert.equal(viaHelp.stdout, viaFlag.stdout, `hrmr help ${sub}`);
    assert.match(viaHelp.stdout, new RegExp(`^Usage: hrmr ${sub} `));
    helps.set(sub, viaHelp.stdout);
  }
  const bare = await runCli(['help']);
  assert.equal(bare.code, 0);
  assert.equal(bare.stdout, root.stdout);
  const [unknownHelp, typo] = await Promise.all([runCli(['help', 'nosuch']), runCli(['sttaus'])]);
  assert.equal(unknownHelp.code, 2, 'help for an unknown command is a usage error');
  assert.equal(typo.code, 2);
  assert.equal(typo.stderr, "hrmr: unknown command 'sttaus' (commands: build, new, reload, status, shutdown, ws, help)\n");
  let booleans = 0;
  for (const [cmd, help] of helps) {
    const opts = helpOptions(help);
    assert.ok(opts.length > 0, cmd);
    const names = new Set(opts.map((o) => o.name));
    for (const o of opts.filter((x) => x.boolean)) {
      booleans++;
      const pair = o.name.startsWith('no-') ? o.name.slice(3) : `no-${o.name}`;
      assert.ok(names.has(pair), `${cmd}: --${o.name} has no --${pair}`);
    }
  }
  assert.ok(booleans >= 8, `found ${booleans} boolean flags`);
});

/** The synopsis lines of a subcommand in a markdown file: lines of code blocks that start with `hrmr` and name it. */
function synopsis(markdown: string, sub: string): string {
  const blocks = [...markdown.matchAll(/```sh\n([\s\S]*?)```/g)].map((m) => m[1]!);
  return blocks
    .flatMap((b) => b.split('\n'))
    .filter((l) => /^hrmr /.test(l) && new RegExp(`(^hrmr |\\| )${sub}\\b`).test(l.split('#')[0]!.split('[')[0]!))
    .join('\n');
}

async function checkSynopsis(file: string): Promise<void> {
  const text = readFileSync(join(ROOT, file), 'utf8');
  for (const sub of SUBCOMMANDS) {
    const help = (await runCli([sub, '--help'])).stdout;
    const lines = synopsis(text, sub);
    assert.notEqual(lines, '', `${file}: no synopsis line for hrmr ${sub}`);
    for (const o of helpOptions(help)) {
      // A --x / --no-x pair is listed by either spelling.
      const spellings = o.boolean ? [o.name, o.name.startsWith('no-') ? o.name.slice(3) : `no-${o.name}`] : [o.name];
      assert.ok(
        spellings.some((s) => new RegExp(`--${s}\\b`).test(lines)),
        `${file}: hrmr ${sub} --help lists --${o.name}, the synopsis does not:\n${lines}`,
      );
    }
  }
}

test('docs/modules.md: the subcommand synopsis lists every option --help lists', async () => {
  await checkSynopsis('docs/modules.md');
});

test('README.md: the subcommand synopsis lists every option --help lists', async () => {
  await checkSynopsis('README.md');
});

test("docs: every `| nc` example ends the session (nc -q1 or -N), or Debian's netcat waits forever", () => {
  const dir = join(ROOT, 'docs');
  for (const f of readdirSync(dir).filter((n) => n.endsWith('.md'))) {
    readFileSync(join(dir, f), 'utf8')
      .split('\n')
      .forEach((line, i) => {
        for (const m of line.matchAll(/\|\s*nc\s+([^`|]*)/g)) assert.match(m[1]!, /(^|\s)(-q\s*\d+|-N)\b/, `docs/${f}:${i + 1}: ${line}`);
      });
  }
});

test('status --json prints the STATUS JSON alone (jq-ready); an ERR reply goes to stderr with exit 1 and nothing on stdout', async () => {
  assert.equal(statusJson('OK {"a":1}'), '{\n  "a": 1\n}');
  assert.equal(statusJson('ERR forbidden'), null);
  assert.equal(statusJson('OK {broken'), null);
  const h = await startHrmr({ modules: { echo: ECHO }, args: ['--admin-token', 'tok'] });
  try {
    const r = await runCli(['status', '--port', String(h.port), '--json', '--admin-token', 'tok']);
    assert.equal(r.code, 0, r.stderr);
    const parsed = JSON.parse(r.stdout) as Record<string, unknown>;
    assert.equal(typeof parsed, 'object');
    assert.ok(JSON.stringify(parsed).includes('"echo"'), r.stdout);
    assert.doesNotMatch(r.stdout, /^OK/);
    const plain = await runCli(['status', '--port', String(h.port), '--json', '--no-json', '--admin-token', 'tok']);
    assert.match(plain.stdout, /^OK \{/);
    const denied = await runCli(['status', '--port', String(h.port), '--json', '--admin-token', 'wrong']);
    assert.equal(denied.code, 1);
    assert.equal(denied.stdout, '');
    assert.match(denied.stderr, /^ERR forbidden/);
  } finally {
    await h.kill();
  }
});

test('a build error in pretty mode prints the code frame as lines, not an escaped string', async (t) => {
  const root = tempDir('hrmr-pretty-');
  t.after(() => rmSync(root, { recursive: true, force: true }));
  mkdirSync(join(root, 'modules_src'));
  mkdirSync(join(root, 'modules'));
  writeFileSync(join(root, 'modules_src', 'broken.ts'), `import { lineRoute } from ${API};\nexport default { routes: [lineRoute('BRK', () => 'x' +)] };\n`);
  const r = await runUntil(['--modules', join(root, 'modules'), '--watch', '--src', join(root, 'modules_src'), '--pretty'], {}, /watching module sources/, { cwd: root, timeoutMs: 30_000 });
  assert.ok(r.matched, r.stdout + r.stderr);
  const lines = r.stdout.split('\n');
  const i = lines.findIndex((l) => /ERROR.*: build failed, previous version keeps serving: modules_src\/broken\.ts:2:\d+: error: /.test(l));
  assert.ok(i >= 0, r.stdout);
  assert.equal(lines[i + 1], `    modules_src/broken.ts:2:${/broken\.ts:2:(\d+)/.exec(lines[i]!)![1]}: error: Unexpected ")"`);
  assert.equal(lines[i + 2], `        export default { routes: [lineRoute('BRK', () => 'x' +)] };`);
  assert.match(lines[i + 3]!, /^ {8} +\^$/);
  assert.doesNotMatch(r.stdout, /\\n/, 'no escaped newlines');
  // The formatter itself: errors and stacks become indented lines.
  assert.equal(prettyMessage({ msg: 'm', module: 'x', errors: ['a\n  b'], err: { stack: 'Error: e\n    at f' } }), 'm {"module":"x"}\n    a\n      b\n    Error: e\n        at f');
});

test('runtime stack traces point at modules_src/*.ts (main thread and pool), not at the built snapshot', async (t) => {
  const root = tempDir('hrmr-maps-');
  t.after(() => rmSync(root, { recursive: true, force: true }));
  mkdirSync(join(root, 'modules_src'));
  const src = join(root, 'modules_src', 'boom.ts');
  writeFileSync(
    src,
    [
      `import { defineModule } from ${API};`,
      '',
      'function fail(where: string): never {',
      "  throw new Error('boom ' + where);",
      '}',
      'export default defineModule({',
      '  routes: [',
      "    { prefix: 'BOOM', message: () => fail('main') },",
      "    { prefix: 'PBOOM', pool: true, message: () => fail('pool') },",
      '  ],',
      '});',
      '',
    ].join('\n'),
  );
  const out = join(root, 'modules');
  await buildModule(src, out);
  let h: Hrmr | null = null;
  try {
    h = await startHrmr({ dir: out, cwd: root });
    assert.equal(await exchange(h.port, 'BOOM\n', { end: true }), 'ERR boom main\n');
    assert.equal(await exchange(h.port, 'PBOOM\n', { end: true }), 'ERR boom pool\n');
    for (const where of ['main', 'pool']) {
      const line = await h.waitForLog((l) => JSON.stringify(l).includes(`Error: boom ${where}`));
      const stack = JSON.stringify(line);
      assert.match(stack, new RegExp(`at fail \\(${join(root, 'modules_src', 'boom.ts').replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}:4:9\\)`), `${where}: ${stack}`);
      assert.doesNotMatch(stack, /\.hrmr\/\d+\/boom\./, `${where}: ${stack}`);
    }
  } finally {
    await h?.kill();
  }
});
