// SPDX-License-Identifier: LGPL-3.0-or-later
/**
 * HTTP path-prefix routing. Pure: no I/O.
 *
 * A prefix matches a request path (before `?`) that equals it or continues
 * it at a `/` boundary; a trailing `/` on the prefix is not significant
 * (`/t/` and `/t` are one mount and both serve `/t`, `/t/`, `/t/x`). The
 * longest matching prefix wins; `/` is the catch-all.
 *
 * Lookup walks the path's `/` boundaries from the longest candidate down,
 * one Map probe each: cost grows with the path's depth, not with the number
 * of routes.
 */

/** The canonical key of a prefix: no trailing `/` (the root is `''`). Null if it is not a path. */
export function prefixKey(prefix: string): string | null {
  if (typeof prefix !== 'string' || prefix.length === 0 || prefix[0] !== '/') return null;
  if (/[\s?#]/.test(prefix)) return null;
  let end = prefix.length;
  while (end > 0 && prefix.charCodeAt(end - 1) === 47 /* / */) end--;
  return prefix.slice(0, end);
}

/**
 * The path part of a request target: origin-form `/a/b?q` gives `/a/b`;
 * absolute-form `http://h/a?q` gives `/a`. Null for `*` and other forms.
 */
export function targetPath(url: string): string | null {
  let start = 0;
  if (url.charCodeAt(0) !== 47) {
    const scheme = url.indexOf('://');
    if (scheme < 0) return null;
    start = url.indexOf('/', scheme + 3);
    if (start < 0) return '/';
  }
  let end = url.indexOf('?', start);
  if (end < 0) end = url.length;
  const hash = url.indexOf('#', start);
  if (hash >= 0 && hash < end) end = hash;
  return start === 0 && end === url.length ? url : url.slice(start, end);
}

export class PathTable<T> {
  private readonly byKey = new Map<string, T>();
  private readonly root: T | undefined;

  constructor(entries: Iterable<readonly [key: string, value: T]>) {
    let root: T | undefined;
    for (const [k, v] of entries) {
      if (k === '') root = v;
      else this.byKey.set(k, v);
    }
    this.root = root;
  }

  get size(): number {
    return this.byKey.size + (this.root === undefined ? 0 : 1);
  }

  /** The entry with the longest prefix matching `path` (a path as given by targetPath). */
  match(path: string): T | undefined {
    const m = this.byKey;
    if (m.size > 0) {
      let end = path.length;
      // Trailing slashes are not significant: `/health/` is looked up as `/health`.
      while (end > 1 && path.charCodeAt(end - 1) === 47) end--;
      for (;;) {
        const v = m.get(end === path.length ? path : path.slice(0, end));
        if (v !== undefined) return v;
        end = path.lastIndexOf('/', end - 1);
        if (end <= 0) break;
      }
    }
    return this.root;
  }
}
