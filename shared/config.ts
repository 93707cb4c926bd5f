// SPDX-License-Identifier: MIT
/**
 * Settings: one grammar for `ctx.config` values (`--set NAME.KEY=VALUE`,
 * `HRMR_CFG_NAME_KEY`) and one error format, so every module reads numbers,
 * sizes, durations, switches, lists and URLs the same way:
 *
 *   NAME: bad setting KEY=VALUE: expected a duration from 1ms to 10m (ms, or with a unit: 500ms, 5s, 2m, 1h)
 *
 * An absent or blank value gives the default. Pure: no I/O.
 */
import type { KitErrorCode } from './errors.js';

/** A setting that does not parse or is out of range; the module fails to load with this message. */
export class ConfigError extends Error {
  override name = 'ConfigError';
  readonly code = 'HRMR_BAD_SETTING' satisfies KitErrorCode;
  constructor(
    readonly module: string,
    readonly key: string,
    readonly value: string,
    readonly expected: string,
  ) {
    super(`${module}: bad setting ${key}=${shown(value)}: expected ${expected}`);
  }
}

/** The value as shown in an error: control characters escaped, long values cut. */
function shown(v: string): string {
  const s = /[\x00-\x1f\x7f]/.test(v) ? JSON.stringify(v).slice(1, -1) : v;
  return s.length > 80 ? `${s.slice(0, 80)}…` : s;
}

// ---------------------------------------------------------------- pure parsers

const SIZE = /^(\d+)\s*([kmg]?)(?:i?b)?$/i;
const SIZE_UNIT: Record<string, number> = { '': 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3 };

/** Bytes: `4096`, `64k`, `256m`, `1g` (also `64kb`, `64KiB`, `512b`; powers of 1024). null when not a size. */
export function parseSize(text: string): number | null {
  const m = SIZE.exec(text.trim());
  if (m === null) return null;
  const n = Number(m[1]) * SIZE_UNIT[m[2]!.toLowerCase()]!;
  return Number.isSafeInteger(n) ? n : null;
}

const DURATION = /^(\d+(?:\.\d+)?)\s*(ms|s|m|h)?$/i;
const DURATION_UNIT: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/**
 * Milliseconds: `250ms`, `5s`, `2m`, `1h`, `1.5s`; a plain number is in
 * `unit` (ms unless a module documents seconds). Rounded to a whole ms.
 * null when not a duration.
 */
export function parseDuration(text: string, unit: 'ms' | 's' = 'ms'): number | null {
  const m = DURATION.exec(text.trim());
  if (m === null) return null;
  const n = Math.round(Number(m[1]) * DURATION_UNIT[(m[2] ?? unit).toLowerCase()]!);
  return Number.isSafeInteger(n) ? n : null;
}

const TRUE = new Set(['1', 'true', 'yes', 'on']);
const FALSE = new Set(['0', 'false', 'no', 'off']);

/** `1`/`true`/`yes`/`on` or `0`/`false`/`no`/`off` (any case); null otherwise. */
export function parseBool(text: string): boolean | null {
  const s = text.trim().toLowerCase();
  return TRUE.has(s) ? true : FALSE.has(s) ? false : null;
}

/** Items separated by commas and/or white space, empty ones dropped: `a, b c` gives `['a', 'b', 'c']`. */
export function parseList(text: string): string[] {
  return text.split(/[\s,]+/).filter((s) => s !== '');
}

/** A byte count the way sizes are written: `65536` gives `64k`, `1000` stays `1000`. */
export function formatSize(n: number): string {
  for (const [u, m] of [['g', 1024 ** 3], ['m', 1024 ** 2], ['k', 1024]] as const) if (n !== 0 && n % m === 0) return `${n / m}${u}`;
  return String(n);
}

/** Milliseconds the way durations are written: `90000` gives `90s`, `3600000` gives `1h`. */
export function formatDuration(ms: number): string {
  for (const [u, m] of [['h', 3_600_000], ['m', 60_000], ['s', 1000]] as const) if (ms !== 0 && ms % m === 0) return `${ms / m}${u}`;
  return `${ms}ms`;
}

