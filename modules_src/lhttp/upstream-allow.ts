// SPDX-License-Identifier: LGPL-3.0-or-later
/**
 * `lhttp.upstream_allow`: the URL prefixes an lhttp client may name in
 * `upstream`. Pure. Both the listed prefixes and the client's URL go through
 * the WHATWG URL parser (the one `fetch` uses), and are compared part by
 * part: scheme, host, port (default ports filled in), path. Never as raw
 * strings, so `http://billing.internal:8080@evil/` (user info, host `evil`)
 * or `http://billing.internal:8080.evil/` (not a URL) cannot pass for
 * `http://billing.internal:8080/`.
 */

export interface AllowRule {
  /** `http:` or `https:`. */
  readonly protocol: string;
  /** As the URL parser normalises it: lower case, IPv4 in dotted form, IPv6 in brackets. */
  readonly hostname: string;
  /** Always explicit (80/443 when the prefix left it out). */
  readonly port: string;
  /** Path prefix; ends with `/` (matched as written) or not (matched at a segment boundary). */
  readonly path: string;
}

function effectivePort(u: URL): string {
  return u.port !== '' ? u.port : u.protocol === 'https:' ? '443' : '80';
}

/**
 * Parses the setting (URL prefixes separated by commas or white space).
 * Throws on an entry that is not an http(s) URL prefix, so a mistyped list
 * stops the module loading rather than silently allowing nothing or more.
 */
export function parseAllowList(raw: string | undefined): AllowRule[] {
  const out: AllowRule[] = [];
  for (const entry of (raw ?? '').split(/[\s,]+/)) {
    if (entry === '') continue;
    let u: URL;
    try {
      u = new URL(entry);
    } catch {
      throw new Error(`lhttp.upstream_allow: ${JSON.stringify(entry)} is not a URL`);
    }
    if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new Error(`lhttp.upstream_allow: ${JSON.stringify(entry)} is not an http:// or https:// URL`);
    if (u.username !== '' || u.password !== '') throw new Error(`lhttp.upstream_allow: ${JSON.stringify(entry)} has user info`);
    if (u.search !== '' || u.hash !== '' || entry.includes('?') || entry.includes('#')) throw new Error(`lhttp.upstream_allow: ${JSON.stringify(entry)} has a query or fragment (list URL prefixes: scheme, host, port, path)`);
    if (u.hostname === '') throw new Error(`lhttp.upstream_allow: ${JSON.stringify(entry)} has no host`);
    out.push({ protocol: u.protocol, hostname: u.hostname, port: effectivePort(u), path: u.pathname });
  }
  return out;
}

/** An encoded `/` or `\` inside a segment: some servers decode it into a separator after our check. */
const ENCODED_SEPARATOR = /%2f|%5c/i;

function pathMatches(prefix: string, path: string): boolean {
  if (prefix.endsWith('/')) return path.startsWith(prefix);
  return path === prefix || (path.startsWith(prefix) && path.charCodeAt(prefix.length) === 47 /* / */);
}

/**
 * The URL to request when `url` falls under one of the rules, else null.
 * The caller requests the returned (parsed) URL, so what was checked is what
 * is fetched.
 */
export function allowUpstream(rules: readonly AllowRule[], url: string): URL | null {
  if (rules.length === 0) return null;
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return null;
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') return null;
  if (u.username !== '' || u.password !== '') return null;
  if (ENCODED_SEPARATOR.test(u.pathname)) return null;
  const port = effectivePort(u);
  for (const r of rules) {
    if (r.protocol === u.protocol && r.hostname === u.hostname && r.port === port && pathMatches(r.path, u.pathname)) return u;
  }
  return null;
}
