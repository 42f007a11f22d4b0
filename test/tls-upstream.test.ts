/**
 * https upstreams (`servers: [https://…]`): verification on by default (a configured CA file, the
 * server's name or a configured server_name), 502 with the TLS reason in the log when it fails,
 * the `verify: false` opt-out for self-signed origins, client certificates (mTLS), the
 * keep-alive pool reusing TLS sessions exactly as it reuses plain sockets, and large bodies to
 * slow readers (pausing and resuming a TLS socket that reads into the shared buffer).
 */
import { randomBytes } from 'node:crypto';
import http from 'node:http';
import t from 'tap';
import { certDir, issue, makeCa } from './lib/certs.js';
import { request, sha, slowGet } from './lib/client.js';
import { headerValues } from './lib/http1.js';
import type { Echo } from './lib/origins.js';
import { startCliWithConfig, startHttpsOrigin } from './lib/tls.js';
import { freePort, withTimeout } from './lib/util.js';

const T = { timeout: 60_000 };

const dir = certDir(t);
const ca = makeCa(dir, 'Upstream CA');
const otherCa = makeCa(dir, 'Unrelated CA');
const clientCa = makeCa(dir, 'Client CA');
const originCert = issue(ca, 'origin', { dns: ['origin.internal'], ip: ['127.0.0.1'] });
const client = issue(clientCa, 'portcullis-client', { dns: ['portcullis.client'], client: true });

const origin = await startHttpsOrigin(t, { cert: originCert.chain.pem, key: originCert.key.pem });
const mtlsOrigin = await startHttpsOrigin(t, { cert: originCert.chain.pem, key: originCert.key.pem, clientCa: clientCa.cert.pem });
const poolOrigin = await startHttpsOrigin(t, { cert: originCert.chain.pem, key: originCert.key.pem });
const BIG = 8 * 1024 * 1024;
const bigBodies = [0, 1, 2].map(() => randomBytes(BIG));
const bigOrigin = await startHttpsOrigin(t, {
  cert: originCert.chain.pem,
  key: originCert.key.pem,
  handler: (req, res) => {
    res.writeHead(200, { 'content-length': String(BIG) });
    res.end(bigBodies[Number(req.url!.split('/').pop())]);
  },
});
const port = await freePort();

const cli = await startCliWithConfig(
  t,
  `workers: 1
listen: [127.0.0.1:${port}]
upstreams:
  by-ip:                 # verified against the CA file; the certificate has IP 127.0.0.1
    servers: ["https://127.0.0.1:${origin.port}"]
    tls: { ca: ${ca.cert.path} }
  by-name:               # SNI and verification with a configured name
    servers: ["https://127.0.0.1:${origin.port}"]
    tls: { ca: ${ca.cert.path}, server_name: origin.internal }
  system-cas:            # no CA file: the system CAs do not know the test CA
    servers: ["https://127.0.0.1:${origin.port}"]
  wrong-ca:
    servers: ["https://127.0.0.1:${origin.port}"]
    tls: { ca: ${otherCa.cert.path} }
  wrong-name:
    servers: ["https://127.0.0.1:${origin.port}"]
    tls: { ca: ${ca.cert.path}, server_name: elsewhere.internal }
  no-verify:             # authentik's self-signed 9443
    servers: ["https://127.0.0.1:${origin.port}"]
    tls: { verify: false }
  mtls:
    servers: ["https://127.0.0.1:${mtlsOrigin.port}"]
    tls: { ca: ${ca.cert.path}, cert: ${client.chain.path}, key: ${client.key.path} }
  mtls-without-cert:
    servers: ["https://127.0.0.1:${mtlsOrigin.port}"]
    tls: { ca: ${ca.cert.path} }
  pooled:
    servers: ["https://127.0.0.1:${poolOrigin.port}"]
    tls: { ca: ${ca.cert.path}, server_name: origin.internal }
    keepalive: 10
  big:
    servers: ["https://127.0.0.1:${bigOrigin.port}"]
    tls: { ca: ${ca.cert.path}, server_name: origin.internal }
routes:
${['big', 'pooled', 'by-ip', 'by-name', 'system-cas', 'wrong-ca', 'wrong-name', 'no-verify', 'mtls', 'mtls-without-cert'].map((u) => `  - { path: /${u}/, upstream: ${u} }`).join('\n')}
`,
  port,
);

