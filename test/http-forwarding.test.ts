/**
 * Forwarded headers, Host, and hop-by-hop headers, on both frontends (uWS CLI and node:http).
 */
import http from 'node:http';
import t from 'tap';
import { startCli } from './lib/cli.js';
import { requestJson } from './lib/client.js';
import { frontends, toOrigins } from './lib/frontends.js';
import { headerValues } from './lib/http1.js';
import { type Echo, readRequests, startOrigin, startRawOrigin } from './lib/origins.js';
import { RawClient, rawRequest } from './lib/raw-client.js';
import { freePort } from './lib/util.js';

const T = { timeout: 30_000 };

/** Every value of a possibly repeated, comma-separated header, trimmed. */
const listValues = (vals: string[]): string[] =>
  vals.flatMap((v) => v.split(',')).map((s) => s.trim()).filter(Boolean);

for (const fe of frontends) {
  t.test(fe.name, async (t) => {
    t.test('X-Forwarded-For/Proto/Host from an untrusted peer are replaced: the spoofed values never reach the origin', T, async (t) => {
      const origin = await startOrigin(t);
      const proxy = await fe.start(t, toOrigins(origin.port));
      const { res } = await requestJson<Echo>({
        port: proxy.port,
        path: '/whoami',
        headers: {
          host: 'app.example.test',
          'x-forwarded-for': '6.6.6.6',
          'x-forwarded-proto': 'https',
          'x-forwarded-host': 'evil.example.test',
        },
      });
      t.equal(res.status, 200);
      t.equal(origin.requests.length, 1, 'the origin saw the request once');
      const seen = origin.requests[0]!;
      t.same(seen.header('x-forwarded-for'), ['127.0.0.1'], 'X-Forwarded-For is the peer address only');
      t.same(seen.header('x-forwarded-proto'), ['http'], 'X-Forwarded-Proto is the scheme the client used');
      t.same(seen.header('x-forwarded-host'), ['app.example.test'], 'X-Forwarded-Host is the Host the client sent');
      const all = JSON.stringify(seen.headers);
      t.notMatch(all, /6\.6\.6\.6/, 'the spoofed address appears in no header');
      t.notMatch(all, /evil\.example\.test/, 'the spoofed host appears in no header');
    });

    t.test('with the peer trusted, the peer is appended to X-Forwarded-For and the incoming proto and host are kept', T, async (t) => {
      const origin = await startOrigin(t);
      const proxy = await fe.start(t, { ...toOrigins(origin.port), trustedProxies: ['127.0.0.0/8'] });
      const { res } = await requestJson<Echo>({
        port: proxy.port,
        headers: {
          host: 'app.example.test',
          'x-forwarded-for': '6.6.6.6',
          'x-forwarded-proto': 'https',
          'x-forwarded-host': 'public.example.test',
        },
      });
      t.equal(res.status, 200);
      const seen = origin.requests[0]!;
      t.same(listValues(seen.header('x-forwarded-for')), ['6.6.6.6', '127.0.0.1'], 'peer appended after the trusted chain');
      t.same(seen.header('x-forwarded-proto'), ['https'], 'incoming X-Forwarded-Proto kept');
      t.same(seen.header('x-forwarded-host'), ['public.example.test'], 'incoming X-Forwarded-Host kept');
    });

    t.test("the client's Host header reaches the origin unchanged", T, async (t) => {
      const origin = await startOrigin(t);
      const proxy = await fe.start(t, toOrigins(origin.port));
      const { res } = await requestJson<Echo>({ port: proxy.port, headers: { host: 'App.Example.test:8443' } });
      t.equal(res.status, 200);
      t.same(origin.requests[0]!.header('host'), ['App.Example.test:8443']);
    });

    t.test('host_header overrides the Host sent to the origin', T, async (t) => {
      const origin = await startOrigin(t);
      const proxy = await fe.start(t, {
        upstreams: [{ name: 'app', servers: [origin.port], hostHeader: 'backend.internal' }],
      });
      const { res } = await requestJson<Echo>({ port: proxy.port, headers: { host: 'app.example.test' } });
      t.equal(res.status, 200);
      t.same(origin.requests[0]!.header('host'), ['backend.internal']);
    });

    t.test('headers named in Connection and hop-by-hop headers do not reach the origin; others and repeats pass in order', T, async (t) => {
      const origin = await startOrigin(t);
      const proxy = await fe.start(t, toOrigins(origin.port));
      const c = await RawClient.connect(t, proxy.port);
      c.write(
        rawRequest('GET', '/hop', [
          ['Host', 'app.example.test'],
          ['Connection', 'keep-alive, X-Secret-Hop'],
          ['X-Secret-Hop', 'named-in-connection'],
          ['Keep-Alive', 'timeout=77'],
          ['TE', 'trailers'],
          ['Trailer', 'X-Foo'],
          ['Upgrade', 'h2c'],
          ['Proxy-Connection', 'keep-alive'],
          ['X-Repeat', 'one'],
          ['X-Keep', 'kept'],
          ['X-Repeat', 'two'],
        ]),
      );
      const res = await c.readResponse();
      t.equal(res.status, 200, 'the request was answered');
      t.equal(origin.requests.length, 1);
      const seen = origin.requests[0]!;
      for (const h of ['x-secret-hop', 'keep-alive', 'te', 'trailer', 'upgrade', 'proxy-connection']) {
        t.same(seen.header(h), [], `${h} is not forwarded`);
      }
      t.notMatch(seen.header('connection').join(','), /x-secret-hop/i, 'the Connection header sent upstream does not name the client\'s hop header');
      t.same(seen.header('x-keep'), ['kept'], 'an end-to-end header passes');
      t.same(listValues(seen.header('x-repeat')), ['one', 'two'], 'a repeated header passes with its values in order');
    });

    t.test('response: two Set-Cookie from the origin arrive as two, hop-by-hop response headers are dropped', T, async (t) => {
      const origin = await startRawOrigin(t, ({ socket }) => {
        readRequests(socket, () => {
          socket.write(
            'HTTP/1.1 200 OK\r\n' +
              'Content-Type: text/plain\r\n' +
              'Set-Cookie: a=1; Path=/\r\n' +
              'Connection: keep-alive, X-Resp-Hop\r\n' +
              'X-Resp-Hop: secret\r\n' +
              'Keep-Alive: timeout=77, max=999\r\n' +
              'Proxy-Connection: keep-alive\r\n' +
              'Set-Cookie: b=2; Path=/; HttpOnly\r\n' +
              'X-Resp-Keep: yes\r\n' +
              'Content-Length: 2\r\n' +
              '\r\n' +
              'ok',
          );
        });
      });
      const proxy = await fe.start(t, toOrigins(origin.port));
      const c = await RawClient.connect(t, proxy.port);
      c.write(rawRequest('GET', '/cookies', [['Host', 'app.example.test']]));
      const res = await c.readResponse();
      t.equal(res.status, 200);
      t.equal(res.body.toString(), 'ok');
      t.same(res.header('set-cookie'), ['a=1; Path=/', 'b=2; Path=/; HttpOnly'], 'two Set-Cookie headers, in order, not joined');
      t.same(res.header('x-resp-hop'), [], 'a header named in the origin\'s Connection is dropped');
      t.same(res.header('proxy-connection'), [], 'Proxy-Connection is dropped');
      t.notMatch(res.header('keep-alive').join(','), /timeout=77|max=999/, "the origin's Keep-Alive is not passed on");
      t.notMatch(res.header('connection').join(','), /x-resp-hop/i, "the origin's Connection tokens are not passed on");
      t.same(res.header('x-resp-keep'), ['yes'], 'an end-to-end response header passes');
      t.same(headerValues(res.headers, 'content-length').length <= 1, true, 'at most one Content-Length');
    });
  });
}

t.test('cli: on a dual-stack [::] listener, X-Forwarded-For is 127.0.0.1 for an IPv4 client (mapped address unwrapped) and ::1 for an IPv6 one', T, async (t) => {
  const origin = await startOrigin(t);
  const port = await freePort();
  await startCli(t, ['--listen', `[::]:${port}`, '--to', `http://127.0.0.1:${origin.port}`, '--workers', '1']);
  for (const [host, want] of [['127.0.0.1', '127.0.0.1'], ['::1', '::1'], ['127.0.0.1', '127.0.0.1']] as const) {
    const res = await new Promise<number>((resolve, reject) => {
      http.get({ host, port, path: '/peer', agent: false }, (r) => {
        r.resume();
        r.on('end', () => resolve(r.statusCode ?? 0));
      }).on('error', reject);
    });
    t.equal(res, 200);
    t.same(origin.requests.at(-1)!.header('x-forwarded-for'), [want], `a client from ${host}`);
  }
});
