// SPDX-License-Identifier: LGPL-3.0-or-later
/**
 * The certificates TLS is terminated with: `--tls-cert`/`--tls-key` pairs,
 * an optional `--tls-ca` for client certificates. A handshake's certificate
 * is picked by SNI against each certificate's SAN names (exact, then `*.`
 * wildcard), else the first pair. Reload re-reads every file; a pair (or the
 * CA) that fails to load keeps its previous context serving.
 */
import { readFileSync } from 'node:fs';
import { X509Certificate } from 'node:crypto';
import tls from 'node:tls';
import { SniTable, sniPattern } from '../router/matcher-sni.ts';
import { TlsFileError } from '../errors.ts';

export interface CertPair {
  readonly cert: string;
  readonly key: string;
}

export interface CertFiles {
  readonly pairs: readonly CertPair[];
  readonly ca: string | null;
}


interface Loaded {
  readonly names: readonly string[];
  /** For STATUS: when the certificate expires and its fingerprint (tells a rotation happened). */
  readonly validTo: string;
  readonly fingerprint256: string;
  /** The PEM files' bytes (the TLS server's default context is made from the first pair's). */
  readonly cert: Buffer;
  readonly key: Buffer;
}

function read(file: string): Buffer {
  try {
    return readFileSync(file);
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    throw new TlsFileError(file, e.code === 'ENOENT' ? 'no such file' : e.code === 'EACCES' ? 'permission denied' : e.message);
  }
}

/** The DNS names a certificate serves: its SAN DNS entries, else its subject CN. */
export function certNames(pem: Buffer): string[] {
  const x = new X509Certificate(pem);
  const san = x.subjectAltName ?? '';
  const names = san
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s.startsWith('DNS:'))
    .map((s) => s.slice(4).toLowerCase());
  if (names.length > 0) return names;
  const cn = /(?:^|\n)CN=([^\n]+)/.exec(x.subject);
  return cn ? [cn[1]!.toLowerCase()] : [];
}

function loadPair(pair: CertPair, ca: Buffer | null): Loaded {
  const cert = read(pair.cert);
  const key = read(pair.key);
  let names: string[];
  try {
    names = certNames(cert);
  } catch (err) {
    throw new TlsFileError(pair.cert, `not a PEM certificate (${(err as Error).message})`);
  }
  try {
    tls.createSecureContext({ key });
  } catch (err) {
    throw new TlsFileError(pair.key, `not a usable private key (${firstLine(err)})`);
  }
  try {
    // Made here only to prove the pair fits; the TLS servers make their own from the same bytes.
    tls.createSecureContext({ cert, key, minVersion: 'TLSv1.2', ...(ca ? { ca } : {}) });
    const x = new X509Certificate(cert);
    return { names, cert, key, validTo: new Date(x.validTo).toISOString(), fingerprint256: x.fingerprint256 };
  } catch (err) {
    throw new TlsFileError(pair.key, `does not fit ${pair.cert} (${firstLine(err)})`);
  }
}

function firstLine(err: unknown): string {
  return (err instanceof Error ? err.message : String(err)).split('\n')[0]!;
}

export class CertStore {
  private loaded: Loaded[] = [];
  private names = new SniTable<number>();
  private caPem: Buffer | null = null;

  constructor(readonly files: CertFiles) {}

  /** Loads every file; throws TlsFileError (naming the file) at the first that fails. For start-up. */
  load(): void {
    const ca = this.files.ca === null ? null : this.readCa();
    this.caPem = ca;
    this.loaded = this.files.pairs.map((p) => loadPair(p, ca));
    this.index();
  }

  /** Re-reads every file. Pairs that fail keep their previous context; returns the failures. */
  reload(): TlsFileError[] {
    const errors: TlsFileError[] = [];
    let ca = this.caPem;
    if (this.files.ca !== null) {
      try {
        ca = this.readCa();
      } catch (err) {
        errors.push(err as TlsFileError);
      }
    }
    this.caPem = ca;
    this.loaded = this.files.pairs.map((p, i) => {
      try {
        return loadPair(p, ca);
      } catch (err) {
        errors.push(err instanceof TlsFileError ? err : new TlsFileError(p.cert, firstLine(err)));
        return this.loaded[i]!;
      }
    });
    this.index();
    return errors;
  }

  private readCa(): Buffer {
    const pem = read(this.files.ca!);
    try {
      new X509Certificate(pem);
    } catch (err) {
      throw new TlsFileError(this.files.ca!, `not a PEM certificate (${firstLine(err)})`);
    }
    return pem;
  }

  private index(): void {
    const t = new SniTable<number>();
    // Earlier pairs win a name both serve.
    this.loaded.forEach((l, i) => {
      for (const n of l.names) {
        const p = sniPattern(n);
        if (p !== null) t.add(p, i);
      }
    });
    this.names = t;
  }

  /** The pair for a handshake: by SNI (exact, then wildcard), else the first pair (0). */
  select(servername: string | null | undefined): number {
    return (servername ? this.names.lookup(servername.toLowerCase()) : undefined) ?? 0;
  }

  /** Secure-context options of pair `i` (with the CA, for client certificates). */
  options(i: number): tls.SecureContextOptions {
    const l = this.loaded[i]!;
    return { cert: l.cert, key: l.key, minVersion: 'TLSv1.2', ...(this.caPem ? { ca: this.caPem } : {}) };
  }

  /** STATUS: each pair's certificate file, names, expiry and fingerprint (what serves now). */
  status(): unknown[] {
    return this.loaded.map((l, i) => ({ cert: this.files.pairs[i]!.cert, names: l.names, validTo: l.validTo, fingerprint256: l.fingerprint256 }));
  }

  get ca(): Buffer | null {
    return this.caPem;
  }
}
