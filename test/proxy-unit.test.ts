// SPDX-License-Identifier: LGPL-3.0-or-later
/** The pure PROXY protocol parts (issue 23): v1 and v2 headers, CIDR lists. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { parseProxyHeader, PROXY_V2_SIGNATURE } from '../src/proxy/parse.ts';
import { CidrList } from '../src/proxy/cidr.ts';

function v2(cmd: number, fam: number, body: Buffer): Buffer {
  const head = Buffer.alloc(4);
  head[0] = 0x20 | cmd;
  head[1] = fam;
  head.writeUInt16BE(body.length, 2);
  return Buffer.concat([PROXY_V2_SIGNATURE, head, body]);
}

test('v1: TCP4, TCP6, UNKNOWN; the bytes after the header are not part of it', () => {
  const h = Buffer.from('PROXY TCP4 203.0.113.7 10.0.0.1 51234 443\r\nPING\n');
  assert.deepEqual(parseProxyHeader(h), { state: 'ok', version: 1, length: h.indexOf('PING'), client: { address: '203.0.113.7', port: 51234 } });
  assert.deepEqual(parseProxyHeader(Buffer.from('PROXY TCP6 2001:db8::1 ::1 4000 80\r\n')), { state: 'ok', version: 1, length: 36, client: { address: '2001:db8::1', port: 4000 } });
  assert.deepEqual(parseProxyHeader(Buffer.from('PROXY UNKNOWN\r\n')), { state: 'ok', version: 1, length: 15, client: null });
  for (let n = 0; n < h.indexOf("PING"); n++) assert.equal(parseProxyHeader(h.subarray(0, n)).state, 'incomplete', `first ${n}`);
});

test('v1: malformed headers', () => {
  for (const bad of ['PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n', 'PROXY TCP4 1.2.3 5.6.7.8 1 2\r\n', 'PROXY TCP4 ::1 ::1 1 2\r\n', 'PROXY TCP4 1.2.3.4 5.6.7.8 99999 2\r\n', 'PROXY UDP4 1.2.3.4 5.6.7.8 1 2\r\n', `PROXY ${'x'.repeat(120)}`]) {
    const r = parseProxyHeader(Buffer.from(bad));
    assert.equal(r.state, 'invalid', bad);
    assert.equal((r as { reason: string }).reason, 'malformed', bad);
  }
  assert.equal((parseProxyHeader(Buffer.from('GET / HTTP/1.1\r\n')) as { reason: string }).reason, 'missing');
});

test('v2: PROXY over IPv4 and IPv6 (TLVs skipped), LOCAL, unknown command, truncated', () => {
  const ip4 = Buffer.from([198, 51, 100, 9, 10, 0, 0, 1, 0xc3, 0x50, 0x01, 0xbb]);
  const tlv = Buffer.from([0x04, 0x00, 0x02, 0xaa, 0xbb]);
  const h = v2(1, 0x11, Buffer.concat([ip4, tlv]));
  assert.deepEqual(parseProxyHeader(Buffer.concat([h, Buffer.from('x')])), { state: 'ok', version: 2, length: h.length, client: { address: '198.51.100.9', port: 50000 } });
  for (let n = 0; n < h.length; n++) assert.equal(parseProxyHeader(h.subarray(0, n)).state, 'incomplete', `first ${n}`);
  const ip6 = Buffer.alloc(36);
  Buffer.from('20010db8000000000000000000000042', 'hex').copy(ip6, 0);
  ip6[31] = 1;
  ip6.writeUInt16BE(4321, 32);
  assert.deepEqual(parseProxyHeader(v2(1, 0x21, ip6)), { state: 'ok', version: 2, length: 52, client: { address: '2001:db8::42', port: 4321 } });
  const mapped = Buffer.alloc(36);
  Buffer.from('00000000000000000000ffff7f000005', 'hex').copy(mapped, 0);
  assert.equal((parseProxyHeader(v2(1, 0x21, mapped)) as { client: { address: string } }).client.address, '::ffff:127.0.0.5');
  assert.deepEqual(parseProxyHeader(v2(0, 0x00, Buffer.alloc(0))), { state: 'ok', version: 2, length: 16, client: null });
  assert.equal((parseProxyHeader(v2(2, 0x11, ip4)) as { reason: string }).reason, 'unknown-command');
  assert.equal((parseProxyHeader(v2(1, 0x11, ip4.subarray(0, 6))) as { reason: string }).reason, 'malformed');
  const badVersion = Buffer.from(h);
  badVersion[12] = 0x11;
  assert.equal((parseProxyHeader(badVersion) as { reason: string }).reason, 'malformed');
});

test('random bytes never throw', () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 300 }), fc.boolean(), (b, sig) => {
      const data = sig ? Buffer.concat([PROXY_V2_SIGNATURE, Buffer.from(b)]) : Buffer.concat([Buffer.from('PROXY '), Buffer.from(b)]);
      parseProxyHeader(data);
      return true;
    }),
    { numRuns: 3000 },
  );
});

test('CIDR lists: IPv4, IPv6, bare addresses, IPv4-mapped', () => {
  const l = CidrList.parse('10.0.0.0/8, 192.168.1.7 ,2001:db8::/32,::1');
  assert.ok(l.contains('10.200.3.4'));
  assert.ok(l.contains('::ffff:10.1.1.1'));
  assert.ok(!l.contains('11.0.0.1'));
  assert.ok(l.contains('192.168.1.7'));
  assert.ok(!l.contains('192.168.1.8'));
  assert.ok(l.contains('2001:db8:ffff::1'));
  assert.ok(!l.contains('2001:db9::1'));
  assert.ok(l.contains('::1'));
  assert.ok(!l.contains('::2'));
  assert.ok(!l.contains(undefined));
  assert.ok(CidrList.parse('0.0.0.0/0').contains('8.8.8.8'));
  assert.ok(CidrList.parse('127.0.0.1/32').contains('::ffff:127.0.0.1'));
  assert.ok(CidrList.parse('::ffff:127.0.0.0/104').contains('127.0.0.9'));
  for (const bad of ['10.0.0.0/33', 'nope', '1.2.3.4/x', '', '::1/129']) assert.throws(() => CidrList.parse(bad), bad);
});
