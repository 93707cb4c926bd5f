// SPDX-License-Identifier: LGPL-3.0-or-later
/**
 * Section 2, garbage: random bytes, truncated prefixes, huge lines, resets
 * mid-message, and clients that never read their replies (on a message
 * route and on the admin session). After each burst the server must be up
 * and answer correctly; a client that never reads must not make the server
 * buffer without bound; and after it all, RSS must settle near baseline.
 */
import { coreModule, modulesDir } from '../modules.mjs';
import { kill, startServer } from '../proc.mjs';
import { MB, oneShot, poll, sleep, status } from '../net.mjs';
import { many, neverReads, randomGarbage, sendAndReset, sendAndWait } from '../garbage-clients.mjs';
import { mib, must, row } from '../table.mjs';

/** Heap after the bursts must be back within this of the baseline (either bound). */
const HEAP_SLACK_BYTES = 30 * MB;
const HEAP_SLACK_RATIO = 1.5;
/** RSS too, with more room: glibc and V8 keep some freed pages mapped, which is retention, not a leak. */
const RSS_SLACK_BYTES = 64 * MB;
/** A never-reading client may get this much into the server (kernel buffers included) at most. */
const NEVER_READS_MAX = 64 * MB;
const NEVER_READS_MS = 3000;

export async function run(say) {
  const mods = modulesDir({ core: coreModule('g', 0) });
  const server = await startServer({ modulesDir: mods.dir, args: ['--peek-timeout', '2000'] });
  const rows = [];
  let seq = 0;
  const healthy = async () => {
    if (!server.alive()) return false;
    const id = `h${seq++}`;
    try {
      const r = await oneShot(server.port, `PING ${id}`, 5000);
      return r.reply === `PONG ${id} g`;
    } catch {
      return false;
    }
  };
  /** Waits until only our STATUS connection is open, then returns STATUS. */
  const settled = async () => {
    await poll(async () => (await status(server.port)).connections <= 1, 10_000, 200);
    await sleep(500);
    return status(server.port);
  };
  const step = async (name, fn) => {
    const t0 = performance.now();
    let detail;
    let ok = true;
    try {
      detail = await fn();
      ok = detail.ok !== false;
    } catch (err) {
      ok = false;
      detail = { note: String(err?.message ?? err).slice(0, 100) };
    }
    const up = await healthy();
    const st = server.alive() ? await settled() : null;
    say(`${name}: ${ok && up ? 'ok' : 'FAIL'} (${Math.round(performance.now() - t0)} ms) ${detail.note ?? ''}; rss ${st ? mib(st.memory.rssBytes) : '-'}`);
    rows.push(row('garbage', name, detail.value ?? (up ? 'server up, replies correct' : 'server DOWN or wrong reply'), { baseline: detail.baseline ?? '', check: must(ok && up), note: detail.note ?? '' }));
  };
  try {
    for (let i = 0; i < 200; i++) await oneShot(server.port, `PING w${i}`);
    const base = await settled();
    say(`baseline rss ${mib(base.memory.rssBytes)}, heap ${mib(base.memory.heapUsedBytes)}`);

    await step('random bytes (600 connections, 1 B..4 KiB)', async () => {
      const res = await many(600, 50, (i) => sendAndWait(server.port, randomGarbage(i), { end: i % 2 === 0 }));
      const hung = res.filter((r) => !r.closed).length;
      return { ok: hung === 0, note: `${hung} not closed by the server` };
    });

    await step('truncated prefixes (300, half-closed)', async () => {
      const cuts = ['PIN', 'STR', 'HOL', 'ECHO', 'STATU', 'AUT', 'SLOWPREFIX', 'P', 'RELOAD', 'H'];
      const res = await many(300, 50, (i) => sendAndWait(server.port, cuts[i % cuts.length], { end: true }));
      const hung = res.filter((r) => !r.closed).length;
      return { ok: hung === 0, note: `${hung} not closed` };
    });

    await step('truncated prefixes (100, left open)', async () => {
      const res = await many(100, 100, (i) => sendAndWait(server.port, 'SLOWPREF', { end: false, timeoutMs: 8000 }));
      const hung = res.filter((r) => !r.closed).length;
      const wrong = res.filter((r) => r.got !== 'ERR no route\n').length;
      return { ok: hung === 0 && wrong === 0, note: `closed by --peek-timeout; ${hung} hung, ${wrong} without ERR no route` };
    });

    await step('huge lines (> 64 KiB) on a message route', async () => {
      const big = Buffer.alloc(200 * 1024, 0x61);
      const res = await many(20, 10, () => sendAndWait(server.port, Buffer.concat([Buffer.from('ECHO '), big]), { end: false }));
      const good = res.filter((r) => r.closed && r.got.startsWith('ERR line too long')).length;
      const res2 = await many(20, 10, () => sendAndWait(server.port, Buffer.concat([Buffer.from('PING '), big, Buffer.from('\n')]), { end: false }));
      const good2 = res2.filter((r) => r.closed && r.got.startsWith('ERR line too long')).length;
      return { ok: good === 20 && good2 === 20, note: `ERR line too long: ${good}/20 unterminated, ${good2}/20 terminated` };
    });

    await step('huge unroutable input (1 MiB) and admin line', async () => {
      const junk = Buffer.alloc(1024 * 1024, 0x7a);
      const res = await many(20, 10, () => sendAndWait(server.port, junk, { end: false }));
      const good = res.filter((r) => r.closed && r.got === 'ERR no route\n').length;
      const adm = await sendAndWait(server.port, Buffer.concat([Buffer.from('STATUS\n'), Buffer.alloc(8192, 0x41)]), { end: false });
      const admOk = adm.closed && adm.got.includes('ERR line too long');
      return { ok: good === 20 && admOk, note: `ERR no route ${good}/20; admin long line: ${admOk ? 'ERR + closed' : JSON.stringify(adm.got.slice(-60))}` };
    });

    await step('resets mid-message (300)', async () => {
      await many(300, 50, (i) => {
        const parts = [`PING ${i}\nPING ${i + 1}\nPI`, `ECHO ${'y'.repeat(40_000)}\nECHO ${'z'.repeat(20_000)}`, `STRM ${i}\nSTRM`, 'STATUS\nSTATUS\nSTA'];
        return sendAndReset(server.port, parts[i % parts.length], i % 3);
      });
      return { note: 'RST sent with requests and replies in flight' };
    });

    const neverRead = async (label, unit) => {
      const before = (await status(server.port)).memory.rssBytes;
      const { taken, socket } = await neverReads(server.port, unit, NEVER_READS_MS);
      const during = await status(server.port);
      socket.destroy();
      const grew = during.memory.rssBytes - before;
      return {
        ok: taken < NEVER_READS_MAX && grew < NEVER_READS_MAX,
        value: `${mib(taken)} taken in ${NEVER_READS_MS / 1000} s`,
        baseline: `limit ${mib(NEVER_READS_MAX)}`,
        note: `server RSS +${mib(Math.max(0, grew))} while it lasted (${label})`,
      };
    };
    await step('client never reads replies (message route)', () => neverRead('ECHO 1 KiB lines', Buffer.from(`ECHO ${'e'.repeat(1024)}\n`)));
    await step('client never reads replies (admin STATUS)', () => neverRead('STATUS lines', Buffer.from('STATUS\n'.repeat(16))));

    const end = await settled();
    const heapLimit = Math.max(base.memory.heapUsedBytes + HEAP_SLACK_BYTES, base.memory.heapUsedBytes * HEAP_SLACK_RATIO);
    const rssLimit = base.memory.rssBytes + RSS_SLACK_BYTES;
    rows.push(
      row('garbage', 'heap after all bursts settle', mib(end.memory.heapUsedBytes), {
        baseline: `${mib(base.memory.heapUsedBytes)} before; limit ${mib(heapLimit)}`,
        check: must(end.memory.heapUsedBytes <= heapLimit),
      }),
      row('garbage', 'RSS after all bursts settle', mib(end.memory.rssBytes), {
        baseline: `${mib(base.memory.rssBytes)} before; limit ${mib(rssLimit)}`,
        check: must(end.memory.rssBytes <= rssLimit),
        note: 'the allocator keeps some freed pages',
      }),
      row('garbage', 'server process', server.alive() ? 'up' : `DOWN ${JSON.stringify(server.crashed())}`, { check: must(server.alive()), note: server.stderr().slice(0, 100) }),
    );
    return rows;
  } catch (err) {
    err.rows = rows;
    throw err;
  } finally {
    await kill(server.proc);
    mods.remove();
  }
}
