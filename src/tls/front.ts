// SPDX-License-Identifier: LGPL-3.0-or-later
/**
 * TLS termination. The router hands over a connection whose peeked first
 * bytes are a ClientHello; the bytes go back to the socket and a never-
 * listening `tls.Server` (node's own handshake, SNI, ALPN and client
 * certificate checks) takes it. Once secure, the decrypted socket goes back
 * to the server to be peeked and routed like a plain connection.
 */
import type { Socket } from 'node:net';
import tls, { type TLSSocket } from 'node:tls';
import type { Logger } from 'pino';
import { giveBack } from '../router/peek.ts';
import type { CertLoadError, CertStore } from './certs.ts';

export type ClientAuth = 'none' | 'request' | 'require';

export interface TlsFrontOptions {
  store: CertStore;
  clientAuth: ClientAuth;
  /** A handshake that takes longer is dropped (the peek timeout). */
  handshakeTimeoutMs: number;
  log: Logger;
  /** A handshake completed (and the client certificate passed, if required). */
  onSecure(raw: Socket, secure: TLSSocket): void;
}

/** ALPN protocols hrmr cannot speak after the handshake: never selected. */
const UNSPOKEN = new Set(['h2', 'h2c', 'h3', 'spdy/1', 'spdy/2', 'spdy/3', 'spdy/3.1', 'acme-tls/1']);

/**
 * ALPN: `http/1.1` when offered; else the client's first protocol hrmr can
 * carry (the decrypted stream is routed by its bytes, so a bot's own
 * protocol name works); else none is selected (node then answers without ALPN).
 */
export function selectAlpn(offered: readonly string[]): string | undefined {
  if (offered.includes('http/1.1')) return 'http/1.1';
  return offered.find((p) => !UNSPOKEN.has(p));
}

/** A handshake error's reason as counted in STATUS (`tls.failures`). */
export function failureReason(err: NodeJS.ErrnoException): string {
  const code = err.code ?? '';
  if (code === 'ERR_TLS_HANDSHAKE_TIMEOUT') return 'timeout';
  if (code === 'ECONNRESET' || code === 'EPIPE') return 'reset';
  if (/CERTIFICATE|PEER_DID_NOT_RETURN/.test(code)) return 'client-certificate';
  if (/ALERT/.test(code)) return 'alert';
  if (/VERSION|PROTOCOL/.test(code)) return 'protocol';
  if (/CIPHER|SIGNATURE|SIGALG/.test(code)) return 'no-shared-cipher';
  return 'handshake';
}

/** The raw connection under a server-side TLS socket (node keeps it as `_parent`). */
function rawOf(secure: TLSSocket): Socket | null {
  return ((secure as unknown as { _parent?: Socket })._parent ?? null) as Socket | null;
}

export class TlsFront {
  private readonly server: tls.Server;
  private handshakes = 0;
  private readonly failures: Record<string, number> = {};
  /** Raw connections in a handshake (to count the ones closed without an error event). */
  private readonly pending = new WeakSet<Socket>();

  constructor(private readonly o: TlsFrontOptions) {
    const requestCert = o.clientAuth !== 'none';
    this.server = tls.createServer({
      ...o.store.defaultOptions(),
      requestCert,
      rejectUnauthorized: o.clientAuth === 'require',
      handshakeTimeout: o.handshakeTimeoutMs,
      SNICallback: (name, cb) => cb(null, o.store.select(name)),
      ALPNCallback: ({ protocols }) => selectAlpn(protocols),
    });
    this.server.on('secureConnection', (s: TLSSocket) => this.onSecure(s));
    this.server.on('tlsClientError', (err: NodeJS.ErrnoException, s: TLSSocket) => {
      const raw = rawOf(s);
      if (raw !== null) this.pending.delete(raw);
      this.fail(failureReason(err), err, s.remoteAddress);
    });
  }

  /** Takes a connection routed to TLS; `data`: the peeked bytes (the ClientHello so far). */
  accept(raw: Socket, data: Buffer | null, action: 'terminate' | 'incomplete' | 'malformed'): void {
    if (action !== 'terminate') {
      this.fail(action, null, raw.remoteAddress);
      raw.destroy();
      return;
    }
    this.pending.add(raw);
    raw.once('close', () => {
      // Closed mid-handshake with no error event: a client certificate refused after the handshake, or the client left.
      if (this.pending.delete(raw)) this.fail(this.o.clientAuth === 'require' ? 'client-certificate' : 'closed', null, raw.remoteAddress);
    });
    giveBack(raw, data);
    this.server.emit('connection', raw);
  }

  private onSecure(s: TLSSocket): void {
    const raw = rawOf(s);
    if (raw === null || !this.pending.delete(raw)) {
      s.destroy();
      return;
    }
    this.handshakes++;
    this.o.onSecure(raw, s);
  }

  private fail(reason: string, err: Error | null, peer: string | undefined): void {
    this.failures[reason] = (this.failures[reason] ?? 0) + 1;
    this.o.log.debug({ reason, peer, ...(err ? { err: err.message } : {}) }, 'tls handshake failed');
  }

  /** Re-reads every certificate file; the errors name the files that kept their old certificate. */
  reload(): CertLoadError[] {
    const errors = this.o.store.reload();
    this.server.setSecureContext({
      ...this.o.store.defaultOptions(),
    });
    return errors;
  }

  status(): unknown {
    return { handshakes: this.handshakes, failures: { ...this.failures }, clientAuth: this.o.clientAuth };
  }
}
