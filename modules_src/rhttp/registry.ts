// SPDX-License-Identifier: LGPL-3.0-or-later
/**
 * "Bat Vision" bookkeeping: the services that acknowledged a `BEAT`, and
 * the per-request rejection count. Plain data plus functions (the data is
 * kept across reloads of the module, the functions are each version's own).
 * Pure: time is passed in.
 */

export interface Service {
  readonly name: string;
  description: string;
  /** ms since the epoch of the first acknowledgement in this run of it. */
  readonly since: number;
  /** ms since the epoch of the last acknowledgement. */
  lastAck: number;
}

/** Live services by name. */
export type Registry = Map<string, Service>;

/** Byte 14 (Shift Out) separates a service's name from its description on `ACKNOWLEDGE_PIPE`. */
export const ACK_SEPARATOR = '\x0E';

/** `name\x0Edescription` -> its parts; a payload without the separator is all name. Null for an empty name. */
export function parseAck(payload: string): { name: string; description: string } | null {
  const i = payload.indexOf(ACK_SEPARATOR);
  const name = (i < 0 ? payload : payload.slice(0, i)).trim();
  const description = i < 0 ? '' : payload.slice(i + 1).trim();
  return name === '' ? null : { name, description };
}

/**
 * Records an acknowledgement. Returns the service when it is new (joined),
 * `'seen'` for a known one, or null for a payload without a name.
 */
export function recordAck(reg: Registry, payload: string, now: number): Service | 'seen' | null {
  const a = parseAck(payload);
  if (a === null) return null;
  const s = reg.get(a.name);
  if (s !== undefined) {
    s.lastAck = now;
    s.description = a.description;
    return 'seen';
  }
  const fresh: Service = { name: a.name, description: a.description, since: now, lastAck: now };
  reg.set(a.name, fresh);
  return fresh;
}

/** Drops every service whose last acknowledgement is older than `maxAgeMs`; returns the dropped ones. */
export function sweep(reg: Registry, now: number, maxAgeMs: number): Service[] {
  const dropped: Service[] = [];
  for (const s of reg.values()) {
    if (now - s.lastAck > maxAgeMs) dropped.push(s);
  }
  for (const s of dropped) reg.delete(s.name);
  return dropped;
}

/**
 * Whether a request must be given up as lost (418): no live service, or as
 * many rejections as services that could have answered. A request was
 * published to the services live at that moment (`liveAtPublish`); those
 * dropped since cannot answer, and those joined since never saw it.
 */
export function isLost(rejections: number, liveAtPublish: number, liveNow: number): boolean {
  if (liveNow === 0 || liveAtPublish === 0) return true;
  return rejections >= Math.min(liveAtPublish, liveNow);
}