// ---------------------------------------------------------------- one value

export interface NumberOptions {
  /** Given when the setting is absent or blank. */
  readonly default: number;
  /** Smallest value accepted (default 0). */
  readonly min?: number;
  /** Largest value accepted (default: no bound). */
  readonly max?: number;
}

export interface DurationOptions extends NumberOptions {
  /** The unit of a plain number (default `'ms'`; `'s'` for settings documented in seconds). Values and bounds are ms either way. */
  readonly unit?: 'ms' | 's';
}

export interface ListOptions {
  readonly default?: readonly string[];
  /** Accepts one item; a refused item fails the setting with `expected`. */
  readonly item?: (item: string) => boolean;
  /** What an item should be, for the error (`'a path starting with /'`). */
  readonly expected?: string;
}

export interface UrlOptions {
  /** Given when the setting is absent, blank, `off` or `none` (default null). */
  readonly default?: string | null;
  /** Schemes accepted, without `:` (default: http, https). */
  readonly schemes?: readonly string[];
}

/** A value that is absent, blank, or a word meaning "none" for URLs. */
function blank(raw: string | undefined): raw is undefined {
  return raw === undefined || raw.trim() === '';
}

function range(what: string, o: NumberOptions, fmt: (n: number) => string): string {
  const min = o.min ?? 0;
  const max = o.max ?? Infinity;
  if (max === Infinity) return min > 0 ? `${what} of at least ${fmt(min)}` : what;
  return `${what} from ${fmt(min)} to ${fmt(max)}`;
}

/**
 * One setting of one module: `setting('lhttp', 'max_frame', raw).size({ default: 40960 })`.
 * Every reader throws {@link ConfigError} with the one format.
 */
export class Setting {
  constructor(
    readonly module: string,
    readonly key: string,
    readonly raw: string | undefined,
  ) {}

  /** Throws the one error format for this setting. */
  fail(expected: string): never {
    throw new ConfigError(this.module, this.key, (this.raw ?? '').trim(), expected);
  }

  private bounded(n: number | null, o: NumberOptions, expected: string): number {
    if (n === null || n < (o.min ?? 0) || n > (o.max ?? Infinity)) this.fail(expected);
    return n;
  }

  /** A whole number: `42` (`-3` when `min` is negative). */
  int(o: NumberOptions): number {
    if (blank(this.raw)) return o.default;
    const s = this.raw.trim();
    return this.bounded(/^-?\d+$/.test(s) ? Number(s) : null, o, range('a whole number', o, String));
  }

  /** A byte size: `4096`, `64k`, `256m`, `1g` (see {@link parseSize}). */
  size(o: NumberOptions): number {
    if (blank(this.raw)) return o.default;
    return this.bounded(parseSize(this.raw), o, `${range('a size', o, formatSize)} (bytes, or with k, m or g: 64k, 1m)`);
  }

  /** A duration in ms: `250ms`, `5s`, `2m`, `1h`; a plain number is in `o.unit` (see {@link parseDuration}). */
  duration(o: DurationOptions): number {
    if (blank(this.raw)) return o.default;
    const unit = o.unit ?? 'ms';
    const hint = unit === 'ms' ? 'ms, or with a unit: 500ms, 5s, 2m, 1h' : 'seconds, or with a unit: 500ms, 5s, 2m, 1h';
    return this.bounded(parseDuration(this.raw, unit), o, `${range('a duration', o, formatDuration)} (${hint})`);
  }

  /** A switch: `1`/`true`/`yes`/`on`, `0`/`false`/`no`/`off`. */
  bool(o: { readonly default: boolean }): boolean {
    if (blank(this.raw)) return o.default;
    const b = parseBool(this.raw);
    return b ?? this.fail('one of 1, true, yes, on, 0, false, no, off');
  }

  /** Items separated by commas or spaces (see {@link parseList}). */
  list(o: ListOptions = {}): string[] {
    if (blank(this.raw)) return [...(o.default ?? [])];
    const items = parseList(this.raw);
    if (o.item !== undefined) for (const it of items) if (!o.item(it)) this.fail(`a list of ${o.expected ?? 'valid items'} (separated by commas or spaces); ${shown(it)} is not one`);
    return items;
  }

