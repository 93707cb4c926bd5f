// SPDX-License-Identifier: LGPL-3.0-or-later
/**
 * Section 6, connection rate: new connections per second through a stream
 * route that answers one line and closes (`HI` -> `HELLO`), against a plain
 * `net` server doing the same, as a ratio. Each side gets its own source
 * address so neither runs short of ephemeral ports.
 */
import { coreModule, modulesDir } from '../modules.mjs';
import { kill, startServer, startWorker } from '../proc.mjs';
import { row, must } from '../table.mjs';

const DURATION_MS = 3000;
const CONCURRENCY = 32;

async function measure(port, localAddress) {
  const w = startWorker('rate', { port, localAddress, durationMs: DURATION_MS, concurrency: CONCURRENCY, line: 'HI\n', expect: 'HELLO\n' });
  try {
    return await w.next(DURATION_MS + 20_000);
  } finally {
    await w.kill();
  }
}

export async function run(say) {
  const mods = modulesDir({ core: coreModule('rate', 0) });
  const server = await startServer({ modulesDir: mods.dir, args: ['--max-connections', '20000'] });
  const plain = startWorker('plain-server', {});
  try {
    const { port: plainPort } = await plain.next(10_000);
    // Warm both up briefly, then measure the plain server first (a fresh machine state for each).
    const p = await measure(plainPort, '127.0.0.61');
    say(`plain net: ${p.perSecond}/s (${p.count} conns, ${p.errors} errors, ${p.wrong} wrong)`);
    const h = await measure(server.port, '127.0.0.62');
    say(`hrmr:      ${h.perSecond}/s (${h.count} conns, ${h.errors} errors, ${h.wrong} wrong${h.firstProblem ? `, first: ${h.firstProblem}` : ''})`);
    const up = server.alive();
    return [
      row('rate', 'hrmr new connections/s (HI -> HELLO, close)', h.perSecond, { baseline: `plain net ${p.perSecond}/s; ratio ${(h.perSecond / p.perSecond).toFixed(2)}`, note: `${CONCURRENCY} concurrent loops, ${DURATION_MS / 1000} s` }),
      row('rate', 'wrong replies / connection errors', `${h.wrong} / ${h.errors}`, { check: must(h.wrong === 0 && h.errors === 0 && up) }),
    ];
  } finally {
    await plain.kill();
    await kill(server.proc);
    mods.remove();
  }
}
