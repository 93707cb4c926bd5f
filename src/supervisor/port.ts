// SPDX-License-Identifier: LGPL-3.0-or-later
import net from 'node:net';

/** Binds host:port once (port 0 picks one) so every worker, replacements included, gets the same port. */
export function resolvePort(host: string, port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen({ port, host, exclusive: true }, () => {
      const p = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(p));
    });
  });
}