  /** A URL with one of `o.schemes`, or null (`o.default`) when absent, blank, `off` or `none`. */
  url(o: UrlOptions = {}): string | null {
    const schemes = o.schemes ?? ['http', 'https'];
    if (blank(this.raw)) return o.default ?? null;
    const s = this.raw.trim();
    if (/^(off|none)$/i.test(s)) return null;
    let u: URL | null = null;
    try {
      u = new URL(s);
    } catch {
      /* reported below */
    }
    if (u === null || !schemes.includes(u.protocol.slice(0, -1).toLowerCase()) || u.hostname === '') {
      // Credentials never reach a log line.
      throw new ConfigError(this.module, this.key, redactUrl(s), `a URL starting with ${schemes.map((x) => `${x}://`).join(' or ')} and naming a host`);
    }
    return s;
  }

  /** One word of `choices` (compared in lower case); returns it in lower case. */
  oneOf<const T extends string>(choices: readonly T[], o: { readonly default: T }): T {
    if (blank(this.raw)) return o.default;
    const s = this.raw.trim().toLowerCase();
    return (choices as readonly string[]).includes(s) ? (s as T) : this.fail(`one of ${choices.join(', ')}`);
  }

  /** Text as given (trimmed), or the default when absent or blank. */
  text(o: { readonly default: string }): string {
    return blank(this.raw) ? o.default : this.raw.trim();
  }
}

/** The password (or the whole user part) of a URL replaced by `***`. */
export function redactUrl(url: string): string {
  return url.replace(/^([a-z][a-z0-9+.-]*:\/\/)([^@/]*)@/i, (_m, scheme: string, cred: string) => `${scheme}${cred.includes(':') ? cred.slice(0, cred.indexOf(':') + 1) + '***' : '***'}@`);
}

/** One setting: `setting('db', 'pool_size', raw).int({ default: 10, min: 1 })`. */
export function setting(module: string, key: string, raw: string | undefined): Setting {
  return new Setting(module, key, raw);
}

/**
 * The settings of a module, read by key. Keys are looked up as given: a
 * module that accepts `max-frame` for `max_frame` normalises its config first.
 *
 * @example
 * const s = settings(ctx.module, ctx.config);
 * const timeout = s.duration('timeout', { default: 5000, min: 1 }); // 5000, "5s", "1m"
 * const maxBody = s.size('max_body', { default: 1024 * 1024 });     // "64k", "1m"
 * const verbose = s.bool('verbose', { default: false });            // "on", "0", "yes"
 */
export function settings(module: string, config: Readonly<Record<string, string | undefined>>): Settings {
  return new Settings(module, config);
}

/** See {@link settings}. Every method throws {@link ConfigError} on a bad value. */
export class Settings {
  constructor(
    readonly module: string,
    readonly config: Readonly<Record<string, string | undefined>>,
  ) {}
  get(key: string): Setting {
    return new Setting(this.module, key, Object.hasOwn(this.config, key) ? this.config[key] : undefined);
  }
  int(key: string, o: NumberOptions): number {
    return this.get(key).int(o);
  }
  size(key: string, o: NumberOptions): number {
    return this.get(key).size(o);
  }
  duration(key: string, o: DurationOptions): number {
    return this.get(key).duration(o);
  }
  bool(key: string, o: { readonly default: boolean }): boolean {
    return this.get(key).bool(o);
  }
  list(key: string, o?: ListOptions): string[] {
    return this.get(key).list(o);
  }
  url(key: string, o?: UrlOptions): string | null {
    return this.get(key).url(o);
  }
  oneOf<const T extends string>(key: string, choices: readonly T[], o: { readonly default: T }): T {
    return this.get(key).oneOf(choices, o);
  }
  text(key: string, o: { readonly default: string }): string {
    return this.get(key).text(o);
  }
  /** Throws the one error format for `key`. */
  fail(key: string, expected: string): never {
    return this.get(key).fail(expected);
  }
}
