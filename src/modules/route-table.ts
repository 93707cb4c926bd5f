// SPDX-License-Identifier: LGPL-3.0-or-later
/**
 * Composes the live routes of every module (plus the admin prefixes) into
 * the byte-prefix table that routes connections and the path table that
 * routes HTTP requests.
 *
 * Conflicts: a prefix (or HTTP path) that already has a live owner stays
 * with it, so a module added or changed later can never take traffic from
 * one that is serving; its route is refused and reported. Only when nobody
 * owned it before (start-up) does name order decide.
 */
import { PrefixTable, type PrefixEntry } from '../router/prefix-table.ts';
import { RouteConflictError } from '../errors.ts';
import { PathTable } from '../http/path-table.ts';
import { HTTP_METHOD_PREFIXES } from '../http/methods.ts';
import type { ModuleVersion } from './version.ts';
import type { CompiledRoute } from './validate.ts';

/** What a module slot looks like to the router: the version serving now, and whether it is being swapped. */
export interface SlotView {
  readonly current: ModuleVersion | null;
  readonly swapping: boolean;
}

export type RouteTarget =
  | { readonly kind: 'admin' }
  | { readonly kind: 'http' }
  | { readonly kind: 'module'; readonly slot: SlotView; readonly version: ModuleVersion; readonly route: CompiledRoute };

/** An HTTP path route: the host looks the version up per request. */
export interface HttpTarget {
  readonly slot: SlotView;
  readonly version: ModuleVersion;
  readonly route: CompiledRoute;
}

export const ADMIN_TARGET: RouteTarget = { kind: 'admin' };
export const HTTP_TARGET: RouteTarget = { kind: 'http' };

/** The request-line prefixes the HTTP host claims when any module has an HTTP route (one list: src/http/methods.ts). */
export { HTTP_METHOD_PREFIXES };

/** Who owns each route key ('b:' + prefix bytes, or 'h:' + path key): module name. */
export type Owners = ReadonlyMap<string, string>;

export interface RouteTables {
  table: PrefixTable<RouteTarget>;
  http: PathTable<HttpTarget>;
  /** True when the HTTP host serves the method prefixes. */
  hasHttp: boolean;
  conflicts: RouteConflictError[];
  /** Routes refused because a module already serving owns the key (a subset of conflicts). */
  refused: RouteConflictError[];
  /** Method prefixes a module's byte route takes whole (shadowing the HTTP host). */
  shadowed: Array<{ module: string; prefix: string }>;
  owners: Map<string, string>;
}

export function routeKey(route: CompiledRoute): string {
  return route.kind === 'http' ? `h:${route.httpKey}` : `b:${route.prefix.toString('latin1')}`;
}

export function buildRouteTable(slots: Iterable<SlotView>, adminPrefixes: readonly string[], previous: Owners = new Map()): RouteTables {
  const entries: PrefixEntry<RouteTarget>[] = [];
  const owners = new Map<string, string>();
  for (const p of adminPrefixes) {
    const prefix = Buffer.from(p, 'latin1');
    owners.set(`b:${prefix.toString('latin1')}`, '(built-in)');
    entries.push({ prefix, target: ADMIN_TARGET });
  }
  const live = [...slots].filter((s) => s.current !== null).sort((a, b) => cmp(a.current!.name, b.current!.name));
  // Every claim per key, in name order; the previous owner (if still claiming) first.
  const claims = new Map<string, Array<{ slot: SlotView; route: CompiledRoute }>>();
  for (const slot of live) {
    for (const route of slot.current!.spec.routes) {
      const key = routeKey(route);
      let list = claims.get(key);
      if (!list) claims.set(key, (list = []));
      list.push({ slot, route });
    }
  }
  const conflicts: RouteConflictError[] = [];
  const refused: RouteConflictError[] = [];
  const httpEntries: Array<[string, HttpTarget]> = [];
  for (const [key, list] of claims) {
    const builtIn = owners.get(key);
    const prev = previous.get(key);
    let winner = builtIn === undefined ? (list.find((c) => c.slot.current!.name === prev) ?? list[0]!) : null;
    for (const c of list) {
      if (c === winner) continue;
      const owner = builtIn ?? winner!.slot.current!.name;
      const err = new RouteConflictError(c.slot.current!.name, c.route.label, owner);
      conflicts.push(err);
      if (prev !== undefined && prev === owner) refused.push(err);
    }
    if (winner === null) continue;
    const v = winner.slot.current!;
    owners.set(key, v.name);
    if (winner.route.kind === 'http') httpEntries.push([winner.route.httpKey!, { slot: winner.slot, version: v, route: winner.route }]);
    else entries.push({ prefix: winner.route.prefix, target: { kind: 'module', slot: winner.slot, version: v, route: winner.route } });
  }
  const hasHttp = httpEntries.length > 0;
  const shadowed: RouteTables['shadowed'] = [];
  if (hasHttp) {
    for (const p of HTTP_METHOD_PREFIXES) {
      const owner = owners.get(`b:${p}`);
      if (owner !== undefined) {
        shadowed.push({ module: owner, prefix: p });
        continue;
      }
      entries.push({ prefix: Buffer.from(p, 'latin1'), target: HTTP_TARGET });
    }
  }
  return { table: new PrefixTable(entries), http: new PathTable(httpEntries), hasHttp, conflicts, refused, shadowed, owners };
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
