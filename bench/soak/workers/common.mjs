// SPDX-License-Identifier: LGPL-3.0-or-later
/** Worker side of the soak's IPC: the config arrives as the first message; the worker dies with its parent. */

export function config() {
  // A worker never outlives the driver.
  process.on('disconnect', () => process.exit(0));
  return new Promise((resolve) => process.once('message', resolve));
}

export function report(m) {
  process.send(m);
}

/** Resolves with the next message of the given type. */
export function waitFor(type) {
  return new Promise((resolve) => {
    const on = (m) => {
      if (m?.type === type) {
        process.removeListener('message', on);
        resolve(m);
      }
    };
    process.on('message', on);
  });
}
