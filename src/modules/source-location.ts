// SPDX-License-Identifier: LGPL-3.0-or-later
/**
 * Where in a module's own source a shape problem is (`modules_src/x.ts:5:3`),
 * found through the source map esbuild writes beside the built file. A shape
 * error is hrmr's check, not a crash: the module's line says more than a
 * stack through hrmr's internals.
 */
import { readFileSync } from 'node:fs';
import { basename, dirname, relative, resolve } from 'node:path';

/** 1-based line and column of the first match of `re` in `text`, or null. Pure. */
export function locate(text: string, re: RegExp): { line: number; column: number } | null {
  const m = re.exec(text);
  if (!m) return null;
  const before = text.slice(0, m.index);
  const line = before.split('\n').length;
  return { line, column: m.index - before.lastIndexOf('\n') };
}

/** The pattern for the spot a problem is about: an unknown key, else the default export. Pure. */
export function problemPattern(problem: string): RegExp {
  const key = /unknown key "([\w$]+)"/.exec(problem)?.[1];
  if (key) return new RegExp(`\\b${key}\\s*:`);
  if (/^routes\b/.test(problem)) return /\broutes\s*:/;
  return /export\s+default\b/;
}

/** `file:line:col` in the module's source for `problem`, or null (no map, no source). */
export function sourceLocation(builtFile: string, problem: string): string | null {
  let map: { sources?: unknown; sourcesContent?: unknown };
  try {
    map = JSON.parse(readFileSync(`${builtFile}.map`, 'utf8')) as typeof map;
  } catch {
    return null;
  }
  if (!Array.isArray(map.sources)) return null;
  const name = basename(builtFile).replace(/\.m?js$/, '');
  const i = map.sources.findIndex((s) => typeof s === 'string' && basename(s).replace(/\.[cm]?[jt]sx?$/, '') === name);
  if (i < 0) return null;
  const path = resolve(dirname(builtFile), map.sources[i] as string);
  let text = Array.isArray(map.sourcesContent) && typeof map.sourcesContent[i] === 'string' ? (map.sourcesContent[i] as string) : null;
  if (text === null) {
    try {
      text = readFileSync(path, 'utf8');
    } catch {
      return null;
    }
  }
  const at = locate(text, problemPattern(problem)) ?? locate(text, /export\s+default\b/);
  const shown = relative(process.cwd(), path) || path;
  return at ? `${shown}:${at.line}:${at.column}` : shown;
}
