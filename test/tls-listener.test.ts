/**
 * TLS listeners of the CLI (uWS SSLApp): certificates chosen by SNI, protocol versions refused,
 * HSTS on every response, X-Forwarded-Proto https, subpath routes, and plain listeners that
 * redirect to https. One CLI with several listeners serves the whole suite.
 */
import net from 'node:net';
import tls from 'node:tls';
import t from 'tap';
import { certDir, issue, makeCa } from './lib/certs.js';
import { request } from './lib/client.js';
import { headerValues, parseHead } from './lib/http1.js';
import { type Echo, startOrigin } from './lib/origins.js';
import { handshake, httpsRequest, startCliWithConfig } from './lib/tls.js';
import { freePort, withTimeout } from './lib/util.js';

const T = { timeout: 60_000 };

const dir = certDir(t);
const ca = makeCa(dir);
const fallback = issue(ca, 'default', { dns: ['default.test'] });
const sso = issue(ca, 'sso', { dns: ['sso.domain.tld'] });
const wild = issue(ca, 'wild', { dns: ['*.domain.tld'] });
const rsa = issue(ca, 'rsa', { dns: ['rsa.test'], keyType: 'rsa' });

const origin = await startOrigin(t, (req, res, seen) => {
  if (seen.url.startsWith('/app/sts')) res.setHeader('strict-transport-security', 'max-age=5');
  // the default echo handler answers every other request
  const body = JSON.stringify({ method: seen.method, url: seen.url, headers: seen.headers, connId: seen.connId, bodyLength: 0, bodySha256: '' } satisfies Echo);
  req.resume();
  req.on('end', () => {
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
    res.end(body);
  });
});
const closedPort = await freePort();
const ports = { redirect: await freePort(), redirect443: await freePort(), main: await freePort(), tls13: await freePort(), custom: await freePort(), rsa: await freePort() };

const routes = `
routes:
  - { path: /app/, upstream: app }
  - { path: /down/, upstream: dead }
  - { path: /authentik/, strip_prefix: true, upstream: app }
  - { path: /passthru/, upstream: app }
`;
const cli = await startCliWithConfig(
  t,
  `workers: 1
listen:
  - address: 127.0.0.1:${ports.redirect}
    redirect_https: { port: ${ports.main} }
  - address: 127.0.0.1:${ports.redirect443}
    redirect_https: true
  - address: 127.0.0.1:${ports.main}
    tls:
      certificates:
        - { cert: ${fallback.chain.path}, key: ${fallback.key.path} }
        - { cert: ${sso.chain.path}, key: ${sso.key.path} }
        - { cert: ${wild.chain.path}, key: ${wild.key.path}, names: ["*.domain.tld"] }
  - address: 127.0.0.1:${ports.tls13}
    tls:
      cert: ${sso.chain.path}
      key: ${sso.key.path}
      min_version: TLSv1.3
      hsts: { max_age: 600, include_subdomains: true }
  - address: 127.0.0.1:${ports.custom}
    tls: { cert: ${fallback.chain.path}, key: ${fallback.key.path}, hsts: false, ciphers: "ECDHE-ECDSA-AES128-GCM-SHA256" }
  - address: 127.0.0.1:${ports.rsa}
    tls: { cert: ${rsa.chain.path}, key: ${rsa.key.path}, hsts: { max_age: 63072000, include_subdomains: true, preload: true } }
upstreams:
  app: { servers: [127.0.0.1:${origin.port}] }
  dead: { servers: [127.0.0.1:${closedPort}] }
${routes}`,
  ports.main,
);

