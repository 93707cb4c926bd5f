// SPDX-License-Identifier: LGPL-3.0-or-later
/**
 * Reads the first bytes of a connection until the prefix table can decide.
 * The bytes read are handed to the caller, who either gives them back to the
 * socket (stream routes) or feeds them to a framer (message routes).
 */
import type { Socket } from 'node:net';
import { MatchState, type PrefixEntry, type PrefixTable } from './prefix-table.ts';

export const PeekOutcome = {
  Routed: 0,
  /** Bytes arrived but no route matches (or can). */
  NoRoute: 1,
  /** Timed out or hit the byte limit without a decision. */
  Timeout: 2,
  /** The client closed or errored first. */
  Closed: 3,
} as const;
export type PeekOutcome = (typeof PeekOutcome)[keyof typeof PeekOutcome];

export interface PeekLimits {
  timeoutMs: number;
  maxBytes: number;
}

/** `ended`: the client already half-closed (its 'end' event has fired). */
export type PeekCallback<T> = (outcome: PeekOutcome, entry: PrefixEntry<T> | null, data: Buffer | null, ended: boolean) => void;

/**
 * Peeks at `socket`. On return through `cb` the socket is paused and has no
 * listeners of ours left. The table is read once per chunk, so a RELOAD that
 * swaps tables mid-peek is seen on the next chunk via `getTable`.
 */
export function peek<T>(socket: Socket, getTable: () => PrefixTable<T>, limits: PeekLimits, cb: PeekCallback<T>): void {
  let data: Buffer | null = null;
  let finished = false;
  let ended = false;

  const finish = (outcome: PeekOutcome, entry: PrefixEntry<T> | null): void => {
    if (finished) return;
    finished = true;
    clearTimeout(timer);
    socket.removeListener('data', onData);
    socket.removeListener('end', onEnd);
    socket.removeListener('close', onClose);
    socket.pause();
    cb(outcome, entry, data, ended);
  };

  /** `giveUp`: no more bytes will come (end, timeout); report this outcome if nothing matched. */
  const decide = (giveUp: PeekOutcome | null): void => {
    const table = getTable();
    const r = table.match(data!);
    if (r.state === MatchState.Matched) return finish(PeekOutcome.Routed, r.entry);
    if (r.state === MatchState.NoMatch) return finish(PeekOutcome.NoRoute, null);
    // Undecided: a longer prefix could still match. Stop waiting only when no
    // more bytes can come (end, limit, timeout): then the best match so far wins.
    if (giveUp !== null || data!.length >= limits.maxBytes) {
      if (r.entry) return finish(PeekOutcome.Routed, r.entry);
      return finish(giveUp ?? PeekOutcome.NoRoute, null);
    }
  };

  function onData(chunk: Buffer): void {
    data = data === null ? chunk : Buffer.concat([data, chunk]);
    decide(null);
  }
  function onEnd(): void {
    // Half-close during the peek: decide with what we have.
    ended = true;
    if (data === null) finish(PeekOutcome.Closed, null);
    else decide(PeekOutcome.NoRoute);
  }
  function onClose(): void {
    finish(PeekOutcome.Closed, null);
  }
  const timer = setTimeout(() => {
    if (data === null) finish(PeekOutcome.Timeout, null);
    else decide(PeekOutcome.Timeout);
  }, limits.timeoutMs);

  socket.on('data', onData);
  socket.on('end', onEnd);
  socket.on('close', onClose);
}

/**
 * Gives peeked bytes back to a paused socket so the next reader sees the
 * stream from byte 0, and puts the stream back in its initial "not yet
 * flowing" state so that a handler attaching a 'data' listener (as
 * http.Server does) starts the flow, exactly as on a fresh socket.
 */
export function giveBack(socket: Socket, data: Buffer | null): void {
  if (data !== null) socket.unshift(data);
  (socket as unknown as { _readableState: { flowing: boolean | null } })._readableState.flowing = null;
}
