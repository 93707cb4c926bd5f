// SPDX-License-Identifier: LGPL-3.0-or-later
/**
 * Cuts a byte stream into lines. Pure: no I/O. Lines are handed out as views
 * of the incoming chunk where possible (no copy); only a line split across
 * chunks is joined.
 */

export const MAX_LINE = 64 * 1024;

import { LineTooLongError } from '../errors.ts';

export { LineTooLongError };

/** Called per complete line (without `\n` and a trailing `\r`); return `false` to stop. */
export type LineSink = (line: Buffer) => boolean | void;

export class LineFramer {
  private carry: Buffer | null = null;
  /** What followed the line at which the sink asked to stop: framed by resume(). */
  private rest: Buffer | null = null;
  constructor(private readonly maxLine: number = MAX_LINE) {}

  /** Bytes held back waiting for a newline. */
  get pending(): number {
    return this.carry ? this.carry.length : 0;
  }

  /** Bytes not yet framed because the sink asked to stop (see resume()). */
  get held(): number {
    return this.rest ? this.rest.length : 0;
  }

  /**
   * Frames what was held back when the sink last asked to stop. Returns
   * false if it asks to stop again (the remainder stays held).
   */
  resume(sink: LineSink): boolean {
    const rest = this.rest;
    if (rest === null) return true;
    this.rest = null;
    return this.push(rest, sink);
  }

  /**
   * Feeds a chunk. Throws LineTooLongError as soon as an unterminated line
   * exceeds the limit. Returns false if the sink asked to stop: the rest of
   * the chunk is then held (and a chunk pushed meanwhile is queued behind it)
   * until resume().
   */
  /** `firstNl`: the chunk's first newline when the caller already looked it up (saves a second search). */
  push(chunk: Buffer, sink: LineSink, firstNl?: number): boolean {
    if (this.rest !== null) {
      this.rest = Buffer.concat([this.rest, chunk]);
      return false;
    }
    let start = 0;
    let nl = firstNl ?? chunk.indexOf(10);
    if (this.carry !== null) {
      if (nl < 0) {
        if (this.carry.length + chunk.length > this.maxLine + 1) throw new LineTooLongError(this.maxLine);
        this.carry = Buffer.concat([this.carry, chunk]);
        return true;
      }
      const line = Buffer.concat([this.carry, chunk.subarray(0, nl)]);
      this.carry = null;
      start = nl + 1;
      if (!this.emit(line, sink)) return this.stop(chunk, start);
      nl = start < chunk.length ? chunk.indexOf(10, start) : -1;
    }
    while (nl >= 0) {
      const line = chunk.subarray(start, nl);
      start = nl + 1;
      if (!this.emit(line, sink)) return this.stop(chunk, start);
      // The usual chunk ends with its one line: no second search.
      nl = start < chunk.length ? chunk.indexOf(10, start) : -1;
    }
    if (start < chunk.length) {
      // +1: a line of exactly maxLine bytes may still be waiting for its `\r\n`.
      if (chunk.length - start > this.maxLine + 1) throw new LineTooLongError(this.maxLine);
      this.carry = chunk.subarray(start);
    }
    return true;
  }

  private stop(chunk: Buffer, start: number): false {
    if (start < chunk.length) this.rest = chunk.subarray(start);
    return false;
  }

  private emit(line: Buffer, sink: LineSink): boolean {
    let end = line.length;
    if (end > 0 && line[end - 1] === 13) end--;
    if (end > this.maxLine) throw new LineTooLongError(this.maxLine);
    return sink(end === line.length ? line : line.subarray(0, end)) !== false;
  }
}
