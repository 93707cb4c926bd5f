// SPDX-License-Identifier: LGPL-3.0-or-later
/**
 * Frame dispatch: one frame, in the order of the spec (multipart, the
 * command's processor, subscribe, publish, unsubscribe, upstream). A
 * connection whose async processor is running holds its next frames
 * (bounded) until it is done.
 */
import { isUtf8 } from 'node:buffer';
import { subscribe, unsubscribe, publishPayload } from './bus.ts';
import { callHook, isThenable, makeContext, processorFor, settle, type Ctx } from './context.ts';
import { parseMessage, parseMultipart, serialize, splitChannels, type Message, type Part } from './message.ts';
import type { Conn, State } from './state.ts';
import { upstream } from './upstream.ts';
import { warnLimited } from './warn.ts';

export function onFrame(state: State, conn: Conn, data: Buffer, isBinary: boolean): void {
  state.stats.framesIn++;
  if (conn.closed) return;
  conn.alive = true;
  if (conn.busy) {
    // Bounded: reading is paused at 16, but one socket read may still hold many frames.
    if (conn.queue.length >= 1024) {
      state.stats.droppedWhileBusy++;
      return;
    }
    conn.queue.push({ data, isBinary });
    if (conn.queue.length >= 16 && !conn.paused) {
      conn.paused = true;
      conn.ws.pause();
    }
    return;
  }
  const r = guarded(state, conn, data, isBinary);
  if (r !== undefined) waitThenDrain(state, conn, r);
}

/** handleFrame, and should it ever throw (a bug), the connection is closed (1011) and the server carries on. */
function guarded(state: State, conn: Conn, data: Buffer, isBinary: boolean): Promise<void> | undefined {
  try {
    return handleFrame(state, conn, data, isBinary);
  } catch (err) {
    warnLimited(state, 'internal', { conn: conn.id, err: err instanceof Error ? err.stack : String(err) }, 'lhttp internal error: connection closed');
    if (conn.ws.readyState === 1) conn.ws.close(1011, 'internal error');
    return undefined;
  }
}

/** An async processor is running: hold the connection's next frames until it is done. */
function waitThenDrain(state: State, conn: Conn, p: Promise<void>): void {
  conn.busy = true;
  const failed = (err: unknown): void => warnLimited(state, 'internal', { conn: conn.id, err: err instanceof Error ? err.stack : String(err) }, 'lhttp internal error after a processor');
  void p.catch(failed).then(() => {
    conn.busy = false;
    while (!conn.closed && !conn.busy && conn.queue.length > 0) {
      const f = conn.queue.shift()!;
      const r = guarded(state, conn, f.data, f.isBinary);
      if (r !== undefined) {
        waitThenDrain(state, conn, r);
        return;
      }
    }
    if (conn.paused && !conn.closed) {
      conn.paused = false;
      conn.ws.resume();
    }
  });
}

/** Handles one frame; returns a promise when an async processor must finish first. */
export function handleFrame(state: State, conn: Conn, data: Buffer, isBinary: boolean): Promise<void> | undefined {
  const st = state.stats;
  if (data.length > state.options.maxFrame) {
    st.ignored.oversized++;
    return;
  }
  if (isBinary && !isUtf8(data)) {
    // Forwarded as a text frame it would break every browser that receives it.
    st.ignored.invalidUtf8++;
    return;
  }
  const msg = parseMessage(data.toString('latin1'));
  if (typeof msg === 'string') {
    if (msg === 'short') st.ignored.short++;
    else if (msg === 'not-lhttp') st.ignored.notLhttp++;
    else st.ignored.noCrlf++;
    return;
  }
  st.messagesIn++;
  // 1. multipart
  let parts: Part[] | null = null;
  const mp = msg.headers.get('multipart');
  if (mp !== undefined) {
    const r = parseMultipart(mp, msg.body);
    if (typeof r === 'string') {
      st.badMultipart++;
      warnLimited(state, 'multipart', { conn: conn.id, error: r }, 'lhttp bad multipart header ignored');
      parts = [];
    } else parts = r;
  }
  // 2. the command's processor
  const proc = processorFor(msg.command);
  if (proc === null) {
    conn.opened = true;
    conn.last = null;
    afterProcessor(state, conn, msg, null);
    return;
  }
  const c = makeContext(state, conn, msg, parts);
  conn.last = proc.onClose ? msg : null;
  let pending: unknown;
  if (!conn.opened) {
    conn.opened = true;
    pending = callHook(state, proc, 'onOpen', c);
  }
  if (!isThenable(pending)) {
    pending = callHook(state, proc, 'onMessage', c);
    if (!isThenable(pending)) {
      afterProcessor(state, conn, msg, c);
      return;
    }
    return settle(state, pending).then(() => afterProcessor(state, conn, msg, c));
  }
  return settle(state, pending)
    .then(() => settle(state, callHook(state, proc, 'onMessage', c)))
    .then(() => afterProcessor(state, conn, msg, c));
}

/** Steps 3 to 6: subscribe, publish, unsubscribe, upstream. */
function afterProcessor(state: State, conn: Conn, msg: Message, c: Ctx | null): void {
  const h = msg.headers;
  const sub = h.get('subscribe');
  if (sub !== undefined && !conn.closed) for (const ch of capChannels(state, conn, sub)) subscribe(state, conn, ch);
  const pub = h.get('publish');
  if (pub !== undefined) {
    const channels = capChannels(state, conn, pub);
    if (channels.length > 0) {
      const command = c?.replyCommand ?? msg.command;
      const headers = c?.replyHeaders ?? h;
      const payload = Buffer.from(serialize(command, headers, msg.body), 'latin1');
      for (const ch of channels) publishPayload(state, ch, payload);
    }
  }
  const unsub = h.get('unsubscribe');
  if (unsub !== undefined) for (const ch of capChannels(state, conn, unsub)) unsubscribe(state, conn, ch);
  const up = h.get('upstream');
  if (up !== undefined) upstream(state, conn, msg, up);
}

function capChannels(state: State, conn: Conn, value: string): string[] {
  const list = splitChannels(value);
  if (list.length <= state.options.maxChannels) return list;
  state.stats.cappedChannels++;
  warnLimited(state, 'channels', { conn: conn.id, channels: list.length, limit: state.options.maxChannels }, 'lhttp header names too many channels: the extra ones are ignored');
  return list.slice(0, state.options.maxChannels);
}
