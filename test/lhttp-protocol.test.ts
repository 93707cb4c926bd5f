// SPDX-License-Identifier: LGPL-3.0-or-later
/**
 * lhttp over real WebSockets against the real server (bundled lhttp and
 * lhttp-chat modules plus a test processor module): every rule of the spec,
 * header quirks, garbage frames (each followed by a working publish on the
 * same connection), wildcards, processors, HTTP publish, upstream.
 */
import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import { after, before, describe, test } from 'node:test';
import fc from 'fast-check';
import { startBundled } from './helpers/bundled.ts';
import { LineClient, type Hrmr } from './helpers/hrmr.ts';
import { frame, httpRequest, LhttpClient, lhttpStatus, parseFrame, processorModule, subscribed, sync } from './helpers/lhttp-client.ts';
import { freePort } from './helpers/redis.ts';

const PROCS = `{
  echo: { onMessage(c) { c.send(c.getBody()); } },
  auth: { onMessage(c) { c.setCommand('auth'); c.addHeader('content-type', 'image/png'); c.send('reply'); } },
  stamp: { onMessage(c) { c.setCommand('stamped'); c.addHeader('x', '1'); } },
  parts: { onMessage(c) { c.send(JSON.stringify(c.getMultipart())); } },
  hdr: { onMessage(c) { c.send(JSON.stringify({ k: c.getHeader('k'), missing: c.getHeader('nope'), all: c.getHeaders(), command: c.getCommand() })); } },
  life: {
    onOpen(c) { c.send('open'); },
    onMessage(c) { c.send('message ' + c.getBody()); },
    onClose(c) { c.publish('life.closed', 'closed', { conn: String(c.connId) }, 'bye ' + c.getBody()); },
  },
  boom: { onMessage() { throw new Error('processor bug'); } },
  slow: { async onMessage(c) { await new Promise((r) => setTimeout(r, 50)); c.send('slow done'); } },
  code: { onMessage(c) { c.subscribe('code.y'); c.publish('code.x code.y', 'fromcode', { a: '1' }, 'made by code'); } },
}`;

/** Another module publishing through the lhttp module's API (a line route: `LPUB <body>`). */
const API_MODULE = `
export default {
  routes: [{ prefix: 'LPUB ', message(msg) {
    const api = globalThis[Symbol.for('hrmr.lhttp.processors')]?.api;
    const n = api ? api.publish('api.x api.y', 'fromapi', { k: 'v' }, msg.toString().slice(5)) : -1;
    return 'OK ' + n + '\\n';
  } }],
};
`;

let h: Hrmr;
let upstream: http.Server;
let upstreamPort: number;
/** A closed port, listed in upstream_allow (upstream is refused for unlisted URLs). */
let downPort: number;
const upstreamSeen: Array<{ method: string; url: string; headers: http.IncomingHttpHeaders; body: string }> = [];
const upstreamWaiters: Array<() => void> = [];

before(async () => {
  upstream = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (d: Buffer) => chunks.push(d));
    req.on('end', () => {
      upstreamSeen.push({ method: req.method!, url: req.url!, headers: req.headers, body: Buffer.concat(chunks).toString('utf8') });
      upstreamWaiters.splice(0).forEach((w) => w());
      res.end('saved');
    });
  });
  await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', r));
  upstreamPort = (upstream.address() as net.AddressInfo).port;
  downPort = await freePort();
  h = await startBundled(['lhttp', 'lhttp-chat'], {
    modules: { 'lhttp-test-procs': processorModule(PROCS), 'lhttp-test-api': API_MODULE },
    args: ['--set', 'lhttp.path=/lhttp /chat', '--set', `lhttp.upstream_allow=http://127.0.0.1:${upstreamPort}/,http://127.0.0.1:${downPort}/`],
  });
});

after(async () => {
  await h?.kill();
  upstream?.closeAllConnections();
  await new Promise((r) => upstream?.close(r));
});

