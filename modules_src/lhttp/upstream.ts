// SPDX-License-Identifier: LGPL-3.0-or-later
/**
 * Step 6 of a message, `upstream: METHOD URL`: an HTTP request to a URL
 * under a prefix of `lhttp.upstream_allow` (refused otherwise, see
 * upstream-allow.ts), bounded in time and in requests in flight. The answer
 * is logged; failures are logged, rate-limited, and otherwise ignored.
 */
import type { Conn, State } from './state.ts';
import { splitChannels, toText, type Message } from './message.ts';
import { allowUpstream } from './upstream-allow.ts';
import { warnLimited } from './warn.ts';

const HEADER_NAME = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
const SKIP_HEADERS = new Set(['host', 'connection', 'content-length', 'transfer-encoding', 'keep-alive', 'upgrade', 'expect', 'te', 'trailer', 'proxy-connection']);

/** Step 6: `upstream: METHOD URL`: an HTTP request; the answer is logged, failures are logged and ignored. */
export function upstream(state: State, conn: Conn, msg: Message, value: string): void {
  const st = state.stats.upstream;
  const [method, url] = splitChannels(value);
  if (method === undefined || url === undefined || !/^https?:\/\//i.test(url) || !HEADER_NAME.test(method)) {
    st.failed++;
    warnLimited(state, 'upstream-bad', { conn: conn.id, upstream: toText(value).slice(0, 200) }, 'lhttp upstream header is not "METHOD http(s)://..." : ignored');
    return;
  }
  // Closed by default: only URLs under a prefix of lhttp.upstream_allow (else any client could reach the private network).
  const target = allowUpstream(state.options.upstreamAllow, toText(url));
  if (target === null) {
    st.refused++;
    if (!conn.upstreamRefused) {
      conn.upstreamRefused = true;
      state.log.warn({ conn: conn.id, peer: conn.remoteAddress, method, url: toText(url).slice(0, 200), allowed: state.options.upstreamAllow.length }, 'lhttp upstream refused: URL not under lhttp.upstream_allow (logged once per connection)');
    }
    return;
  }
  if (state.upstreamInFlight >= state.options.upstreamMaxInflight) {
    st.dropped++;
    warnLimited(state, 'upstream-cap', { limit: state.options.upstreamMaxInflight }, 'lhttp upstream requests at lhttp.upstream_max_inflight: request dropped');
    return;
  }
  const headers: Array<[string, string]> = [];
  for (const [k, v] of msg.headers) {
    if (!HEADER_NAME.test(k) || SKIP_HEADERS.has(k.toLowerCase()) || /[\0\r\n]/.test(v)) continue;
    headers.push([k, v]);
  }
  const m = method.toUpperCase();
  const body = m === 'GET' || m === 'HEAD' ? undefined : Buffer.from(msg.body, 'latin1');
  state.upstreamInFlight++;
  st.sent++;
  const started = Date.now();
  const log = state.log;
  void (async () => {
    try {
      const res = await fetch(target, { method, headers, body, signal: AbortSignal.timeout(state.options.upstreamTimeout), redirect: 'manual' });
      const text = await readSome(res, 1024);
      st.ok++;
      log.debug({ conn: conn.id, method, url, status: res.status, ms: Date.now() - started, body: text }, 'lhttp upstream answered');
    } catch (err) {
      st.failed++;
      const e = err as Error & { cause?: { code?: string; message?: string } };
      warnLimited(state, `upstream ${method} ${url}`, { conn: conn.id, method, url, ms: Date.now() - started, err: e.cause?.code ?? e.cause?.message ?? e.name ?? String(err) }, 'lhttp upstream request failed (ignored)');
    } finally {
      state.upstreamInFlight--;
    }
  })();
}

async function readSome(res: Response, max: number): Promise<string> {
  if (res.body === null) return '';
  const reader = res.body.getReader();
  const chunks: Uint8Array[] = [];
  let n = 0;
  try {
    while (n < max) {
      const r = await reader.read();
      if (r.done) break;
      chunks.push(r.value);
      n += r.value.length;
    }
  } finally {
    void reader.cancel().catch(() => undefined);
  }
  return Buffer.concat(chunks).subarray(0, max).toString('utf8');
}
