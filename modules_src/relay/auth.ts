// SPDX-License-Identifier: LGPL-3.0-or-later
/**
 * Access control, decided per request from that request alone (the
 * original kept parsed credentials in Lua globals, so they leaked between
 * requests on one worker). Secrets are compared in constant time.
 */
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';

export interface Auth {
  /** Whether any of token, secret or public ids is configured; with none, every tunnel is open. */
  readonly enabled: boolean;
  readonly tokenDigest: Buffer | null;
  readonly secret: string;
  readonly publicIds: ReadonlySet<string>;
}

export function makeAuth(accessToken: string, signatureSecret: string, publicIds: ReadonlySet<string>): Auth {
  return {
    enabled: accessToken !== '' || signatureSecret !== '' || publicIds.size > 0,
    tokenDigest: accessToken === '' ? null : sha256(accessToken),
    secret: signatureSecret,
    publicIds,
  };
}

function sha256(s: string): Buffer {
  return createHash('sha256').update(s, 'utf8').digest();
}

const BEARER = /^Bearer[ \t]+(.+?)[ \t]*$/i;
const SIGNATURE = /^sha256=([0-9a-fA-F]{64})$/;

/** True when the request may use tunnel `id`. */
export function authorized(auth: Auth, id: string, authorization: string | undefined, signature: string | undefined, body: Buffer): boolean {
  if (!auth.enabled) return true;
  if (auth.publicIds.has(id)) return true;
  if (auth.tokenDigest !== null && authorization !== undefined) {
    const m = BEARER.exec(authorization);
    // Both sides hashed: equal lengths for timingSafeEqual, and no length leak.
    if (m && timingSafeEqual(sha256(m[1]!), auth.tokenDigest)) return true;
  }
  if (auth.secret !== '' && signature !== undefined && body.length > 0) {
    const m = SIGNATURE.exec(signature.trim());
    if (m) {
      const want = createHmac('sha256', auth.secret).update(body).digest();
      if (timingSafeEqual(Buffer.from(m[1]!, 'hex'), want)) return true;
    }
  }
  return false;
}

/** `sha256=<hex>` for a body: what a producer sends in `X-Hub-Signature-256`. */
export function signBody(secret: string, body: Buffer | string): string {
  return 'sha256=' + createHmac('sha256', secret).update(body).digest('hex');
}
