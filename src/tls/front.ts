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
import { rawSocketOf } from '../util/node-internals.ts';
import type { CertStore } from './certs.ts';
import type { TlsFileError } from '../errors.ts';
import { parseClientHello } from './client-hello.ts';

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
  if (/APPLICATION_PROTOCOL/.test(code)) return 'alpn';
  if (/ALERT/.test(code)) return 'alert';
  if (/VERSION|PROTOCOL/.test(code)) return 'protocol';
  if (/CIPHER|SIGNATURE|SIGALG/.test(code)) return 'no-shared-cipher';
  return 'handshake';
}


/**
 * One never-listening `tls.Server` per certificate pair and ALPN kind,
 * made on first use. The peek has already read the ClientHello's SNI and
 * ALPN, so the pair and the kind are picked before the handshake: node's
 * SNICallback and ALPNCallback (a trip from OpenSSL to JavaScript per
 * handshake, measurable on new connections) are only used by the server for
 * clients that offer protocols other than http/1.1.
 */
export class TlsFront {
  private readonly servers = new Map<string, { pair: number; server: tls.Server }>();
  private handshakes = 0;
  private readonly failures: Record<string, number> = {};
  /** Raw connections in a handshake (to count the ones closed without an error event). */
  private readonly pending = new WeakSet<Socket>();

  constructor(private readonly o: TlsFrontOptions) {}

  /** `custom`: the client offers ALPN protocols but not http/1.1 (the callback picks one of its own). */
  private serverFor(pair: number, custom: boolean): tls.Server {
    const key = `${pair}:${custom ? 'c' : 'h'}`;
    const known = this.servers.get(key);
    if (known !== undefined) return known.server;
    const server = tls.createServer({
      ...this.o.store.options(pair),
      requestCert: this.o.clientAuth !== 'none',
      rejectUnauthorized: this.o.clientAuth === 'require',
      handshakeTimeout: this.o.handshakeTimeoutMs,
      ...(custom ? { ALPNCallback: ({ protocols }: { protocols: string[] }) => selectAlpn(protocols) } : { ALPNProtocols: ['http/1.1'] }),
    });
    server.on('secureConnection', (s: TLSSocket) => this.onSecure(s));
    server.on('tlsClientError', (err: NodeJS.ErrnoException, s: TLSSocket) => {
      const raw = rawSocketOf(s);
      if (raw !== null) this.pending.delete(raw);
      this.fail(failureReason(err), err, s.remoteAddress);
      // Node reports a handshake timeout but leaves the socket open.
      s.destroy();
    });
    this.servers.set(key, { pair, server });
    return server;
  }

  /** Takes a connection routed to TLS; `data`: the peeked bytes (the ClientHello so far). */
  accept(raw: Socket, data: Buffer | null, action: 'terminate' | 'incomplete' | 'malformed'): void {
    const hello = action === 'terminate' && data !== null ? parseClientHello(data) : null;
    if (hello === null || hello.state !== 'ok') {
      this.fail(action === 'terminate' ? 'malformed' : action, null, raw.remoteAddress);
      raw.destroy();
      return;
    }
    const server = this.serverFor(this.o.store.select(hello.servername), hello.alpn.length > 0 && !hello.alpn.includes('http/1.1'));
    this.pending.add(raw);
    raw.once('close', () => {
      // Closed mid-handshake with no error event: a client certificate refused after the handshake, or the client left.
      if (this.pending.delete(raw)) this.fail(this.o.clientAuth === 'require' ? 'client-certificate' : 'closed', null, raw.remoteAddress);
    });
    giveBack(raw, data);
    server.emit('connection', raw);
  }

  private onSecure(s: TLSSocket): void {
    const raw = rawSocketOf(s);
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
  reload(): TlsFileError[] {
    const errors = this.o.store.reload();
    for (const { pair, server } of this.servers.values()) server.setSecureContext(this.o.store.options(pair));
    return errors;
  }

  status(): unknown {
    return { handshakes: this.handshakes, failures: { ...this.failures }, clientAuth: this.o.clientAuth, certificates: this.o.store.status() };
  }
}
