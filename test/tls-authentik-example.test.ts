/**
 * examples/authentik.yaml, started as written except for what a test must change (certificate
 * paths, ports, the authentik host), serves the guide's scenario: the plain port redirects to
 * https, the TLS port (TLS 1.3 only, HSTS) proxies HTTP and WebSockets to a TLS upstream with a
 * self-signed certificate, passing every header the guide lists.
 */
import { readFileSync } from 'node:fs';
import http2 from 'node:http2';
import https from 'node:https';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import WebSocket from 'ws';
import { authentikScene, hasIpv6 } from './lib/authentik.js';
import { request } from './lib/client.js';
import { headerValues } from './lib/http1.js';
import type { Echo } from './lib/origins.js';
import { handshake, httpsRequest, startCliWithConfig } from './lib/tls.js';
import { deferred, freePort, withTimeout } from './lib/util.js';

const T = { timeout: 60_000 };

const { letsEncrypt, domain, origin, upgrades } = await authentikScene(t);

const plain = await freePort();
const secure = await freePort();
const ipv6 = await hasIpv6();

const example = readFileSync(fileURLToPath(new URL('../examples/authentik.yaml', import.meta.url)), 'utf8');
const replacements: Array<[string, string]> = [
  ['/etc/letsencrypt/live/domain.tld/fullchain.pem', domain.chain.path],
  ['/etc/letsencrypt/live/domain.tld/privkey.pem', domain.key.path],
  ['address: 0.0.0.0:80 ', `address: 127.0.0.1:${plain} `],
  ['address: "[::]:80" ', ipv6 ? `address: "[::1]:${plain}" ` : `address: 127.0.0.2:${plain} `],
  ['address: 0.0.0.0:443 ', `address: 127.0.0.1:${secure} `],
  ['address: "[::]:443" ', ipv6 ? `address: "[::1]:${secure}" ` : `address: 127.0.0.2:${secure} `],
  ['redirect_https: true ', `redirect_https: { port: ${secure} } `],
  ['redirect_https: true\n', `redirect_https: { port: ${secure} }\n`],
  ['https://authentik-server:9443', `https://127.0.0.1:${origin.port}`],
];
let config = example;
for (const [from, to] of replacements) {
  // The rewrite must find what it replaces, or the test would run another config than the example.
  if (!config.includes(from)) throw new Error(`examples/authentik.yaml no longer contains ${JSON.stringify(from)}: update this test`);
  config = config.split(from).join(to);
}
const cli = await startCliWithConfig(t, config, secure);
const sso = { port: secure, servername: 'sso.domain.tld', ca: letsEncrypt.cert.pem };

t.test('the plain port answers 301 to https://$host$request_uri', T, async (t) => {
  const res = await request({ port: plain, path: '/if/flow/default-authentication-flow/?next=%2F', headers: { host: `sso.domain.tld:${plain}` } });
  t.equal(res.status, 301);
  t.same(res.header('location'), [`https://sso.domain.tld:${secure}/if/flow/default-authentication-flow/?next=%2F`]);
  t.equal(origin.requests.length, 0, 'nothing reached authentik');
});

t.test('the TLS port proxies to the TLS upstream with X-Forwarded-Proto, X-Forwarded-For and Host; HSTS always', T, async (t) => {
  const res = await httpsRequest({ ...sso, path: '/api/v3/root/config/', headers: { 'x-forwarded-for': '6.6.6.6' } });
  t.equal(res.status, 200, 'the certificate verifies for sso.domain.tld and the request is proxied');
  t.same(res.header('strict-transport-security'), ['max-age=63072000'], 'add_header Strict-Transport-Security "max-age=63072000" always');
  const echo = res.json<Echo>();
  t.equal(echo.url, '/api/v3/root/config/');
  t.same(headerValues(echo.headers, 'x-forwarded-proto'), ['https'], 'X-Forwarded-Proto: https');
  t.same(headerValues(echo.headers, 'x-forwarded-for'), ['127.0.0.1'], 'X-Forwarded-For: the client (a spoofed value is replaced)');
  t.same(headerValues(echo.headers, 'host'), [`sso.domain.tld:${secure}`], 'Host: as the client sent it');

  const other = await httpsRequest({ ...sso, host: 'other.example', path: '/' });
  t.equal(other.status, 404, 'server_name sso.domain.tld: other hosts are not proxied');
  t.same(other.header('strict-transport-security'), ['max-age=63072000'], 'HSTS on the 404 too');
});

t.test('TLS 1.3 only, as the guide recommends', T, async (t) => {
  const old = await handshake(t, { port: secure, servername: 'sso.domain.tld', minVersion: 'TLSv1.2', maxVersion: 'TLSv1.2' });
  t.notOk(old.ok, 'TLS 1.2 refused');
  const ok = await handshake(t, { port: secure, servername: 'sso.domain.tld', ca: letsEncrypt.cert.pem });
  t.ok(ok.ok && ok.protocol === 'TLSv1.3', 'TLS 1.3 accepted');
});

t.test('keepalive 10: requests reuse the TLS connections to authentik', T, async (t) => {
  const before = origin.handshakes;
  const agent = new https.Agent({ keepAlive: true, maxSockets: 1 });
  t.teardown(() => agent.destroy());
  for (let i = 0; i < 30; i++) {
    const res = await httpsRequest({ ...sso, path: `/static/${i}.js`, agent });
    if (res.status !== 200) t.fail(`request ${i}: ${res.status}`);
  }
  t.ok(origin.handshakes - before <= 2, `new TLS sessions to authentik for 30 requests: ${origin.handshakes - before}`);
});

