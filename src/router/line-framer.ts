// SPDX-License-Identifier: LGPL-3.0-or-later
/**
 * Cuts a byte stream into lines. Pure: no I/O. Lines are handed out as views
 * of the incoming chunk where possible (no copy); only a line split across
 * chunks is joined.
 */

export const MAX_LINE = 64 * 1024;

export class LineTooLongError extends Error {
  override readonly name = 'LineTooLongError';
  readonly code = 'HRMR_LINE_TOO_LONG';
  constructor(limit: number) {
    super(`line too long (over ${limit} bytes)`);
  }
}

/** Called per complete line (without `\n` and a trailing `\r`); return `false` to stop. */
export type LineSink = (line: Buffer) => boolean | void;

export class LineFramer {
  private carry: Buffer | null = null;
  constructor(private readonly maxLine: number = MAX_LINE) {}

  /** Bytes held back waiting for a newline. */
  get pending(): number {
    return this.carry ? this.carry.length : 0;
  }

  /**
   * Feeds a chunk. Throws LineTooLongError as soon as an unterminated line
   * exceeds the limit. Returns false if the sink asked to stop.
   */
  push(chunk: Buffer, sink: LineSink): boolean {
    let start = 0;
    let nl = chunk.indexOf(10);
    if (this.carry !== null) {
      if (nl < 0) {
        if (this.carry.length + chunk.length > this.maxLine + 1) throw new LineTooLongError(this.maxLine);
        this.carry = Buffer.concat([this.carry, chunk]);
        return true;
      }
      const line = Buffer.concat([this.carry, chunk.subarray(0, nl)]);
      this.carry = null;
      if (!this.emit(line, sink)) return false;
      start = nl + 1;
      nl = chunk.indexOf(10, start);
    }
    while (nl >= 0) {
      if (!this.emit(chunk.subarray(start, nl), sink)) return false;
      start = nl + 1;
      nl = chunk.indexOf(10, start);
    }
    if (start < chunk.length) {
      // +1: a line of exactly maxLine bytes may still be waiting for its `\r\n`.
      if (chunk.length - start > this.maxLine + 1) throw new LineTooLongError(this.maxLine);
      this.carry = chunk.subarray(start);
    }
    return true;
  }

  private emit(line: Buffer, sink: LineSink): boolean {
    let end = line.length;
    if (end > 0 && line[end - 1] === 13) end--;
    if (end > this.maxLine) throw new LineTooLongError(this.maxLine);
    return sink(end === line.length ? line : line.subarray(0, end)) !== false;
  }
}