t.test('SNI picks the certificate: exact name, one-label wildcard; no or an unknown name gets the default', T, async (t) => {
  const cases: Array<[string | undefined, string]> = [
    ['sso.domain.tld', sso.fingerprint],
    ['x.domain.tld', wild.fingerprint],
    ['auth.domain.tld', wild.fingerprint],
    ['a.b.domain.tld', fallback.fingerprint],
    ['domain.tld', fallback.fingerprint],
    ['unknown.example', fallback.fingerprint],
    [undefined, fallback.fingerprint],
  ];
  for (const [servername, fingerprint] of cases) {
    const h = await handshake(t, { port: ports.main, ...(servername !== undefined ? { servername } : {}) });
    t.ok(h.ok, `handshake with SNI ${servername ?? '(none)'}`);
    if (h.ok) {
      t.equal(h.fingerprint, fingerprint, `SNI ${servername ?? '(none)'} gets the expected certificate`);
      h.socket.destroy();
    }
  }
});

t.test('a client verifying against the CA gets through on each name, proxied with X-Forwarded-Proto https', T, async (t) => {
  for (const name of ['sso.domain.tld', 'x.domain.tld']) {
    const res = await httpsRequest({ port: ports.main, servername: name, ca: ca.cert.pem, path: `/app/hello?n=${name}` });
    t.equal(res.status, 200, `${name}: 200 with a verified certificate`);
    const echo = res.json<Echo>();
    t.equal(echo.url, `/app/hello?n=${name}`);
    t.same(headerValues(echo.headers, 'x-forwarded-proto'), ['https'], `${name}: X-Forwarded-Proto https`);
    t.same(headerValues(echo.headers, 'x-forwarded-for'), ['127.0.0.1'], `${name}: X-Forwarded-For is the client`);
    t.same(headerValues(echo.headers, 'host'), [`${name}:${ports.main}`], `${name}: the client's Host is passed`);
  }
});

t.test('an RSA certificate works as well as an ECDSA one', T, async (t) => {
  const res = await httpsRequest({ port: ports.rsa, servername: 'rsa.test', ca: ca.cert.pem, path: '/app/rsa' });
  t.equal(res.status, 200);
  t.equal(res.fingerprint, rsa.fingerprint);
  t.same(res.header('strict-transport-security'), ['max-age=63072000; includeSubDomains; preload'], 'preload and includeSubDomains when configured');
});

t.test('protocol versions: TLS 1.1 is always refused; TLS 1.2 too when min_version is TLSv1.3', T, async (t) => {
  // Control: this client does speak TLS 1.1 to a server that allows it.
  const control = tls.createServer({ cert: fallback.chain.pem, key: fallback.key.pem, minVersion: 'TLSv1', ciphers: 'DEFAULT:@SECLEVEL=0' }, (s) => s.end());
  await new Promise<void>((r) => control.listen(0, '127.0.0.1', r));
  t.teardown(() => control.close());
  const ok11 = await handshake(t, { port: (control.address() as net.AddressInfo).port, maxVersion: 'TLSv1.1' });
  t.ok(ok11.ok && ok11.protocol === 'TLSv1.1', 'control: the TLS 1.1 client works against a server that allows it');

  const h11 = await handshake(t, { port: ports.main, maxVersion: 'TLSv1.1' });
  t.notOk(h11.ok, 'TLS 1.1 refused by the default listener');
  if (!h11.ok) t.match(h11.message, /protocol version|unsupported protocol/i, `refused as a protocol version: ${h11.code}`);

  const h12 = await handshake(t, { port: ports.main, minVersion: 'TLSv1.2', maxVersion: 'TLSv1.2' });
  t.ok(h12.ok && h12.protocol === 'TLSv1.2', 'TLS 1.2 accepted by default (min_version TLSv1.2)');
  const h13 = await handshake(t, { port: ports.main, minVersion: 'TLSv1.3' });
  t.ok(h13.ok && h13.protocol === 'TLSv1.3', 'TLS 1.3 accepted, and chosen when offered');

  const r11 = await handshake(t, { port: ports.tls13, maxVersion: 'TLSv1.1' });
  t.notOk(r11.ok, 'min_version TLSv1.3: TLS 1.1 refused');
  const r12 = await handshake(t, { port: ports.tls13, minVersion: 'TLSv1.2', maxVersion: 'TLSv1.2' });
  t.notOk(r12.ok, 'min_version TLSv1.3: TLS 1.2 refused');
  if (!r12.ok) t.match(r12.message, /handshake failure|protocol version/i, `refused during the handshake: ${r12.code}`);
  const r13 = await handshake(t, { port: ports.tls13, servername: 'sso.domain.tld', ca: ca.cert.pem });
  t.ok(r13.ok && r13.protocol === 'TLSv1.3', 'min_version TLSv1.3: TLS 1.3 accepted');

  const c12 = await handshake(t, { port: ports.custom, minVersion: 'TLSv1.2', maxVersion: 'TLSv1.2' });
  t.ok(c12.ok, 'a configured cipher list is used for TLS 1.2');
  if (c12.ok) t.equal(c12.socket.getCipher().name, 'ECDHE-ECDSA-AES128-GCM-SHA256', 'the only cipher configured is chosen');
});