async function upstreamRequest(n: number): Promise<(typeof upstreamSeen)[number]> {
  const deadline = Date.now() + 10_000;
  while (upstreamSeen.length < n) {
    if (Date.now() > deadline) throw new Error('upstream request not seen');
    await new Promise<void>((r) => {
      const t = setTimeout(r, 500);
      upstreamWaiters.push(() => (clearTimeout(t), r()));
    });
  }
  return upstreamSeen[n - 1]!;
}

describe('publish/subscribe', () => {
  test('a subscriber receives the publisher command, headers and body, exactly', async () => {
    const [sub] = await subscribed(h.port, 'X');
    const pub = await LhttpClient.open(h.port);
    pub.send('LHTTP/1.0 chat2\r\npublish:X\r\n\r\nhi there');
    assert.equal(await sub!.next(), 'LHTTP/1.0 chat2\r\npublish:X\r\n\r\nhi there');
    // subscribe and publish in one frame: both headers travel (order free), and the publisher gets its own message.
    pub.send('LHTTP/1.0 chat2\r\nsubscribe:X\r\npublish:X\r\n\r\nboth');
    const got = parseFrame(await sub!.next());
    assert.deepEqual(got, { command: 'chat2', headers: { subscribe: 'X', publish: 'X' }, body: 'both' });
    assert.deepEqual(parseFrame(await pub.next()), got);
    // No acknowledgement is ever sent: the next frame the publisher sees is its sync marker.
    await sync(pub);
    sub!.close();
    pub.close();
  });

  test('the WebSocket endpoint is served on every configured path; other paths are not', async () => {
    const [a] = await subscribed(h.port, 'paths', 1, '/chat');
    const b = await LhttpClient.open(h.port, '/lhttp');
    b.send(frame('m', { publish: 'paths' }, 'across paths'));
    assert.equal(parseFrame(await a!.next()).body, 'across paths');
    await assert.rejects(LhttpClient.open(h.port, '/nope'), /404/);
    const plain = await httpRequest(h.port, '/lhttp', 'GET', null);
    assert.equal(plain.status, 426);
    a!.close();
    b.close();
  });

  test('several channels in one header; subscribed to both means delivered twice', async () => {
    const [sub] = await subscribed(h.port, 'S1 S2');
    const pub = await LhttpClient.open(h.port);
    pub.send(frame('m', { publish: 'S1 S2' }, 'twice'));
    assert.equal(parseFrame(await sub!.next()).body, 'twice');
    assert.equal(parseFrame(await sub!.next()).body, 'twice');
    await sync(pub);
    await sync(sub!);
    sub!.close();
    pub.close();
  });

  test('untrimmed values: "publish: X" still names channel X, and the value travels as sent', async () => {
    const [sub] = await subscribed(h.port, 'U');
    const pub = await LhttpClient.open(h.port);
    pub.send('LHTTP/1.0 m\r\npublish: U\r\nk:  spaced  \r\n\r\nbody');
    assert.deepEqual(parseFrame(await sub!.next()).headers, { publish: ' U', k: '  spaced  ' });
    sub!.close();
    pub.close();
  });

  test('a repeated header: the last one wins', async () => {
    const [sub1] = await subscribed(h.port, 'D1');
    const [sub2] = await subscribed(h.port, 'D2');
    const pub = await LhttpClient.open(h.port);
    pub.send('LHTTP/1.0 m\r\npublish:D1\r\nk:first\r\npublish:D2\r\nk:last\r\n\r\nb');
    assert.equal(await sub2!.next(), 'LHTTP/1.0 m\r\npublish:D2\r\nk:last\r\n\r\nb');
    await sync(pub);
    await sync(sub1!); // D1 got nothing
    for (const c of [sub1!, sub2!, pub]) c.close();
  });

  test('a body with CRLFs (and header-like lines) arrives byte for byte', async () => {
    const [sub] = await subscribed(h.port, 'B');
    const pub = await LhttpClient.open(h.port);
    const body = 'line1\r\n\r\nk:v\r\nLHTTP/1.0 fake\r\n\r\n\r\nend\r\n';
    pub.send(frame('m', { publish: 'B' }, body));
    const got = await sub!.next();
    assert.equal(got, `LHTTP/1.0 m\r\npublish:B\r\n\r\n${body}`);
    // UTF-8 in headers and body
    pub.send(frame('m', { publish: 'B', nick: 'Zoë' }, '你好 👋'));
    assert.equal(await sub!.next(), 'LHTTP/1.0 m\r\npublish:B\r\nnick:Zoë\r\n\r\n你好 👋');
    sub!.close();
    pub.close();
  });

  test('unsubscribe stops delivery; unsubscribe of an unknown channel is ignored', async () => {
    const [sub] = await subscribed(h.port, 'Q1 Q2');
    const pub = await LhttpClient.open(h.port);
    sub!.send(frame('m', { unsubscribe: 'Q1 never-subscribed' }));
    await sync(sub!);
    pub.send(frame('m', { publish: 'Q1' }, 'not for you'));
    pub.send(frame('m', { publish: 'Q2' }, 'still yours'));
    assert.equal(parseFrame(await sub!.next()).body, 'still yours');
    sub!.close();
    pub.close();
  });

  test('subscribe runs before publish, unsubscribe after it (one frame)', async () => {
    const c = await LhttpClient.open(h.port);
    c.send(frame('m', { subscribe: 'O', publish: 'O', unsubscribe: 'O' }, 'self'));
    assert.equal(parseFrame(await c.next()).body, 'self');
    const pub = await LhttpClient.open(h.port);
    pub.send(frame('m', { publish: 'O' }, 'after unsubscribe'));
    await sync(pub);
    await sync(c);
    c.close();
    pub.close();
  });

  test('wildcards: * is one token, > the rest', async () => {
    const [star] = await subscribed(h.port, 'room.*');
    const [rest] = await subscribed(h.port, 'room.>');
    const [mid] = await subscribed(h.port, 'a.*.c');
    const pub = await LhttpClient.open(h.port);
    pub.send(frame('m', { publish: 'room.1' }, 'r1'));
    pub.send(frame('m', { publish: 'room.1.x' }, 'r1x'));
    pub.send(frame('m', { publish: 'room' }, 'bare'));
    pub.send(frame('m', { publish: 'a.b.c a.b.d' }, 'abc'));
    pub.send(frame('m', { publish: 'room.*' }, 'wildcard subject is not publishable'));
    assert.equal(parseFrame(await star!.next()).body, 'r1');
    assert.equal(parseFrame(await rest!.next()).body, 'r1');
    assert.equal(parseFrame(await rest!.next()).body, 'r1x');
    const abc = parseFrame(await mid!.next());
    assert.equal(abc.body, 'abc');
    assert.equal(abc.headers.publish, 'a.b.c a.b.d');
    await sync(pub);
    for (const c of [star!, rest!, mid!]) await sync(c);
    // Subscribed to an exact channel and a wildcard matching it: two subscriptions, two deliveries.
    const [both] = await subscribed(h.port, 'w.1 w.*');
    pub.send(frame('m', { publish: 'w.1' }, 'x2'));
    assert.equal(parseFrame(await both!.next()).body, 'x2');
    assert.equal(parseFrame(await both!.next()).body, 'x2');
    for (const c of [star!, rest!, mid!, both!, pub]) c.close();
  });

  test('closing a connection ends its subscriptions', async () => {
    const before = await lhttpStatus(h.port);
    const subs = await subscribed(h.port, 'gone.1 gone.2', 3);
    const mid = await lhttpStatus(h.port);
    assert.equal(mid.subscriptions - before.subscriptions, 6);
    for (const c of subs) c.close();
    const deadline = Date.now() + 10_000;
    for (;;) {
      const s = await lhttpStatus(h.port);
      if (s.subscriptions === before.subscriptions && s.connections === before.connections) break;
      if (Date.now() > deadline) throw new Error(`subscriptions not released: ${JSON.stringify(s)}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  });
});

describe('garbage frames: ignored, the same connection keeps working', () => {
  const cases: Array<[string, string | Buffer]> = [
    ['no CRLF', 'LHTTP/1.0 chat'],
    ['start line only, no command', 'LHTTP/1.0\r\n\r\nbody'],
    ['short', 'LHTTP/1.'],
    ['empty', ''],
    ['not lhttp', 'GET / HTTP/1.1\r\n\r\n'],
    ['oversized (40961 bytes)', frame('m', { publish: 'G' }, 'x'.repeat(40961 - frame('m', { publish: 'G' }).length))],
    ['far oversized (200 KB)', frame('m', { publish: 'G' }, 'y'.repeat(200_000))],
    ['bad multipart offsets', frame('parts', { multipart: '0 999', publish: 'G' }, 'k:v\r\n\r\nb')],
    ['non-numeric multipart', frame('m', { multipart: 'a b' }, 'k:v\r\n\r\nb')],
    ['unsubscribe unknown channel', frame('m', { unsubscribe: 'nobody.here' })],
    ['bad channel names', frame('m', { subscribe: 'a..b >.x', publish: '.. a.>' }, 'z')],
    ['upstream to a closed port', 'UPSTREAM_CLOSED'],
    ['upstream not a URL', frame('m', { upstream: 'POST' }, 'b')],
    ['headers without blank line or colon', 'LHTTP/1.0 m\r\nnocolon\r\n:\r\nx'],
    ['a throwing processor', frame('boom', {}, 'b')],
  ];
  for (const [name, bad] of cases) {
    test(name, async () => {
      const [sub] = await subscribed(h.port, 'G');
      const c = await LhttpClient.open(h.port);
      let payload = bad;
      if (bad === 'UPSTREAM_CLOSED') payload = frame('m', { upstream: `POST http://127.0.0.1:${downPort}/x` }, 'b');
      c.send(payload);
      c.send(frame('m', { publish: 'G' }, `works after ${name}`));
      const got = parseFrame(await sub!.next());
      // The bad multipart frame itself is still acted on (its bad part ignored): it publishes first.
      if (name === 'bad multipart offsets') {
        assert.equal(got.command, 'parts');
        assert.equal(parseFrame(await c.next()).body, '[]');
        assert.equal(parseFrame(await sub!.next()).body, `works after ${name}`);
      } else {
        assert.equal(got.body, `works after ${name}`);
      }
      assert.equal(c.closeCode, null);
      sub!.close();
      c.close();
    });
  }

  test('random frames (fuzz) never break the connection or the server', async () => {
    const keys = ['publish', 'subscribe', 'unsubscribe', 'multipart', 'k', '', 'publish ', 'PUBLISH'];
    const commands = ['chat', 'parts', 'echo', 'hdr', 'boom', 'x', '', ' ', 'LHTTP/1.0'];
    const text = fc.string({ unit: fc.constantFrom('a', 'b', '.', '*', '>', ' ', ':', '\r', '\n', '\r\n', '0', '9', '-', 'é', '\u0000'), maxLength: 30 });
    const arb = fc.oneof(
      fc.tuple(fc.constantFrom(...commands), fc.array(fc.tuple(fc.constantFrom(...keys), text), { maxLength: 6 }), text).map(([c, hs, b]) => `LHTTP/1.0 ${c}\r\n${hs.map(([k, v]) => `${k}:${v}\r\n`).join('')}\r\n${b}`),
      text.map((t) => 'LHTTP/1.0' + t),
      fc.string({ maxLength: 60 }),
    );
    const samples = fc.sample(arb, { numRuns: 400, seed: 42 });
    const [sub] = await subscribed(h.port, 'FZ');
    const c = await LhttpClient.open(h.port);
    for (const f of samples) c.send(f);
    c.send(frame('m', { publish: 'FZ' }, 'alive after fuzz'));
    const deadline = Date.now() + 10_000;
    for (;;) {
      const got = await sub!.next(Math.max(1, deadline - Date.now()));
      if (parseFrame(got).body === 'alive after fuzz') break;
    }
    assert.equal(c.closeCode, null);
    sub!.close();
    c.close();
  });

  test('binary frames are treated like text; invalid UTF-8 is dropped', async () => {
    const [sub] = await subscribed(h.port, 'BIN');
    const c = await LhttpClient.open(h.port);
    c.send(Buffer.concat([Buffer.from(frame('m', { publish: 'BIN' })), Buffer.from([0xff, 0xfe])]), true);
    c.send(Buffer.from(frame('m', { publish: 'BIN' }, 'binary ok')), true);
    assert.equal(await sub!.next(), 'LHTTP/1.0 m\r\npublish:BIN\r\n\r\nbinary ok');
    const s = await lhttpStatus(h.port);
    assert.ok(s.ignoredFrames.invalidUtf8 >= 1 && s.ignoredFrames.oversized >= 2 && s.ignoredFrames.noCrlf >= 2, JSON.stringify(s.ignoredFrames));
    sub!.close();
    c.close();
  });
});

describe('processors', () => {
  test('send echoes with the request command and headers', async () => {
    const c = await LhttpClient.open(h.port);
    c.send('LHTTP/1.0 echo\r\nk:v\r\n\r\nping');
    assert.equal(await c.next(), 'LHTTP/1.0 echo\r\nk:v\r\n\r\nping');
    c.close();
  });

  test('setCommand/addHeader shape the reply; send resets them so the publish carries the request headers', async () => {
    const [sub] = await subscribed(h.port, 'P');
    const c = await LhttpClient.open(h.port);
    c.send('LHTTP/1.0 auth\r\npublish:P\r\n\r\nimg');
    assert.equal(await c.next(), 'LHTTP/1.0 auth\r\ncontent-type:image/png\r\n\r\nreply');
    assert.equal(await sub!.next(), 'LHTTP/1.0 auth\r\npublish:P\r\n\r\nimg');
    // Without send, the reply command and headers replace the request's in the publish.
    c.send('LHTTP/1.0 stamp\r\npublish:P\r\nk:v\r\n\r\nst');
    assert.equal(await sub!.next(), 'LHTTP/1.0 stamped\r\nx:1\r\n\r\nst');
    sub!.close();
    c.close();
  });

  test('getHeader (untrimmed, "" when absent), getHeaders, getCommand', async () => {
    const c = await LhttpClient.open(h.port);
    c.send('LHTTP/1.0 hdr\r\nk: v \r\nk2:é\r\n\r\n');
    assert.deepEqual(JSON.parse(parseFrame(await c.next()).body), { k: ' v ', missing: '', all: { k: ' v ', k2: 'é' }, command: 'hdr' });
    c.close();
  });

  test('multipart parts reach the processor (spec example)', async () => {
    const c = await LhttpClient.open(h.port);
    c.send('LHTTP/1.0 parts\r\nmultipart:0 14\r\n\r\nk1:v1\r\n\r\nbody1k2:v2\r\n\r\nbody2');
    assert.deepEqual(JSON.parse(parseFrame(await c.next()).body), [
      { headers: { k1: 'v1' }, body: 'body1' },
      { headers: { k2: 'v2' }, body: 'body2' },
    ]);
    c.close();
  });

  test('onOpen runs on the first message (not at connect), onClose when the connection closes', async () => {
    const [watcher] = await subscribed(h.port, 'life.closed');
    const c = await LhttpClient.open(h.port);
    await sync(c); // a first message with another command: onOpen is spent on it
    c.send(frame('life', {}, 'a'));
    assert.equal(parseFrame(await c.next()).body, 'message a');
    const d = await LhttpClient.open(h.port);
    d.send(frame('life', {}, 'first'));
    assert.equal(parseFrame(await d.next()).body, 'open');
    assert.equal(parseFrame(await d.next()).body, 'message first');
    d.send(frame('life', {}, 'last'));
    assert.equal(parseFrame(await d.next()).body, 'message last');
    d.close();
    const closed = parseFrame(await watcher!.next());
    assert.equal(closed.command, 'closed');
    assert.equal(closed.headers.publish, 'life.closed');
    assert.equal(closed.body, 'bye last');
    c.close();
    watcher!.close();
  });

  test('an async processor holds the connection order', async () => {
    const c = await LhttpClient.open(h.port);
    c.send(frame('slow', {}));
    c.send(frame('echo', {}, 'after'));
    assert.equal(parseFrame(await c.next()).body, 'slow done');
    assert.equal(parseFrame(await c.next()).body, 'after');
    c.close();
  });

  test('publish and subscribe from code', async () => {
    const [x] = await subscribed(h.port, 'code.x');
    const c = await LhttpClient.open(h.port);
    c.send(frame('code', {}));
    const got = await x!.next();
    assert.deepEqual(parseFrame(got), { command: 'fromcode', headers: { publish: 'code.x code.y', a: '1' }, body: 'made by code' });
    assert.equal(await c.next(), got); // subscribed to code.y by the processor
    x!.close();
    c.close();
  });

  test('the bundled chat processor stamps the server time before publishing', async () => {
    const [sub] = await subscribed(h.port, 'room.lobby');
    const c = await LhttpClient.open(h.port);
    const t0 = Date.now();
    c.send('LHTTP/1.0 chat\r\npublish:room.lobby\r\nnick:ann\r\ntime:forged\r\n\r\nhello');
    const got = parseFrame(await sub!.next());
    assert.equal(got.command, 'chat');
    assert.equal(got.body, 'hello');
    assert.equal(got.headers.nick, 'ann');
    assert.equal(got.headers.publish, 'room.lobby');
    assert.match(got.headers.time!, /^\d{13}$/);
    assert.ok(Math.abs(Number(got.headers.time) - t0) < 60_000);
    sub!.close();
    c.close();
  });

  test('other modules publish through the API', async () => {
    const [sub] = await subscribed(h.port, 'api.x');
    const c = await LineClient.open(h.port);
    assert.equal(await c.request('LPUB hello from a line route'), 'OK 2');
    assert.equal(await sub!.next(), 'LHTTP/1.0 fromapi\r\npublish:api.x api.y\r\nk:v\r\n\r\nhello from a line route');
    c.close();
    sub!.close();
  });

  test('STATUS counts messages in and out', async () => {
    const subs = await subscribed(h.port, 'cnt', 2);
    const pub = await LhttpClient.open(h.port);
    await sync(pub);
    const before = await lhttpStatus(h.port);
    pub.send('garbage frame');
    pub.send(frame('m', { publish: 'cnt' }, 'count me'));
    for (const s of subs) await s.next();
    const after = await lhttpStatus(h.port);
    assert.equal(after.messagesIn - before.messagesIn, 1);
    assert.equal(after.messagesOut - before.messagesOut, 2);
    assert.equal(after.ignoredFrames.notLhttp - before.ignoredFrames.notLhttp, 1);
    assert.equal(after.published - before.published, 1);
    for (const c of [...subs, pub]) c.close();
  });

  test('STATUS lists the processors and the counters', async () => {
    const s = await lhttpStatus(h.port);
    const cmds = (s.processors as Array<{ command: string; module: string }>).map((p) => `${p.module}:${p.command}`);
    assert.ok(cmds.includes('lhttp-chat:chat') && cmds.includes('lhttp-test-procs:echo'), cmds.join(','));
    for (const k of ['connections', 'channels', 'subscriptions', 'messagesIn', 'messagesOut', 'droppedSlowConsumers']) assert.equal(typeof s[k], 'number', k);
    assert.ok(s.processorErrors >= 1);
    assert.deepEqual(s.bus, { kind: 'memory' });
  });
});

describe('HTTP publish', () => {
  test('POST /publish: each channel of the publish header gets the raw body; 200 with an empty body', async () => {
    const [a] = await subscribed(h.port, 'H1');
    const [b] = await subscribed(h.port, 'H2');
    const body = 'LHTTP/1.0 chat\r\npublish:H1 H2\r\nx: y\r\n\r\nhello channel_test guys!\r\n';
    const r = await httpRequest(h.port, '/publish', 'POST', body, { 'content-type': 'text/plain' });
    assert.equal(r.status, 200);
    assert.equal(r.body, '');
    assert.equal(await a!.next(), body);
    assert.equal(await b!.next(), body);
    // Any method works, as in the original.
    const put = await httpRequest(h.port, '/publish', 'PUT', 'LHTTP/1.0 c\r\npublish:H1\r\n\r\nput');
    assert.equal(put.status, 200);
    assert.equal(parseFrame(await a!.next()).body, 'put');
    a!.close();
    b!.close();
  });

  test('no publish header: 200, nothing sent; no CRLF or empty: 400', async () => {
    const [a] = await subscribed(h.port, 'H3');
    assert.equal((await httpRequest(h.port, '/publish', 'POST', 'LHTTP/1.0 c\r\nk:v\r\n\r\nnobody')).status, 200);
    assert.equal((await httpRequest(h.port, '/publish', 'POST', 'LHTTP/1.0 c')).status, 400);
    assert.equal((await httpRequest(h.port, '/publish', 'POST', '')).status, 400);
    assert.equal((await httpRequest(h.port, '/publish', 'POST', 'hello')).status, 400);
    assert.equal((await httpRequest(h.port, '/publish', 'POST', 'LHTTP/1.0 c\r\npublish:H3\r\n\r\n' + 'z'.repeat(50_000))).status, 413);
    await sync(a!); // nothing arrived before the marker
    a!.close();
  });
});

describe('upstream', () => {
  test('POST: method, URL, every lhttp header, the body (not the whole message); the message is still published', async () => {
    const [sub] = await subscribed(h.port, 'up');
    const c = await LhttpClient.open(h.port);
    const n = upstreamSeen.length;
    c.send(`LHTTP/1.0 chat2\r\nupstream:POST http://127.0.0.1:${upstreamPort}/record?x=1\r\npublish:up\r\nx-user:jack\r\n\r\nhello mike,\r\nI am jack`);
    const r = await upstreamRequest(n + 1);
    assert.equal(r.method, 'POST');
    assert.equal(r.url, '/record?x=1');
    assert.equal(r.body, 'hello mike,\r\nI am jack');
    assert.equal(r.headers['x-user'], 'jack');
    assert.equal(r.headers.publish, 'up');
    assert.equal(r.headers.upstream, `POST http://127.0.0.1:${upstreamPort}/record?x=1`);
    assert.equal(parseFrame(await sub!.next()).body, 'hello mike,\r\nI am jack');
    sub!.close();
    c.close();
  });

  test('a failing upstream is logged (and counted), nothing else', async () => {
    const port = downPort;
    const c = await LhttpClient.open(h.port);
    c.send(frame('m', { upstream: `PUT http://127.0.0.1:${port}/down` }, 'b'));
    const l = await h.waitForLog((x) => /upstream request failed/.test(x.msg) && x.url === `http://127.0.0.1:${port}/down`);
    assert.equal(l.err, 'ECONNREFUSED');
    assert.equal(l.method, 'PUT');
    const s = await lhttpStatus(h.port);
    assert.ok(s.upstream.failed >= 1 && s.upstream.inFlight === 0, JSON.stringify(s.upstream));
    await sync(c);
    c.close();
  });

  test('GET sends no body', async () => {
    const c = await LhttpClient.open(h.port);
    const n = upstreamSeen.length;
    c.send(`LHTTP/1.0 chat2\r\nupstream:GET http://127.0.0.1:${upstreamPort}/q?user=user_a&age=26\r\n\r\nignored body`);
    const r = await upstreamRequest(n + 1);
    assert.equal(r.method, 'GET');
    assert.equal(r.url, '/q?user=user_a&age=26');
    assert.equal(r.body, '');
    assert.equal(r.headers['content-length'], undefined);
    c.close();
  });
});
