// SPDX-License-Identifier: LGPL-3.0-or-later
/**
 * Legacy argv form. hrmr's documented legacy spelling is single-dash long
 * flags (`-port 8080 -threads 4`), which commander would read as a cluster
 * of short flags. Rewrite them to `--port` before parsing. Pure.
 */

/**
 * Rewrites `-name` and `-name=value` to `--name...` when `name` is one of
 * `longNames` (without dashes). Everything after `--` is left alone, as are
 * short flags, negative numbers and values.
 */
export function normalizeArgv(args: readonly string[], longNames: ReadonlySet<string>): string[] {
  const out: string[] = [];
  let passthrough = false;
  for (const a of args) {
    if (passthrough || a === '--') {
      passthrough = true;
      out.push(a);
      continue;
    }
    const m = /^-([a-z][a-z0-9-]+)(=.*)?$/i.exec(a);
    if (m && longNames.has(m[1]!)) out.push(`--${m[1]}${m[2] ?? ''}`);
    else out.push(a);
  }
  return out;
}