t.test('HSTS on every response of a TLS listener: 200, 404, 502 and the 400 refusal', T, async (t) => {
  const hsts = ['max-age=63072000'];
  const ok = await httpsRequest({ port: ports.main, servername: 'sso.domain.tld', path: '/app/x' });
  t.equal(ok.status, 200);
  t.same(ok.header('strict-transport-security'), hsts, '200 carries HSTS');
  const missing = await httpsRequest({ port: ports.main, servername: 'sso.domain.tld', path: '/nowhere' });
  t.equal(missing.status, 404);
  t.same(missing.header('strict-transport-security'), hsts, '404 carries HSTS');
  const down = await httpsRequest({ port: ports.main, servername: 'sso.domain.tld', path: '/down/x' });
  t.equal(down.status, 502);
  t.same(down.header('strict-transport-security'), hsts, '502 carries HSTS');
  const upstreamSts = await httpsRequest({ port: ports.main, servername: 'sso.domain.tld', path: '/app/sts' });
  t.same(upstreamSts.header('strict-transport-security'), hsts, "the listener's HSTS replaces the upstream's");

  // Two different Content-Length headers: refused with 400 before uWS can mis-frame it.
  const socket = tls.connect({ host: '127.0.0.1', port: ports.main, servername: 'sso.domain.tld', rejectUnauthorized: false });
  t.teardown(() => socket.destroy());
  const head = await withTimeout(
    new Promise<string>((resolve, reject) => {
      let buf = Buffer.alloc(0);
      socket.on('secureConnect', () => socket.write('POST /app/x HTTP/1.1\r\nHost: sso.domain.tld\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab'));
      socket.on('data', (d: Buffer) => {
        buf = Buffer.concat([buf, d]);
        const h = parseHead(buf);
        if (h) resolve(`${h.startLine}\n${h.headers.map(([n, v]) => `${n}: ${v}`).join('\n')}`);
      });
      socket.on('error', reject);
    }),
    5000,
    'the 400 answer',
  );
  t.match(head, /^HTTP\/1\.1 400/, 'ambiguous framing gets 400');
  t.match(head, /strict-transport-security: max-age=63072000/i, '400 carries HSTS');

  const custom = await httpsRequest({ port: ports.tls13, servername: 'sso.domain.tld', path: '/nowhere' });
  t.same(custom.header('strict-transport-security'), ['max-age=600; includeSubDomains'], 'max_age and include_subdomains as configured');
  const none = await httpsRequest({ port: ports.custom, path: '/app/x' });
  t.same(none.header('strict-transport-security'), [], 'hsts: false sends none');
});

