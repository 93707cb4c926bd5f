// SPDX-License-Identifier: LGPL-3.0-or-later
/**
 * Composes the live routes of every module (plus the admin prefixes) into
 * one prefix table. Modules are taken in name order; a prefix already taken
 * stays with its first owner and the later module's route is reported as a
 * conflict.
 */
import { PrefixTable, type PrefixEntry } from '../router/prefix-table.ts';
import { RouteConflictError } from '../errors.ts';
import type { ModuleVersion } from './version.ts';
import type { CompiledRoute } from './validate.ts';

/** What a module slot looks like to the router: the version serving now, and whether it is being swapped. */
export interface SlotView {
  readonly current: ModuleVersion | null;
  readonly swapping: boolean;
}

export type RouteTarget =
  | { readonly kind: 'admin' }
  | { readonly kind: 'module'; readonly slot: SlotView; readonly version: ModuleVersion; readonly route: CompiledRoute };

export const ADMIN_TARGET: RouteTarget = { kind: 'admin' };

export function buildRouteTable(slots: Iterable<SlotView>, adminPrefixes: readonly string[]): { table: PrefixTable<RouteTarget>; conflicts: RouteConflictError[] } {
  const entries: PrefixEntry<RouteTarget>[] = [];
  const owners = new Map<string, string>();
  for (const p of adminPrefixes) {
    const prefix = Buffer.from(p, 'latin1');
    owners.set(prefix.toString('latin1'), '(built-in)');
    entries.push({ prefix, target: ADMIN_TARGET });
  }
  const live = [...slots].filter((s) => s.current !== null).sort((a, b) => cmp(a.current!.name, b.current!.name));
  const conflicts: RouteConflictError[] = [];
  for (const slot of live) {
    const v = slot.current!;
    for (const route of v.spec.routes) {
      const key = route.prefix.toString('latin1');
      const owner = owners.get(key);
      if (owner !== undefined) {
        conflicts.push(new RouteConflictError(v.name, route.label, owner));
        continue;
      }
      owners.set(key, v.name);
      entries.push({ prefix: route.prefix, target: { kind: 'module', slot, version: v, route } });
    }
  }
  return { table: new PrefixTable(entries), conflicts };
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
