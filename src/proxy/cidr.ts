// SPDX-License-Identifier: LGPL-3.0-or-later
/** CIDR lists (`10.0.0.0/8,::1,192.168.1.7`) and matching addresses against them. Pure. */
import { isIP } from 'node:net';

interface Block {
  /** 4 or 6 */
  readonly family: 4 | 6;
  readonly bits: bigint;
  readonly prefix: number;
}

/** IPv4 as 32 bits, IPv6 as 128 bits; IPv4-mapped IPv6 (::ffff:a.b.c.d) counts as IPv4. */
function toBits(address: string): { family: 4 | 6; bits: bigint } | null {
  let a = address;
  const zone = a.indexOf('%');
  if (zone >= 0) a = a.slice(0, zone);
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(a);
  if (mapped) a = mapped[1]!;
  const fam = isIP(a);
  if (fam === 4) {
    let n = 0n;
    for (const part of a.split('.')) n = (n << 8n) | BigInt(Number(part));
    return { family: 4, bits: n };
  }
  if (fam !== 6) return null;
  // Expand '::' and an embedded IPv4 tail into eight 16-bit words.
  let head = a;
  const words: number[] = [];
  const v4 = /(\d+\.\d+\.\d+\.\d+)$/.exec(head);
  let tail: number[] = [];
  if (v4) {
    const o = v4[1]!.split('.').map(Number);
    tail = [(o[0]! << 8) | o[1]!, (o[2]! << 8) | o[3]!];
    head = head.slice(0, -v4[1]!.length);
    if (head.endsWith(':') && !head.endsWith('::')) head = head.slice(0, -1);
  }
  const [l, r] = head.includes('::') ? head.split('::') : [head, null];
  const left = l ? l.split(':').filter((x) => x !== '').map((x) => parseInt(x, 16)) : [];
  const right = r ? r.split(':').filter((x) => x !== '').map((x) => parseInt(x, 16)) : [];
  const fill = 8 - left.length - right.length - tail.length;
  words.push(...left, ...new Array<number>(r === null ? 0 : fill).fill(0), ...right, ...tail);
  if (words.length !== 8) return null;
  let n = 0n;
  for (const x of words) n = (n << 16n) | BigInt(x);
  return { family: 6, bits: n };
}

export class CidrList {
  private constructor(private readonly blocks: readonly Block[]) {}

  /** Parses `a.b.c.d/n`, `x::y/n` or a bare address, comma-separated; throws an Error naming the bad entry. */
  static parse(text: string): CidrList {
    const blocks: Block[] = [];
    for (const raw of text.split(',')) {
      const item = raw.trim();
      if (item === '') continue;
      const slash = item.indexOf('/');
      const addr = slash < 0 ? item : item.slice(0, slash);
      const ip = toBits(addr);
      const width = ip?.family === 4 ? 32 : 128;
      // An IPv4-mapped block (::ffff:a.b.c.d/n) is the IPv4 block /n-96.
      const mapped = ip?.family === 4 && addr.includes(':') ? 96 : 0;
      const prefix = slash < 0 ? width : /^\d{1,3}$/.test(item.slice(slash + 1)) ? Number(item.slice(slash + 1)) - mapped : -1;
      if (ip === null || prefix < 0 || prefix > width) throw new Error(`bad CIDR ${JSON.stringify(item)}`);
      const shift = BigInt(width - prefix);
      blocks.push({ family: ip.family, bits: (ip.bits >> shift) << shift, prefix });
    }
    if (blocks.length === 0) throw new Error('no CIDR given');
    return new CidrList(blocks);
  }

  contains(address: string | undefined): boolean {
    if (!address) return false;
    const ip = toBits(address);
    if (ip === null) return false;
    const width = ip.family === 4 ? 32 : 128;
    for (const b of this.blocks) {
      if (b.family !== ip.family) continue;
      const shift = BigInt(width - b.prefix);
      if ((ip.bits >> shift) << shift === b.bits) return true;
    }
    return false;
  }
}
