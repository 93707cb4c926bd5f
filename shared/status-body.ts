// SPDX-License-Identifier: MIT
/** The one-line body of a short text answer (`404 Not Found\n`), shared by the core's HTTP host and the static module. */
import { STATUS_CODES } from 'node:http';

const BODIES = new Map<number, Buffer>();

/** `404 Not Found\n`: one line, cached per status. */
export function bodyFor(status: number): Buffer {
  let b = BODIES.get(status);
  if (!b) BODIES.set(status, (b = Buffer.from(`${status} ${STATUS_CODES[status] ?? ''}\n`)));
  return b;
}
