// SPDX-License-Identifier: LGPL-3.0-or-later
// Slots and ExpirySet: the churn-friendly bags behind in-flight requests, peeks and pool deadlines.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Slots } from '../src/util/slots.ts';
import { ExpirySet } from '../src/util/expiry-set.ts';

test('Slots: add gives a slot, remove frees it for reuse, a stale remove is refused', () => {
  const s = new Slots<object>();
  const a = {};
  const b = {};
  const sa = s.add(a);
  const sb = s.add(b);
  assert.notEqual(sa, sb);
  assert.equal(s.size, 2);
  assert.equal(s.remove(sa, b), false, 'the wrong item for the slot');
  assert.equal(s.remove(sa, a), true);
  assert.equal(s.remove(sa, a), false, 'removed twice');
  assert.equal(s.size, 1);
  const c = {};
  assert.equal(s.add(c), sa, 'the freed slot is reused');
  assert.deepEqual(new Set(s.values()), new Set([b, c]));
  assert.equal(s.remove(-1, a), false);
});

test('ExpirySet: expires only what is past its time, deleted entries never expire, a re-add after delete works', async () => {
  const expired: string[] = [];
  let sweeps = 0;
  const set = new ExpirySet<{ at: number; expirySlot: number; name: string }>(5, (e) => expired.push(e.name), () => sweeps++);
  const now = Date.now();
  const soon = { at: now + 10, expirySlot: -1, name: 'soon' };
  const late = { at: now + 10_000, expirySlot: -1, name: 'late' };
  const gone = { at: now + 10, expirySlot: -1, name: 'gone' };
  set.add(soon);
  set.add(late);
  set.add(gone);
  set.add(gone); // twice is once
  assert.equal(set.size, 3);
  set.delete(gone);
  assert.equal(gone.expirySlot, -1);
  assert.equal(set.size, 2);
  await new Promise((r) => setTimeout(r, 60));
  assert.deepEqual(expired, ['soon']);
  assert.equal(sweeps, 1);
  assert.equal(set.size, 1);
  set.delete(late);
  assert.equal(set.size, 0);
  gone.at = Date.now();
  set.add(gone);
  await new Promise((r) => setTimeout(r, 40));
  assert.deepEqual(expired, ['soon', 'gone']);
});
