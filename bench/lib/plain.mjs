// SPDX-License-Identifier: LGPL-3.0-or-later
/** Starts the baseline servers (plain-servers.mjs) pinned like hrmr. */
import { fileURLToPath } from 'node:url';
import { spawnTracked, stop, waitForLine } from './proc.mjs';

const SCRIPT = fileURLToPath(new URL('./plain-servers.mjs', import.meta.url));

/** @returns {Promise<{ports:{message:number, stream:number, http:number}, pid:number, stop():Promise<void>}>} */
export async function startPlainServers() {
  const proc = spawnTracked(process.execPath, [SCRIPT], { role: 'server' });
  try {
    const ready = await waitForLine(proc, (l) => l.ready === true, 10_000, 'plain servers');
    return { ports: ready.ports, pid: proc.pid, stop: () => stop(proc) };
  } catch (err) {
    await stop(proc);
    throw err;
  }
}
