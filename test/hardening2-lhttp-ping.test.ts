// SPDX-License-Identifier: LGPL-3.0-or-later
/**
 * Issue 20 point 6 (lhttp): lhttp pings every lhttp.ping_interval ms and
 * closes a peer that did not answer the previous ping. A raw-socket
 * WebSocket client that completes the upgrade, subscribes, then never
 * answers a ping (a peer that vanished without a FIN) is cut, and its
 * subscription with it; a normal `ws` client (which answers pings) stays.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { appendFileSync } from 'node:fs';
import type net from 'node:net';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { startBundled } from './helpers/bundled.ts';
import { admin, connect, sleep, waitUntil, type Hrmr } from './helpers/hrmr.ts';
import { frame, httpRequest, lhttpStatus, parseFrame, subscribed } from './helpers/lhttp-client.ts';

let h: Hrmr;
before(async () => {
  h = await startBundled(['lhttp'], { args: ['--set', 'lhttp.ping_interval=200'] });
});
after(async () => {
  await h?.kill();
});

/** A WebSocket client on a bare socket: it reads frames but never answers a ping. */
class MuteClient {
  private buf = Buffer.alloc(0);
  readonly frames: Array<{ opcode: number; payload: Buffer }> = [];
  closed = false;
  private upgraded = false;
  private constructor(readonly socket: net.Socket) {
    socket.on('data', (d: Buffer) => this.onData(d));
    socket.on('error', () => undefined);
    socket.on('close', () => (this.closed = true));
  }
  static async open(port: number): Promise<MuteClient> {
    const s = await connect(port);
    const c = new MuteClient(s);
    const key = randomBytes(16).toString('base64');
    s.write(`GET /lhttp HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n\r\n`);
    await waitUntil(() => c.upgraded || c.closed, 'the 101');
    assert.equal(c.upgraded, true, 'upgrade answered 101');
    return c;
  }
  private onData(d: Buffer): void {
    this.buf = Buffer.concat([this.buf, d]);
    if (!this.upgraded) {
      const end = this.buf.indexOf('\r\n\r\n');
      if (end < 0) return;
      const head = this.buf.subarray(0, end).toString('latin1');
      if (!/^HTTP\/1\.1 101 /.test(head)) return void this.socket.destroy();
      this.upgraded = true;
      this.buf = this.buf.subarray(end + 4);
    }
    // Server frames are unmasked; small payloads only here.
    while (this.buf.length >= 2) {
      let len = this.buf[1]! & 0x7f;
      let off = 2;
      if (len === 126) {
        if (this.buf.length < 4) return;
        len = this.buf.readUInt16BE(2);
        off = 4;
      } else if (len === 127) {
        if (this.buf.length < 10) return;
        len = Number(this.buf.readBigUInt64BE(2));
        off = 10;
      }
      if (this.buf.length < off + len) return;
      this.frames.push({ opcode: this.buf[0]! & 0x0f, payload: this.buf.subarray(off, off + len) });
      this.buf = this.buf.subarray(off + len);
    }
  }
  /** A masked text frame (clients must mask). */
  sendText(text: string): void {
    const payload = Buffer.from(text, 'utf8');
    assert.ok(payload.length < 126);
    const mask = randomBytes(4);
    const masked = Buffer.alloc(payload.length);
    for (let i = 0; i < payload.length; i++) masked[i] = payload[i]! ^ mask[i & 3]!;
    this.socket.write(Buffer.concat([Buffer.from([0x81, 0x80 | payload.length]), mask, masked]));
  }
  texts(): string[] {
    return this.frames.filter((f) => f.opcode === 1).map((f) => f.payload.toString('utf8'));
  }
  pings(): number {
    return this.frames.filter((f) => f.opcode === 9).length;
  }
}

test('a peer that never answers pings is closed within two intervals; its subscriptions go; a ws client stays', async () => {
  const [alive] = await subscribed(h.port, 'room.alive');
  const mute = await MuteClient.open(h.port);
  mute.sendText(frame('m', { subscribe: 'room.dead' }));
  // The subscription took: a publish reaches it.
  await waitUntil(async () => {
    await httpRequest(h.port, '/publish', 'POST', frame('m', { publish: 'room.dead' }, 'hi'));
    return mute.texts().length > 0;
  }, 'the mute client to receive a publish');
  assert.equal(parseFrame(mute.texts()[0]!).body, 'hi');
  // It gets pinged, never answers, and is cut (a generous deadline for a loaded machine).
  await waitUntil(() => mute.closed, 'the mute client to be closed', 15_000);
  assert.ok(mute.pings() >= 1, 'it was pinged first');
  const s = await waitUntil(async () => {
    const x = await lhttpStatus(h.port);
    return x.deadPeers >= 1 ? x : null;
  }, 'deadPeers to count it');
  assert.equal(s.pingInterval, 200);
  assert.equal(s.connections, 1);
  assert.equal(s.subscriptions, 1);
  // A publish to its channel no longer counts it.
  const out = s.messagesOut as number;
  const r = await httpRequest(h.port, '/publish', 'POST', frame('m', { publish: 'room.dead' }, 'after'));
  assert.equal(r.status, 200);
  await sleep(100);
  assert.equal((await lhttpStatus(h.port)).messagesOut, out);
  await h.waitForLog((l) => /did not answer a ping/.test(l.msg));
  // The ws client answered every ping over the same time, and more: it is still there and receives.
  await sleep(1000);
  await httpRequest(h.port, '/publish', 'POST', frame('m', { publish: 'room.alive' }, 'still here'));
  assert.equal(parseFrame(await alive!.next()).body, 'still here');
  assert.equal(alive!.closeCode, null);
  alive!.close();
});

test('after a RELOAD of lhttp the one timer goes on (kept state): mute peers from before and after it are cut', async () => {
  const [alive] = await subscribed(h.port, 'room.alive2');
  const before = await MuteClient.open(h.port);
  const dead0 = (await lhttpStatus(h.port)).deadPeers as number;
  appendFileSync(join(h.dir, 'lhttp.mjs'), '\n// reloaded by test\n');
  assert.match(await admin(h.port, 'RELOAD'), /^OK /);
  const afterReload = await MuteClient.open(h.port);
  await waitUntil(() => before.closed && afterReload.closed, 'both mute clients to be closed', 15_000);
  assert.ok((await lhttpStatus(h.port)).deadPeers >= dead0 + 2);
  await sleep(600);
  await httpRequest(h.port, '/publish', 'POST', frame('m', { publish: 'room.alive2' }, 'still here'));
  assert.equal(parseFrame(await alive!.next()).body, 'still here');
  alive!.close();
});
