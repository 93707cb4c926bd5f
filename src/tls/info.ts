// SPDX-License-Identifier: LGPL-3.0-or-later
/** `ctx.tls`: what a handler learns about a connection's TLS (null for plain connections). */
import type { Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';
import type { TlsInfo } from '../../shared/index.ts';
import { parseClientHello } from './client-hello.ts';

/** Computed once per connection (an HTTP keep-alive connection makes a ctx per request). */
const infos = new WeakMap<object, TlsInfo | null>();

export function tlsInfo(socket: Socket): TlsInfo | null {
  let info = infos.get(socket);
  if (info !== undefined) return info;
  info = (socket as Partial<TLSSocket>).encrypted === true ? terminated(socket as TLSSocket) : null;
  infos.set(socket, info);
  return info;
}

function terminated(s: TLSSocket): TlsInfo {
  const peer = s.getPeerCertificate();
  const has = peer !== null && typeof peer === 'object' && Object.keys(peer).length > 0;
  const servername = (s as TLSSocket & { servername?: string | false }).servername;
  return Object.freeze({
    servername: typeof servername === 'string' && servername !== '' ? servername : null,
    alpnProtocol: typeof s.alpnProtocol === 'string' ? s.alpnProtocol : null,
    authorized: s.authorized === true,
    subject: has && peer.subject ? (Object.freeze({ ...peer.subject }) as TlsInfo['subject']) : null,
    fingerprint256: has && peer.fingerprint256 ? peer.fingerprint256 : null,
  });
}

/** An SNI passthrough connection: the name its ClientHello asked for (nothing is decrypted). */
export function notePassthrough(socket: Socket, hello: Buffer | null): void {
  const r = hello === null ? null : parseClientHello(hello);
  infos.set(socket, Object.freeze({ servername: r?.state === 'ok' ? r.servername : null, alpnProtocol: null, authorized: false, subject: null, fingerprint256: null }));
}
