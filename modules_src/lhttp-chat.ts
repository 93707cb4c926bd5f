// SPDX-License-Identifier: MIT
/**
 * Example lhttp command processor: `chat`. Every `chat` message is stamped
 * with the server time in a `time` header before it is published, so every
 * subscriber sees the same time whatever its clock says:
 *
 *   -> LHTTP/1.0 chat\r\npublish:room.lobby\r\nnick:ann\r\n\r\nhello
 *   <- LHTTP/1.0 chat\r\npublish:room.lobby\r\nnick:ann\r\ntime:1767323045678\r\n\r\nhello
 *
 * A processor is a module of its own: it registers in `setup` and
 * unregisters in `dispose`, and reloads like any module without touching the
 * lhttp module or its sockets. Copy this file to write one (docs/lhttp.md).
 */
import { defineModule } from '../shared/index.ts';
import { registerProcessor, type LhttpContext } from './lhttp/processors.ts';

let unregister: (() => void) | undefined;

function onMessage(c: LhttpContext): void {
  // Reply headers replace the request's in what is published: copy them, then add ours.
  for (const [k, v] of Object.entries(c.getHeaders())) if (k !== 'time') c.addHeader(k, v);
  // Milliseconds since the epoch: the original browser SDK cuts header values at the first ':', so no ISO text.
  c.addHeader('time', String(Date.now()));
}

export default defineModule({
  name: 'lhttp-chat',
  routes: [],
  setup(ctx) {
    if (ctx.thread !== 'main') return;
    unregister = registerProcessor('chat', { onMessage }, ctx.module);
  },
  dispose() {
    unregister?.();
    unregister = undefined;
  },
});
