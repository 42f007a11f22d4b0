/**
 * The WebSocket opening handshake through the proxy, on both frontends (uWS CLI and node:http):
 * what reaches the upstream, what the client gets in its 101, answers other than 101 relayed as
 * HTTP, forged 101s refused, upstream down or silent, and Upgrade values that must not tunnel.
 */
import net from 'node:net';
import t from 'tap';
import { acceptOf, connect, startWsOrigin, wsFrontends } from './lib/ws.js';

const T = { timeout: 30_000 };

for (const fe of wsFrontends) {
  t.test(fe.name, async (t) => {
    t.test('messages relay both ways; the upstream sees the client headers, forwarded headers, Host and every protocol; the client gets the chosen protocol and Set-Cookie', T, async (t) => {
      const origin = await startWsOrigin(t);
      const proxy = await fe.start(t, { servers: [origin.port] });
      const c = connect(proxy.port, '/echo?room=1', {
        protocols: ['chat.v1', 'chat.v2'],
        headers: { cookie: 'sid=abc', origin: 'https://app.example.test', authorization: 'Bearer t0k', host: 'ws.example.test', 'x-forwarded-for': '6.6.6.6' },
      });
      const res = await c.opened;
      t.equal(c.ws.protocol, 'chat.v2', 'the client gets the protocol the upstream chose');
      t.same(res.headers['set-cookie'], ['origin=1; Path=/', 'second=2'], "the upstream's Set-Cookie headers are in the client's 101");
      c.ws.send('hello');
      c.ws.send(Buffer.from([0, 1, 2, 255]));
      c.ws.send('ünïcödé ✓');
      const a = await c.next();
      const b = await c.next();
      const d = await c.next();
      t.same([a.binary, a.data.toString()], [false, 'hello'], 'text stays text');
      t.same([b.binary, [...b.data]], [true, [0, 1, 2, 255]], 'binary stays binary');
      t.same([d.binary, d.data.toString()], [false, 'ünïcödé ✓'], 'UTF-8 text intact, order kept');
      const up = origin.upgrades[0]!;
      t.equal(up.url, '/echo?room=1', 'path and query as sent');
      t.same(up.header('host'), ['ws.example.test'], "the client's Host");
      t.same(up.header('cookie'), ['sid=abc']);
      t.same(up.header('origin'), ['https://app.example.test']);
      t.same(up.header('authorization'), ['Bearer t0k']);
      t.same(up.header('x-forwarded-for'), ['127.0.0.1'], 'X-Forwarded-For is the peer (the spoofed value dropped)');
      t.same(up.header('x-forwarded-proto'), ['http']);
      t.same(up.header('x-forwarded-host'), ['ws.example.test']);
      t.same(up.header('sec-websocket-protocol').join(',').split(',').map((s) => s.trim()), ['chat.v1', 'chat.v2'], 'the whole protocol list goes upstream');
      t.match(up.header('upgrade').join(), /websocket/i);
      t.match(up.header('connection').join(), /upgrade/i);
      t.same(up.header('sec-websocket-version'), ['13']);
      c.ws.close(1000);
      t.equal((await c.closed).code, 1000);
    });

    t.test('the upstream hop is not offered compression; the client hop negotiates none by default', T, async (t) => {
      const origin = await startWsOrigin(t);
      const proxy = await fe.start(t, { servers: [origin.port] });
      const c = connect(proxy.port, '/echo', { perMessageDeflate: true });
      await c.opened;
      if (fe.name === 'cli') {
        t.same(origin.upgrades[0]!.header('sec-websocket-extensions'), [], 'no extension offer upstream');
        t.equal(c.ws.extensions, '', 'compression is off on the client hop by default');
      } else {
        t.match(origin.upgrades[0]!.header('sec-websocket-extensions').join(), /permessage-deflate/, 'the node:http tunnel passes the offer end to end');
      }
      c.ws.send('x'.repeat(1000));
      t.equal((await c.next()).data.length, 1000);
      c.ws.close();
      await c.closed;
    });

    for (const status of [401, 403, 426, 302]) {
      t.test(`an upstream ${status} is relayed as HTTP with its body and headers, and no tunnel is made`, T, async (t) => {
        const origin = await startWsOrigin(t);
        const proxy = await fe.start(t, { servers: [origin.port] });
        const c = connect(proxy.port, `/status/${status}`);
        const r = await c.refused;
        t.equal(r.status, status);
        t.equal(r.body, `refused with ${status}`);
        if (status === 401) t.equal(r.headers['www-authenticate'], 'Basic realm="ws"');
        if (status === 302) t.equal(r.headers['location'], '/elsewhere');
        if (status === 426) t.equal(r.headers['sec-websocket-version'], '13');
        t.equal(r.headers['upgrade'], undefined, 'no Upgrade header reaches the client');
      });
    }

    t.test('a 101 with a wrong Sec-WebSocket-Accept is refused with 502', T, async (t) => {
      const origin = await startWsOrigin(t, {
        forged: (socket) => socket.end('HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: AAAAAAAAAAAAAAAAAAAAAAAAAAA=\r\n\r\n'),
      });
      const proxy = await fe.start(t, { servers: [origin.port] });
      const r = await connect(proxy.port, '/raw/forged').refused;
      t.equal(r.status, 502);
    });

    t.test('a 101 choosing a subprotocol the client did not offer is refused with 502', T, async (t) => {
      const origin = await startWsOrigin(t, {
        badproto: (socket, req) =>
          socket.end(`HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${acceptOf(String(req.headers['sec-websocket-key']))}\r\nSec-WebSocket-Protocol: evil\r\n\r\n`),
      });
      const proxy = await fe.start(t, { servers: [origin.port] });
      const r = await connect(proxy.port, '/raw/badproto', { protocols: ['good'] }).refused;
      t.equal(r.status, 502);
    });

    t.test('upstream down: 502', T, async (t) => {
      const origin = await startWsOrigin(t);
      const port = origin.port;
      await origin.close();
      const proxy = await fe.start(t, { servers: [port] });
      const r = await connect(proxy.port, '/echo').refused;
      t.equal(r.status, 502);
    });

    t.test('upstream silent past handshake_timeout: 504', T, async (t) => {
      const origin = await startWsOrigin(t);
      const proxy = await fe.start(t, { servers: [origin.port], websocket: { handshake_timeout: '500ms' }, core: { handshakeTimeout: 500 } });
      const started = Date.now();
      const r = await connect(proxy.port, '/silent').refused;
      t.equal(r.status, 504);
      t.ok(Date.now() - started < 5000, 'within the handshake timeout, not the 60 s read timeout');
    });

    t.test('Upgrade: h2c (even with WebSocket headers) is proxied as plain HTTP, Upgrade dropped', T, async (t) => {
      const origin = await startWsOrigin(t);
      const proxy = await fe.start(t, { servers: [origin.port] });
      for (const extra of ['', 'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n']) {
        const answer = await new Promise<string>((resolve, reject) => {
          const s = net.connect(proxy.port, '127.0.0.1', () =>
            s.write(`GET /h2 HTTP/1.1\r\nHost: h2.example.test\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n${extra}\r\n`),
          );
          let got = '';
          s.setEncoding('latin1');
          s.on('data', (d: string) => {
            got += d;
            if (/\r\n\r\n[\s\S]*plain \/h2 upgrade=$/.test(got) || got.includes('upgrade=\n')) s.destroy();
          });
          s.on('close', () => resolve(got));
          s.on('error', reject);
          setTimeout(() => s.destroy(), 3000);
        });
        t.match(answer, /^HTTP\/1\.1 200 /, `answered as plain HTTP (${extra ? 'with' : 'without'} WebSocket headers)`);
        t.notMatch(answer, /^HTTP\/1\.1 101/m, 'never switched');
        t.match(answer, /plain \/h2 upgrade=$/, 'the origin saw no Upgrade header');
      }
      t.equal(origin.upgrades.length, 0, 'no upgrade request reached the origin');
      t.equal(origin.plain.length, 2);
      for (const p of origin.plain) {
        t.same(p.header('http2-settings'), [], 'headers listed in Connection are dropped');
        t.same(p.header('upgrade'), []);
      }
    });
  });
}
