// SPDX-License-Identifier: LGPL-3.0-or-later
/**
 * Bench module: a line protocol served two ways.
 * - `PING <n>` -> `PONG <n>`: a message route (hrmr frames the lines).
 * - `ECHO ...`: a stream route that writes back whatever arrives.
 * The baselines (bench/lib/plain-servers.mjs) call these same functions from
 * plain `net` servers.
 */

/** `PING <n>` (a Buffer without the newline) -> `PONG <n>\n`. */
export function pong(msg) {
  return 'PONG' + msg.toString('latin1', 4) + '\n';
}

/** Echoes every chunk back. */
export function echo(socket) {
  socket.on('data', (d) => socket.write(d));
}

export default {
  name: 'line',
  routes: [
    { prefix: 'PING', message: pong },
    { prefix: 'ECHO', connection: echo },
  ],
};