t.test('WebSockets: wss to Portcullis, wss to authentik, with the guide\'s headers', T, async (t) => {
  const ws = new WebSocket(`wss://127.0.0.1:${secure}/ws/outpost/abc/?instance_uuid=1`, {
    servername: 'sso.domain.tld',
    ca: letsEncrypt.cert.pem,
    headers: { host: 'sso.domain.tld', 'x-forwarded-for': '6.6.6.6' },
    // ws hands its options to tls.connect; its typings do not list servername.
  } as WebSocket.ClientOptions);
  t.teardown(() => ws.terminate());
  await withTimeout(new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('error', reject);
    ws.once('unexpected-response', (_req, res) => reject(new Error(`upgrade answered ${res.statusCode}`)));
  }), 10_000, 'the WebSocket to open');
  const messages: Array<{ data: string; binary: boolean }> = [];
  const two = deferred();
  ws.on('message', (data, binary) => {
    messages.push({ data: data.toString(), binary });
    if (messages.length === 2) two.resolve();
  });
  ws.send('hello outpost');
  ws.send(Buffer.from('binary frame'), { binary: true });
  await withTimeout(two.promise, 10_000, 'two echoes');
  t.same(messages, [
    { data: 'hello outpost', binary: false },
    { data: 'binary frame', binary: true },
  ], 'text and binary messages echoed through both TLS hops');
  const up = upgrades.at(-1)!;
  t.equal(up.url, '/ws/outpost/abc/?instance_uuid=1');
  t.equal(up.headers['x-forwarded-proto'], 'https', 'X-Forwarded-Proto: https on the upgrade');
  t.equal(up.headers['x-forwarded-for'], '127.0.0.1', 'X-Forwarded-For: the client');
  t.equal(up.headers['host'], 'sso.domain.tld', 'Host: as the client sent it');
  t.equal(String(up.headers['upgrade']).toLowerCase(), 'websocket', 'Upgrade: websocket');
  t.match(String(up.headers['connection']), /upgrade/i, 'Connection: Upgrade');
  const closed = deferred<number>();
  ws.once('close', (code) => closed.resolve(code));
  ws.close(1000, 'bye');
  t.equal(await withTimeout(closed.promise, 10_000, 'the close'), 1000, 'closed cleanly');
});

t.test('listen 443 ssl http2: HTTP/2 by ALPN, with the same headers, HSTS and WebSockets (RFC 8441)', T, async (t) => {
  const session = http2.connect(`https://127.0.0.1:${secure}`, { servername: 'sso.domain.tld', ca: letsEncrypt.cert.pem });
  session.on('error', () => {});
  t.teardown(() => session.close());
  const settings = await withTimeout(new Promise<http2.Settings>((r) => session.once('remoteSettings', r)), 10_000, 'the server settings');
  t.equal(settings.enableConnectProtocol, true, 'extended CONNECT offered');
  t.equal((session.socket as unknown as { alpnProtocol: string }).alpnProtocol, 'h2', 'h2 negotiated');
  const res = await new Promise<{ head: http2.IncomingHttpHeaders; body: string }>((resolve, reject) => {
    const req = session.request({ ':path': '/api/v3/root/config/', ':authority': 'sso.domain.tld', 'x-forwarded-for': '6.6.6.6' });
    let body = '';
    let head: http2.IncomingHttpHeaders = {};
    req.on('response', (h) => (head = h));
    req.on('data', (d: Buffer) => (body += d));
    req.on('end', () => resolve({ head, body }));
    req.on('error', reject);
  });
  t.equal(res.head[':status'], 200);
  t.equal(res.head['strict-transport-security'], 'max-age=63072000', 'HSTS always, on h2 too');
  const echo = JSON.parse(res.body) as Echo;
  t.same(headerValues(echo.headers, 'x-forwarded-proto'), ['https']);
  t.same(headerValues(echo.headers, 'x-forwarded-for'), ['127.0.0.1']);
  t.same(headerValues(echo.headers, 'host'), ['sso.domain.tld'], 'Host: the client\'s :authority');

  // A WebSocket over HTTP/2: extended CONNECT to Portcullis, an HTTP/1.1 upgrade over TLS to authentik.
  const ws = session.request({ ':method': 'CONNECT', ':protocol': 'websocket', ':path': '/ws/outpost/h2/', ':authority': 'sso.domain.tld', 'sec-websocket-version': '13' }, { endStream: false });
  ws.on('error', () => {});
  const head = await withTimeout(new Promise<http2.IncomingHttpHeaders>((r) => ws.once('response', r)), 10_000, 'the CONNECT answer');
  t.equal(head[':status'], 200, 'the upstream switched; the client gets 200');
  // One masked text frame; the echo comes back unmasked.
  const payload = Buffer.from('hello over h2');
  const mask = Buffer.from([1, 2, 3, 4]);
  const masked = Buffer.from(payload.map((b, i) => b ^ mask[i % 4]!));
  ws.write(Buffer.concat([Buffer.from([0x81, 0x80 | payload.length]), mask, masked]));
  const echoFrame = await withTimeout(new Promise<Buffer>((r) => ws.once('data', r)), 10_000, 'the echo');
  t.equal(echoFrame[0], 0x81, 'a final text frame');
  t.equal(echoFrame.subarray(2, 2 + echoFrame[1]!).toString(), 'hello over h2');
  t.equal(upgrades.at(-1)!.url, '/ws/outpost/h2/');
  t.equal(upgrades.at(-1)!.headers['x-forwarded-proto'], 'https');
  ws.close();
});

t.test('every log line is JSON', T, async (t) => {
  t.notOk(cli.lines.some((l) => l.msg === '<non-json>'));
});