function upstreamErrors(path: string): string[] {
  return cli.lines.filter((l) => l.msg === 'upstream error' && String(l['path']).startsWith(path)).map((l) => String(l['err']));
}

t.test('verification passes with the configured CA: by IP address, and with server_name as SNI', T, async (t) => {
  for (const path of ['/by-ip/x?q=1', '/by-name/x']) {
    const res = await request({ port, path, headers: { host: 'sso.domain.tld' } });
    t.equal(res.status, 200, `${path}: 200`);
    const echo = res.json<Echo>();
    t.equal(echo.url, path, 'the path is passed');
    t.same(headerValues(echo.headers, 'host'), ['sso.domain.tld'], "the client's Host goes upstream over TLS");
    t.same(headerValues(echo.headers, 'x-forwarded-proto'), ['http']);
  }
});

t.test('verification failures are 502, and the log line names the TLS reason', T, async (t) => {
  const cases: Array<[string, RegExp]> = [
    ['/system-cas/', /certificate|verify|issuer/i],
    ['/wrong-ca/', /certificate|verify|issuer/i],
    ['/wrong-name/', /elsewhere\.internal|altnames|does not match/i],
  ];
  for (const [path, reason] of cases) {
    const res = await request({ port, path: `${path}x` });
    t.equal(res.status, 502, `${path}: 502`);
    await cli.waitForLine((l) => l.msg === 'upstream error' && String(l['path']).startsWith(path), 5000, `the log line for ${path}`);
    const [err] = upstreamErrors(path);
    t.match(err, /TLS/, `${path}: the log line says it is TLS: ${err}`);
    t.match(err, reason, `${path}: and why`);
  }
});

t.test('verify: false accepts a certificate no CA vouches for', T, async (t) => {
  const res = await request({ port, path: '/no-verify/x' });
  t.equal(res.status, 200);
});

t.test('mTLS: the client certificate is presented when configured; without it the origin refuses (502)', T, async (t) => {
  const res = await request({ port, path: '/mtls/x' });
  t.equal(res.status, 200);
  t.ok(mtlsOrigin.clientCertificates.includes('portcullis.client'), 'the origin saw the client certificate');
  const refused = await request({ port, path: '/mtls-without-cert/x' });
  t.equal(refused.status, 502);
  await cli.waitForLine((l) => l.msg === 'upstream error' && String(l['path']).startsWith('/mtls-without-cert/'), 5000, 'the log line');
  t.match(upstreamErrors('/mtls-without-cert/')[0], /TLS|certificate/i, `logged: ${upstreamErrors('/mtls-without-cert/')[0]}`);
});

t.test('keep-alive over TLS: 70 requests reuse one TLS session to the origin, as over plain TCP', T, async (t) => {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  t.teardown(() => agent.destroy());
  for (let i = 0; i < 50; i++) {
    const res = await request({ port, path: `/pooled/seq/${i}`, agent });
    if (res.status !== 200) t.fail(`request ${i}: ${res.status}`);
  }
  for (let i = 0; i < 20; i++) {
    const res = await request({ port, path: `/pooled/fresh/${i}`, agent: false });
    if (res.status !== 200) t.fail(`fresh request ${i}: ${res.status}`);
  }
  t.equal(poolOrigin.requests.length, 70, 'the origin saw all 70 requests');
  t.ok(poolOrigin.handshakes >= 1 && poolOrigin.handshakes <= 2, `TLS handshakes with the origin: ${poolOrigin.handshakes} (expected 1-2)`);
  t.ok(poolOrigin.connections >= 1 && poolOrigin.connections <= 2, `TCP connections to the origin: ${poolOrigin.connections} (expected 1-2)`);
  t.equal(new Set(poolOrigin.requests.map((r) => r.connId)).size, poolOrigin.handshakes, 'requests spread over those sessions only');
});

t.test('three 8 MiB bodies from an https upstream to slow readers at once arrive byte-exact', T, async (t) => {
  // Slow readers: the proxy backs up and pauses the TLS socket to the origin.
  const reads = [0, 1, 2].map((i) => slowGet(port, `/big/${i}`, { burst: 512 * 1024, pause: 15 }));
  const got = await withTimeout(Promise.all(reads), 45_000, 'three slow downloads over TLS');
  got.forEach((g, i) => {
    t.equal(g.length, BIG, `download ${i}: every byte`);
    t.equal(g.sha, sha(bigBodies[i]!), `download ${i}: byte-exact`);
  });
});
