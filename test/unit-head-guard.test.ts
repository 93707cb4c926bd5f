// SPDX-License-Identifier: LGPL-3.0-or-later
// HeadGuard's sweep (src/http/head-guard.ts) on a clock of its own: which connections miss
// the head or request deadline, and which are idle. The sockets are stand-ins carrying the two
// things the guard reads (bytesRead, and node's _httpMessage for "a response is in flight");
// the real-socket behaviour is in test/http-head-guard.test.ts.
import assert from 'node:assert/strict';
import type { Socket } from 'node:net';
import { test } from 'node:test';
import { HeadGuard, type HeadState } from '../src/http/head-guard.ts';

interface Fake {
  bytesRead: number;
  _httpMessage: { req: { complete: boolean } } | null;
}

function setup(headersTimeoutMs = 400, requestTimeoutMs = 1000) {
  const states = new Map<Fake, HeadState>();
  const expired: Fake[] = [];
  const guard = new HeadGuard(
    {
      stateOf: (s) => states.get(s as unknown as Fake),
      forEach: (fn) => {
        for (const [s, st] of states) if (st.guarded) fn(s as unknown as Socket, st);
      },
    },
    { headersTimeoutMs, requestTimeoutMs, expire: (s) => expired.push(s as unknown as Fake) },
  );
  const open = (bytesRead = 10): Fake => {
    const s: Fake = { bytesRead, _httpMessage: null };
    states.set(s, { guarded: false, requests: 0, seen: 0, bytes: 0, headAt: 0, requestAt: 0 });
    guard.track(s as unknown as Socket);
    return s;
  };
  return { guard, open, expired, states };
}

test('a first head not complete within the headers timeout expires; one completed in time does not', (t) => {
  const { guard, open, expired } = setup();
  t.after(() => guard.close());
  const t0 = Date.now();
  const slow = open();
  const quick = open();
  guard.requestSeen(quick as unknown as Socket);
  guard.sweep(t0 + 200);
  assert.deepEqual(expired, []);
  guard.sweep(t0 + 500);
  assert.deepEqual(expired, [slow]);
  guard.sweep(t0 + 900);
  assert.deepEqual(expired, [slow], 'expired once, then no longer guarded');
});

test('between requests: no bytes is idle (no deadline); bytes of a next head start its clock', (t) => {
  const { guard, open, expired } = setup();
  t.after(() => guard.close());
  const t0 = Date.now();
  const s = open(100);
  guard.requestSeen(s as unknown as Socket);
  guard.sweep(t0 + 100); // sees the request, resets the head clock
  guard.sweep(t0 + 5_000);
  assert.deepEqual(expired, [], 'an idle kept-alive connection is not late');
  assert.deepEqual(guard.idle(), [s]);
  s.bytesRead = 120; // a next head begins
  guard.sweep(t0 + 5_100);
  assert.deepEqual(guard.idle(), [], 'a head in progress is not idle');
  guard.sweep(t0 + 5_400);
  assert.deepEqual(expired, []);
  guard.sweep(t0 + 5_600);
  assert.deepEqual(expired, [s]);
});

test('a response in flight: the handler is not timed, a body still arriving past the request timeout is', (t) => {
  const { guard, open, expired } = setup(400, 1000);
  t.after(() => guard.close());
  const t0 = Date.now();
  const slowHandler = open();
  const slowBody = open();
  for (const s of [slowHandler, slowBody]) guard.requestSeen(s as unknown as Socket);
  slowHandler._httpMessage = { req: { complete: true } };
  slowBody._httpMessage = { req: { complete: false } };
  guard.sweep(t0 + 100);
  guard.sweep(t0 + 900);
  assert.deepEqual(expired, []);
  guard.sweep(t0 + 1_200);
  assert.deepEqual(expired, [slowBody]);
  guard.sweep(t0 + 60_000);
  assert.deepEqual(expired, [slowBody], 'a handler may take as long as it likes');
  assert.deepEqual(guard.idle(), [], 'a connection with a response in flight is not idle');
});

test('an upgraded connection is no longer guarded, nor listed', (t) => {
  const { guard, open, expired } = setup();
  t.after(() => guard.close());
  const s = open();
  guard.untrack(s as unknown as Socket);
  guard.sweep(Date.now() + 10_000);
  assert.deepEqual(expired, []);
  assert.deepEqual(guard.all(), []);
});

test('the sweep interval is a quarter of the headers timeout, 100 ms to 2 s', () => {
  for (const [ms, want] of [
    [100, 100],
    [400, 100],
    [2_000, 500],
    [20_000, 2_000],
  ] as const) {
    const { guard } = setup(ms);
    assert.equal(guard.intervalMs, want);
    guard.close();
  }
});
