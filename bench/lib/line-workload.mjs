// SPDX-License-Identifier: LGPL-3.0-or-later
/** The requests and expected replies of the line load generator. Pure. */

/** `send <n>\n` -> `expect <n>\n`, n counting up from 1. */
export function lineWorkload(send, expect) {
  let n = 0;
  return {
    next: () => ++n,
    request: (i) => `${send} ${i}\n`,
    expected: (i) => `${expect} ${i}\n`,
  };
}