t.test('plain listeners never send HSTS, and proxy nothing when they redirect', T, async (t) => {
  const res = await request({ port: ports.redirect, path: '/app/x', headers: { host: 'sso.domain.tld' } });
  t.equal(res.status, 301);
  t.same(res.header('strict-transport-security'), []);
  t.notOk(origin.requests.some((r) => r.url === '/app/x' && r.header('x-forwarded-proto')[0] === 'http'), 'the redirect listener proxied nothing');
});

t.test('redirect_https: 301 to https://$host$request_uri, path and query kept, port as configured', T, async (t) => {
  const res = await request({ port: ports.redirect, path: '/a/b%20c/?x=1&y=%2F', headers: { host: `SSO.domain.tld:${ports.redirect}` } });
  t.equal(res.status, 301);
  t.same(res.header('location'), [`https://sso.domain.tld:${ports.main}/a/b%20c/?x=1&y=%2F`], 'host without its port, the https port, path and query as sent');

  const deflt = await request({ port: ports.redirect443, path: '/if/flow/?next=%2Fx', headers: { host: `sso.domain.tld:${ports.redirect443}` } });
  t.equal(deflt.status, 301);
  t.same(deflt.header('location'), ['https://sso.domain.tld/if/flow/?next=%2Fx'], 'port 443 is left out');

  const v6 = await request({ port: ports.redirect443, path: '/', headers: { host: '[::1]:8080' } });
  t.same(v6.header('location'), ['https://[::1]/'], 'an IPv6 literal keeps its brackets');

  const post = await request({ port: ports.redirect443, method: 'POST', path: '/login', headers: { host: 'sso.domain.tld' }, body: Buffer.from('user=a') });
  t.equal(post.status, 301, 'every method is redirected');
  const head = await request({ port: ports.redirect443, method: 'HEAD', path: '/h', headers: { host: 'sso.domain.tld' } });
  t.equal(head.status, 301);
  t.equal(head.body.length, 0, 'HEAD gets no body');

  const bad = await request({ port: ports.redirect443, path: '/', headers: { host: 'evil.example/x?' } });
  t.equal(bad.status, 400, 'a Host that is not a host name is refused, not echoed into Location');
});

t.test('redirects keep the connection alive for the next request', T, async (t) => {
  const socket = net.connect(ports.redirect443, '127.0.0.1');
  t.teardown(() => socket.destroy());
  const answers = await withTimeout(
    new Promise<string[]>((resolve, reject) => {
      let buf = '';
      socket.on('connect', () => socket.write('GET /one HTTP/1.1\r\nHost: a.test\r\n\r\nGET /two?q HTTP/1.1\r\nHost: b.test\r\n\r\n'));
      socket.on('data', (d: Buffer) => {
        buf += d.toString('latin1');
        const locations = [...buf.matchAll(/location: (\S+)/gi)].map((m) => m[1]!);
        if (locations.length === 2) resolve(locations);
      });
      socket.on('error', reject);
    }),
    5000,
    'two redirects on one connection',
  );
  t.same(answers, ['https://a.test/one', 'https://b.test/two?q']);
});

t.test('subpath routes over TLS: strip_prefix removes /authentik, a plain route passes its prefix', T, async (t) => {
  const stripped = await httpsRequest({ port: ports.main, servername: 'sso.domain.tld', path: '/authentik/if/flow/default/?next=%2F' });
  t.equal(stripped.status, 200);
  t.equal(stripped.json<Echo>().url, '/if/flow/default/?next=%2F', 'the prefix is removed');
  const passed = await httpsRequest({ port: ports.main, servername: 'sso.domain.tld', path: '/passthru/static/app.js' });
  t.equal(passed.json<Echo>().url, '/passthru/static/app.js', 'the prefix is passed through');
  t.same(headerValues(passed.json<Echo>().headers, 'x-forwarded-proto'), ['https']);
});

t.test('log lines stay JSON: uWS diagnostics go to stderr', T, async (t) => {
  t.notOk(cli.lines.some((l) => l.msg === '<non-json>'), 'every stdout line is JSON');
});
