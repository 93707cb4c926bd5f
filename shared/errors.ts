// SPDX-License-Identifier: MIT
/**
 * The codes of the errors the service kit throws (`ConfigError`,
 * `BodyTooLargeError`, `BodyAbortedError`), with what each means. The core's
 * one error table (src/errors.ts) includes these, so every `HRMR_*` code is
 * listed in one place; they live here because `shared/` imports nothing of
 * the core.
 */
export const KIT_ERROR_CODES = {
  HRMR_BAD_SETTING: 'a --set NAME.KEY=VALUE value does not parse or is out of range; the module does not load',
  HRMR_BODY_TOO_LARGE: 'readBody: a request body over max (413, then the connection closes)',
  HRMR_BODY_ABORTED: 'readBody: the client went away before its body was complete',
} as const;

export type KitErrorCode = keyof typeof KIT_ERROR_CODES;
