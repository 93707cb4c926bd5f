// SPDX-License-Identifier: LGPL-3.0-or-later
/**
 * The clock the hot paths time with (metrics' latencies, a connection's
 * accept time): `performance.now()` read through node:perf_hooks. The global
 * `performance` is an accessor, called on every use; measured as a duet on
 * the HTTP route hello, the two reads per request through the global cost
 * 3-4% of the host's CPU per keep-alive request.
 */
import { performance } from 'node:perf_hooks';

/** Milliseconds (fractional) since the process started: for durations only. */
export const now: () => number = performance.now.bind(performance);
