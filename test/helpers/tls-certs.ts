// SPDX-License-Identifier: LGPL-3.0-or-later
/**
 * Certificates for the TLS tests, made by `openssl` in a temporary folder
 * (nothing committed): a CA, server certificates with SAN names signed by
 * it, client certificates signed by it, and one signed by another CA.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tempDir } from './hrmr.ts';

export interface Pem {
  cert: string;
  key: string;
}

export interface CertKit {
  dir: string;
  ca: string;
  caPem: Buffer;
  /** A server certificate signed by the CA for `names` (SAN DNS). */
  server(name: string, names: string[]): Pem;
  /** A client certificate with subject CN=cn signed by the CA (or by a stranger CA). */
  client(cn: string, opts?: { stranger?: boolean }): Pem;
  read(file: string): Buffer;
}

function openssl(args: string[], cwd: string): void {
  execFileSync('openssl', args, { cwd, stdio: ['ignore', 'ignore', 'pipe'] });
}

function makeCa(dir: string, name: string): Pem {
  const cert = join(dir, `${name}.crt`);
  const key = join(dir, `${name}.key`);
  openssl(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', key, '-out', cert, '-days', '2', '-subj', `/CN=${name}`], dir);
  return { cert, key };
}

function sign(dir: string, ca: Pem, name: string, subj: string, ext: string): Pem {
  const key = join(dir, `${name}.key`);
  const csr = join(dir, `${name}.csr`);
  const cert = join(dir, `${name}.crt`);
  const extFile = join(dir, `${name}.ext`);
  writeFileSync(extFile, ext);
  openssl(['req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', key, '-out', csr, '-subj', subj], dir);
  openssl(['x509', '-req', '-in', csr, '-CA', ca.cert, '-CAkey', ca.key, '-CAcreateserial', '-out', cert, '-days', '2', '-extfile', extFile], dir);
  return { cert, key };
}

export function makeCertKit(): CertKit {
  const dir = tempDir('hrmr-tls-');
  const ca = makeCa(dir, 'ca');
  let stranger: Pem | null = null;
  return {
    dir,
    ca: ca.cert,
    caPem: readFileSync(ca.cert),
    server: (name, names) => sign(dir, ca, name, `/CN=${names[0]}`, `subjectAltName=${names.map((n) => `DNS:${n}`).join(',')}\nextendedKeyUsage=serverAuth\n`),
    client: (cn, o = {}) => {
      const issuer = o.stranger ? (stranger ??= makeCa(dir, 'stranger-ca')) : ca;
      return sign(dir, issuer, `client-${cn}${o.stranger ? '-x' : ''}`, `/CN=${cn}/O=bots`, 'extendedKeyUsage=clientAuth\n');
    },
    read: (file) => readFileSync(file),
  };
}
