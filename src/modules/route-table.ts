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
import { FirstByteSplit, type Matcher } from '../router/matcher.ts';
import { SniMatcher, SniTable } from '../router/matcher-sni.ts';
import { TLS_HANDSHAKE } from '../tls/client-hello.ts';
import { PROXY_V1_PREFIX, PROXY_V2_SIGNATURE } from '../proxy/parse.ts';
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
  /** A TLS ClientHello to terminate here, or one that cannot be (incomplete when the peek gave up, malformed). */
  | { readonly kind: 'tls'; readonly action: 'terminate' | 'incomplete' | 'malformed' }
  /** A PROXY protocol header from a source not trusted to send one: closed and counted. */
  | { readonly kind: 'proxy-refused' }
  | { readonly kind: 'module'; readonly slot: SlotView; readonly version: ModuleVersion; readonly route: CompiledRoute };

/** An HTTP path route: the host looks the version up per request. */
export interface HttpTarget {
  readonly slot: SlotView;
  readonly version: ModuleVersion;
  readonly route: CompiledRoute;
}

export const ADMIN_TARGET: RouteTarget = { kind: 'admin' };
export const HTTP_TARGET: RouteTarget = { kind: 'http' };
const tlsEntry = (action: 'terminate' | 'incomplete' | 'malformed'): PrefixEntry<RouteTarget> => ({ prefix: Buffer.alloc(0), target: { kind: 'tls', action } });
const TLS_TERMINATE = tlsEntry('terminate');
const TLS_OUTCOMES = { incomplete: tlsEntry('incomplete'), malformed: tlsEntry('malformed') };
const PROXY_REFUSED: RouteTarget = { kind: 'proxy-refused' };

export interface RouteTableOptions {
  /** A certificate is configured: TLS connections no SNI route takes are terminated here. */
  readonly tlsTerminate?: boolean;
}

/** The request-line prefixes the HTTP host claims when any module has an HTTP route (one list: src/http/methods.ts). */
export { HTTP_METHOD_PREFIXES };

/** Who owns each route key ('b:' + prefix bytes, or 'h:' + path key): module name. */
export type Owners = ReadonlyMap<string, string>;

export interface RouteTables {
  /** What the peek matches new connections with: the byte-prefix table, behind a first-byte TLS split when TLS is in use. */
  table: Matcher<RouteTarget>;
  /** The byte-prefix table alone (what a decrypted TLS stream is matched with). */
  plain: PrefixTable<RouteTarget>;
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
  return route.kind === 'http' ? `h:${route.httpKey}` : route.kind === 'sni' ? `s:${route.sni}` : `b:${route.prefix.toString('latin1')}`;
}

/**
 * `httpPrefixes`: request-line prefixes of the core's own HTTP routes
 * (`GET /metrics`...), sent to the HTTP host even when no module has an
 * HTTP route (then other HTTP requests still go where they went before).
 */
export function buildRouteTable(slots: Iterable<SlotView>, adminPrefixes: readonly string[], previous: Owners = new Map(), opts: RouteTableOptions = {}, httpPrefixes: readonly string[] = []): RouteTables {
  const entries: PrefixEntry<RouteTarget>[] = [];
  const owners = new Map<string, string>();
  for (const p of adminPrefixes) {
    const prefix = Buffer.from(p, 'latin1');
    owners.set(`b:${prefix.toString('latin1')}`, '(built-in)');
    entries.push({ prefix, target: ADMIN_TARGET });
  }
  for (const p of httpPrefixes) {
    const prefix = Buffer.from(p, 'latin1');
    owners.set(`b:${p}`, '(built-in)');
    entries.push({ prefix, target: HTTP_TARGET });
  }
  // A PROXY header is only believed from --proxy-protocol-from sources, read before the peek: seen here, it is refused.
  for (const prefix of [PROXY_V1_PREFIX, PROXY_V2_SIGNATURE]) {
    owners.set(`b:${prefix.toString('latin1')}`, '(built-in)');
    entries.push({ prefix, target: PROXY_REFUSED });
  }
  const sni = new SniTable<PrefixEntry<RouteTarget>>();
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
    else if (winner.route.kind === 'sni') sni.add(winner.route.sni!, { prefix: winner.route.prefix, target: { kind: 'module', slot: winner.slot, version: v, route: winner.route } });
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
  const plain = new PrefixTable(entries);
  // Without TLS in use the peek matches with the prefix table itself: no extra call for plain connections.
  const tls = opts.tlsTerminate === true || sni.size > 0;
  const table: Matcher<RouteTarget> = tls ? new FirstByteSplit(TLS_HANDSHAKE, new SniMatcher(sni, { terminate: opts.tlsTerminate === true ? TLS_TERMINATE : null, ...TLS_OUTCOMES }, plain), plain) : plain;
  return { table, plain, http: new PathTable(httpEntries), hasHttp, conflicts, refused, shadowed, owners };
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
