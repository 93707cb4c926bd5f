// SPDX-License-Identifier: LGPL-3.0-or-later
/** A retired version whose timers still run is reported (warn log naming it, STATUS leakedVersions). */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { admin, startHrmr, waitUntil } from './helpers/hrmr.ts';

const TICKER = (n: number): string => `let ticks = 0;
export default { routes: [{ prefix: 'TICK', message: () => 'v${n}\\n' }], setup() { setInterval(() => ticks++, 20); } };`;
const CLEAN = (n: number): string => `let iv = null;
export default { routes: [{ prefix: 'TICK', message: () => 'v${n}\\n' }], setup(ctx) { iv = setInterval(() => undefined, 20); ctx.keep('shared', () => setInterval(() => undefined, 1000), (t) => clearInterval(t)); }, dispose() { clearInterval(iv); } };`;

async function leaked(port: number): Promise<number> {
  return (JSON.parse((await admin(port, 'STATUS')).slice(3)) as { leakedVersions: number }).leakedVersions;
}

test('a forgotten setInterval: every retired version is reported, after reloads and after the file is deleted', async (t) => {
  const h = await startHrmr({ modules: { ticker: TICKER(1) } });
  t.after(() => h.kill());
  for (let v = 2; v <= 4; v++) {
    h.writeModule('ticker', TICKER(v));
    assert.match(await admin(h.port, 'RELOAD'), /^OK/);
  }
  h.removeModule('ticker');
  assert.match(await admin(h.port, 'RELOAD'), /^OK/);
  await waitUntil(async () => (await leaked(h.port)) === 4, 'four leaked versions in STATUS');
  for (let v = 1; v <= 4; v++) {
    const line = await h.waitForLog((l) => l.level === 40 && l.module === 'ticker' && l.version === v && String(l.msg).includes('still in memory after dispose'));
    assert.match(String(line.msg), /a timer, listener or socket keeps it alive/);
  }
});

test('a module that clears its timers in dispose (and keeps one on purpose with ctx.keep) is not reported', async (t) => {
  const h = await startHrmr({ modules: { ticker: CLEAN(1) } });
  t.after(() => h.kill());
  h.writeModule('ticker', CLEAN(2));
  assert.match(await admin(h.port, 'RELOAD'), /^OK/);
  await h.waitForLog((l) => l.msg === 'version disposed' && l.version === 1);
  // The check runs 200 ms after dispose; a reported leak would show up well within a second.
  await new Promise((r) => setTimeout(r, 600));
  assert.equal(await leaked(h.port), 0);
  assert.equal(h.logs.some((l) => String(l.msg).includes('still in memory')), false);
});
