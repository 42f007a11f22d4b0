/**
 * HTTP/2 to clients on a TLS listener with `http2: true`: ALPN picks h2 or http/1.1 on one port,
 * each h2 stream is proxied to the HTTP/1.1 origin like any request, with RFC 9113's header
 * conversion, flow control both ways, per-stream resets and the server's lifecycle (workers
 * sharing the port, graceful stop with GOAWAY, certificate reload). Real processes: the CLI,
 * node:http origins, Node's http2 client and curl.
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { copyFileSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import http2 from 'node:http2';
import net from 'node:net';
import tls from 'node:tls';
import t from 'tap';
import { certDir, issue, makeCa } from './lib/certs.js';
import { accessPids, runCli, waitFor } from './lib/cli.js';
import { headerValues } from './lib/http1.js';
import { echoHandler, startOrigin, type Echo } from './lib/origins.js';
import { startCliWithConfig } from './lib/tls.js';
import { deferred, freePort, sha256, withTimeout } from './lib/util.js';

const T = { timeout: 60_000 };

const dir = certDir(t);
const ca = makeCa(dir);
const leaf = issue(ca, 'localhost', { dns: ['localhost'] });

/** What the origin's /big wrote so far, and how it was told to stop. */
let bigWritten = 0;
const BIG = 32 * 1024 * 1024;
const holdClosed = deferred();
const holdArrived = deferred();
/** /sink: the origin takes the request head, then reads nothing of the body until released. */
const sinkArrived = deferred();
const sinkRelease = deferred();

const origin = await startOrigin(t, (req, res, seen) => {
  const path = (req.url ?? '').split('?')[0];
  if (path === '/hdrs') {
    // Connection-specific fields an HTTP/1.1 origin may send: never on h2.
    res.writeHead(200, [
      ['Content-Type', 'application/json'],
      ['Connection', 'x-hop'],
      ['X-Hop', 'dropped'],
      ['Keep-Alive', 'timeout=5'],
      ['Set-Cookie', 'a=1'],
      ['Set-Cookie', 'b=2'],
      ['X-Kept', 'yes'],
    ].flat());
    res.end(JSON.stringify(seen.headers));
    return;
  }
  if (path === '/big') {
    bigWritten = 0;
    const chunk = Buffer.alloc(64 * 1024, 'x');
    res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': BIG });
    const pump = (): void => {
      while (bigWritten < BIG) {
        bigWritten += chunk.length;
        if (!res.write(chunk)) return void res.once('drain', pump);
      }
      res.end();
    };
    pump();
    return;
  }
  if (path === '/sink') {
    req.pause();
    sinkArrived.resolve();
    void sinkRelease.promise.then(() => {
      echoHandler(req, res, seen);
      req.resume();
    });
    return;
  }
  if (path === '/hold') {
    req.socket.once('close', () => holdClosed.resolve());
    holdArrived.resolve();
    return; // never answered: only the client's reset ends it
  }
  if (path === '/die' || path === '/die-chunked') {
    // Of unknown length (chunked) the cut matters most: only a reset tells the client.
    res.writeHead(200, path === '/die' ? { 'content-length': 100_000 } : {});
    res.write(Buffer.alloc(10_000, 'y'));
    setImmediate(() => req.socket.destroy());
    return;
  }
  if (path.startsWith('/slow')) {
    setTimeout(() => {
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.end('slow done');
    }, 400);
    return;
  }
  // Anything else: the echo (method, url, headers, body hash).
  echoHandler(req, res, seen);
});

const port = await freePort();
const adminPort = await freePort();
const yaml = (workers: number, p = port, admin = adminPort, cert = leaf.chain.path, key = leaf.key.path): string => `
workers: ${workers}
admin: { listen: 127.0.0.1:${admin} }
listen:
  - address: 127.0.0.1:${p}
    tls: { cert: ${cert}, key: ${key}, min_version: TLSv1.3 }
    http2: true
upstreams:
  app: { servers: [127.0.0.1:${origin.port}] }
routes:
  - { path: /, upstream: app }
`;
const cli = await startCliWithConfig(t, yaml(1), port);

function connect(p = port): http2.ClientHttp2Session {
  const s = http2.connect(`https://127.0.0.1:${p}`, { ca: ca.cert.pem, servername: 'localhost' });
  s.on('error', () => {});
  return s;
}

interface H2Response {
  status: number;
  headers: http2.IncomingHttpHeaders;
  body: Buffer;
}

function request(s: http2.ClientHttp2Session, headers: http2.OutgoingHttpHeaders, body?: Buffer): Promise<H2Response> {
  return new Promise((resolve, reject) => {
    const req = s.request(headers, { endStream: body === undefined });
    const chunks: Buffer[] = [];
    let head: http2.IncomingHttpHeaders = {};
    req.on('response', (h) => (head = h));
    req.on('data', (d: Buffer) => chunks.push(d));
    req.on('end', () => resolve({ status: Number(head[':status']), headers: head, body: Buffer.concat(chunks) }));
    req.on('error', reject);
    if (body !== undefined) req.end(body);
  });
}

function curl(args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile('curl', ['-sS', '--cacert', ca.cert.path, '--resolve', `localhost:${port}:127.0.0.1`, ...args], { timeout: 10_000 }, (err, stdout) => (err ? reject(err) : resolve(stdout)));
  });
}

t.test('h2 by ALPN and HTTP/1.1 on the same port (curl), both with HSTS and the same route', T, async (t) => {
  const h2 = await curl(['--http2', '-D', '-', '-o', '/dev/null', '-w', 'version=%{http_version}', `https://localhost:${port}/echo`]);
  t.match(h2, /^HTTP\/2 200/m);
  t.match(h2, /^strict-transport-security: max-age=63072000/m);
  t.match(h2, /version=2$/);
  const h1 = await curl(['--http1.1', '-D', '-', '-o', '/dev/null', '-w', 'version=%{http_version}', `https://localhost:${port}/echo`]);
  t.match(h1, /^HTTP\/1\.1 200/m);
  t.match(h1, /^strict-transport-security: max-age=63072000/im);
  t.match(h1, /version=1\.1$/);
  const sock = tls.connect({ host: '127.0.0.1', port, servername: 'localhost', ca: ca.cert.pem, ALPNProtocols: ['h2', 'http/1.1'] });
  await new Promise((r) => sock.once('secureConnect', r));
  t.equal(sock.alpnProtocol, 'h2', 'h2 preferred when offered');
  t.equal(sock.getProtocol(), 'TLSv1.3');
  sock.destroy();
});

t.test('request headers: Host from :authority, cookie crumbs joined, X-Forwarded-Proto https', T, async (t) => {
  const s = connect();
  t.teardown(() => s.close());
  const r = await request(s, { ':path': '/echo?q=1', ':authority': `localhost:${port}`, cookie: ['a=1', 'b=2', 'c=3'], host: 'evil.example', 'x-custom': 'v' });
  t.equal(r.status, 200);
  const echo = JSON.parse(r.body.toString()) as Echo;
  const seen = (n: string): string[] => headerValues(echo.headers, n);
  t.same(seen('host'), [`localhost:${port}`], 'one Host, from :authority; the differing Host field is not trusted');
  t.same(seen('cookie'), ['a=1; b=2; c=3'], 'crumbs joined with "; " into one field');
  t.same(seen('x-forwarded-proto'), ['https']);
  t.same(seen('x-forwarded-for'), ['127.0.0.1']);
  t.same(seen('x-custom'), ['v']);
  t.equal(echo.url, '/echo?q=1');
  t.notOk(echo.headers.some(([n]) => n.startsWith(':')), 'no pseudo-header upstream');
});

t.test('response headers: connection-specific fields dropped, repeated ones kept, HSTS added', T, async (t) => {
  const s = connect();
  t.teardown(() => s.close());
  const r = await request(s, { ':path': '/hdrs' });
  t.equal(r.status, 200);
  t.same(r.headers['set-cookie'], ['a=1', 'b=2']);
  t.equal(r.headers['x-kept'], 'yes');
  t.notOk('x-hop' in r.headers, 'a field named by Connection is dropped');
  t.notOk('connection' in r.headers);
  t.notOk('keep-alive' in r.headers);
  t.equal(r.headers['strict-transport-security'], 'max-age=63072000');
});

t.test('many concurrent streams on one connection share the upstream pool', T, async (t) => {
  const s = connect();
  t.teardown(() => s.close());
  await request(s, { ':path': '/warm' });
  const before = origin.connections;
  const all = await Promise.all(Array.from({ length: 300 }, (_, i) => request(s, { ':path': `/c/${i}` })));
  t.ok(all.every((r) => r.status === 200), 'all 300 answered 200');
  t.ok(all.every((r, i) => (JSON.parse(r.body.toString()) as Echo).url === `/c/${i}`), 'each stream got its own answer');
  const opened = origin.connections - before;
  t.ok(opened < 300, `upstream sockets reused (${opened} opened for 300 streams)`);
  const mid = origin.connections;
  for (let i = 0; i < 20; i++) t.equal((await request(s, { ':path': '/seq' })).status, 200);
  t.equal(origin.connections, mid, 'sequential streams ride kept-alive upstream sockets');
});

t.test('a request body streams upstream whole (8 MiB, several writes)', T, async (t) => {
  const s = connect();
  t.teardown(() => s.close());
  const body = Buffer.alloc(8 * 1024 * 1024);
  for (let i = 0; i < body.length; i += 4) body.writeUInt32LE(i, i);
  const req = s.request({ ':method': 'POST', ':path': '/upload' });
  const chunks: Buffer[] = [];
  let status = 0;
  req.on('response', (h) => (status = Number(h[':status'])));
  req.on('data', (d: Buffer) => chunks.push(d));
  const ended = new Promise((r) => req.on('end', r));
  for (let off = 0; off < body.length; off += 1024 * 1024) {
    if (!req.write(body.subarray(off, off + 1024 * 1024))) await new Promise((r) => req.once('drain', r));
  }
  req.end();
  await withTimeout(ended, 20_000, 'the upload answer');
  t.equal(status, 200);
  const echo = JSON.parse(Buffer.concat(chunks).toString()) as Echo;
  t.equal(echo.bodyLength, body.length);
  t.equal(echo.bodySha256, sha256(body));
  t.same(headerValues(echo.headers, 'transfer-encoding'), ['chunked'], 'no content-length from the client: chunked upstream');
});

t.test('a request body the upstream does not read holds the h2 client back (flow control), then arrives whole', T, async (t) => {
  const s = connect();
  t.teardown(() => s.close());
  const total = 32 * 1024 * 1024;
  const body = Buffer.alloc(total);
  for (let i = 0; i < total; i += 4) body.writeUInt32LE(i, i);
  const req = s.request({ ':method': 'POST', ':path': '/sink' }, { endStream: false });
  let status = 0;
  const chunks: Buffer[] = [];
  req.on('response', (h) => (status = Number(h[':status'])));
  req.on('data', (d: Buffer) => chunks.push(d));
  const ended = new Promise((r) => req.on('end', r));
  // Everything queued at once in the client; what went out is what its TLS socket wrote (node:http2
  // calls a stream's write callbacks late, in batches, so they do not say).
  const socket = s.socket as unknown as { bytesWritten: number };
  const before = socket.bytesWritten;
  const piece = 16 * 1024;
  for (let off = 0; off < total; off += piece) req.write(body.subarray(off, off + piece));
  req.end();
  await withTimeout(sinkArrived.promise, 10_000, 'the request at the origin');
  const sent = (): number => socket.bytesWritten - before;
  let last = -1;
  await withTimeout(
    (async () => {
      while (sent() !== last) {
        last = sent();
        await new Promise((r) => setTimeout(r, 300));
      }
    })(),
    15_000,
    () => `the client to stop sending (at ${sent()})`,
  );
  t.ok(sent() < total / 2, `the client could hand over ${(sent() / 1048576).toFixed(1)} MiB of ${total / 1048576} MiB while the origin read nothing`);
  sinkRelease.resolve();
  await withTimeout(ended, 30_000, () => `the answer (${sent()} bytes sent)`);
  t.equal(status, 200);
  const echo = JSON.parse(Buffer.concat(chunks).toString()) as Echo;
  t.equal(echo.bodyLength, total, 'every byte arrived');
  t.equal(echo.bodySha256, sha256(body), 'in order');
});

t.test('a slow h2 reader holds the upstream back (bounded buffering), then gets every byte', T, async (t) => {
  const s = connect();
  t.teardown(() => s.close());
  const req = s.request({ ':path': '/big' });
  const hash = createHash('sha256');
  let received = 0;
  const first = deferred();
  req.once('data', (d: Buffer) => {
    hash.update(d);
    received += d.length;
    req.pause();
    first.resolve();
  });
  await withTimeout(first.promise, 10_000, 'the first bytes');
  // The upstream writes until every buffer on the way is full, then waits: read until it stops.
  let last = -1;
  await withTimeout(
    (async () => {
      while (bigWritten !== last) {
        last = bigWritten;
        await new Promise((r) => setTimeout(r, 300));
      }
    })(),
    15_000,
    () => `the origin to stop writing (at ${bigWritten})`,
  );
  t.ok(bigWritten < BIG / 2, `the origin was held at ${(bigWritten / 1048576).toFixed(1)} MiB of ${BIG / 1048576} MiB while the client read nothing`);
  const done = new Promise((r) => req.on('end', r));
  req.on('data', (d: Buffer) => {
    hash.update(d);
    received += d.length;
  });
  req.resume();
  await withTimeout(done, 30_000, () => `the rest of the body (${received} bytes so far)`);
  t.equal(received, BIG);
  t.equal(hash.digest('hex'), sha256(Buffer.alloc(BIG, 'x')));
});

t.test('a stream the client resets cancels its upstream request; the connection carries on', T, async (t) => {
  const s = connect();
  t.teardown(() => s.close());
  const req = s.request({ ':path': '/hold' });
  req.on('error', () => {});
  await withTimeout(holdArrived.promise, 10_000, 'the request at the origin');
  req.close(http2.constants.NGHTTP2_CANCEL);
  await withTimeout(holdClosed.promise, 10_000, 'the origin socket to close');
  t.pass('the upstream socket of the reset stream was closed, not reused');
  t.equal((await request(s, { ':path': '/after' })).status, 200, 'the same connection serves the next stream');
});

t.test('an upstream dying mid-body resets only its own stream', T, async (t) => {
  const s = connect();
  t.teardown(() => s.close());
  const slow = request(s, { ':path': '/slow' });
  for (const path of ['/die', '/die-chunked']) {
    const died = await new Promise<{ code: number | undefined; received: number; ended: boolean }>((resolve) => {
      const req = s.request({ ':path': path });
      let received = 0;
      let ended = false;
      req.on('data', (d: Buffer) => (received += d.length));
      req.on('end', () => (ended = true));
      req.on('error', () => {});
      req.on('close', () => resolve({ code: req.rstCode, received, ended }));
    });
    t.equal(died.code, http2.constants.NGHTTP2_INTERNAL_ERROR, `${path}: RST_STREAM(INTERNAL_ERROR)`);
    t.notOk(died.ended, `${path}: never a clean end (no END_STREAM) of a body cut short`);
    t.equal(died.received, 10_000, `${path}: the bytes sent before the failure arrived`);
  }
  const other = await slow;
  t.equal(other.status, 200, 'the stream beside it on the same connection completed');
  t.equal(other.body.toString(), 'slow done');
  t.equal(s.destroyed, false, 'the connection is still open');
});

t.test('h2 requests are access-logged and counted in /metrics', T, async (t) => {
  const s = connect();
  t.teardown(() => s.close());
  t.equal((await request(s, { ':path': '/logged-h2', ':method': 'PUT' }, Buffer.from('x'))).status, 200);
  const line = await cli.waitForLine((l) => l.msg === 'access' && l['path'] === '/logged-h2', 5_000, 'the access line');
  t.equal(line['method'], 'PUT');
  t.equal(line['status'], 200);
  const metrics = await new Promise<string>((resolve, reject) => {
    http.get({ host: '127.0.0.1', port: adminPort, path: '/metrics' }, (res) => {
      let b = '';
      res.on('data', (d) => (b += d));
      res.on('end', () => resolve(b));
    }).on('error', reject);
  });
  t.match(metrics, /portcullis_http_requests_total\{[^}]*method="PUT"[^}]*code="200"[^}]*\} [1-9]/);
  t.match(metrics, /^portcullis_http2_connections [1-9]/m, 'HTTP/2 connections open now, this one among them');
  t.match(metrics, /^portcullis_http2_connections_total [1-9]/m);
  t.match(metrics, /^portcullis_http2_abusive_connections_total\{reason="premature_resets"\} 0$/m, 'none cut for abuse');
});

t.test('two workers share the port: connections land in both', T, async (t) => {
  const p = await freePort();
  const two = await startCliWithConfig(t, yaml(2, p, await freePort()), p);
  const pids = new Set<number>();
  for (let i = 0; i < 40 && pids.size < 2; i++) {
    const s = connect(p);
    t.equal((await request(s, { ':path': `/w/${i}` })).status, 200);
    s.close();
    await two.waitForLine((l) => l.msg === 'access' && l['path'] === `/w/${i}`, 5_000, 'the access line');
    for (const pid of accessPids(two)) pids.add(pid);
  }
  t.equal(pids.size, 2, `requests served by ${pids.size} worker processes`);
});

t.test('graceful stop: GOAWAY to h2 clients, the stream in flight completes', T, async (t) => {
  const p = await freePort();
  const srv = await startCliWithConfig(t, yaml(1, p, await freePort()), p);
  const s = connect(p);
  const goaway = new Promise<number>((r) => s.once('goaway', (code) => r(code)));
  const inflight = request(s, { ':path': '/slow/stop' });
  // At the origin, so in flight through the proxy when the stop begins.
  await waitFor(() => origin.requests.some((r) => r.url === '/slow/stop'), 5_000, 'the slow request at the origin');
  process.kill(srv.pid, 'SIGTERM');
  t.equal(await withTimeout(goaway, 5_000, 'GOAWAY'), http2.constants.NGHTTP2_NO_ERROR, 'GOAWAY(NO_ERROR)');
  const r = await withTimeout(inflight, 5_000, 'the stream in flight');
  t.equal(r.status, 200);
  t.equal(r.body.toString(), 'slow done');
  s.close();
});

t.test('certificate reload: new handshakes get the new certificate, open connections carry on', T, async (t) => {
  const p = await freePort();
  const certPath = `${dir}/reload-chain.pem`;
  const keyPath = `${dir}/reload-key.pem`;
  copyFileSync(leaf.chain.path, certPath);
  copyFileSync(leaf.key.path, keyPath);
  const srv = await startCliWithConfig(t, yaml(1, p, await freePort(), certPath, keyPath), p);
  const fingerprint = async (): Promise<string> => {
    const sock = tls.connect({ host: '127.0.0.1', port: p, servername: 'localhost', ca: ca.cert.pem, ALPNProtocols: ['h2'] });
    await new Promise((r) => sock.once('secureConnect', r));
    const f = sock.getPeerCertificate().fingerprint256;
    sock.destroy();
    return f;
  };
  const before = await fingerprint();
  const s = connect(p);
  t.teardown(() => s.close());
  t.equal((await request(s, { ':path': '/r1' })).status, 200);
  const next = issue(ca, 'localhost-2', { dns: ['localhost'] });
  copyFileSync(next.chain.path, certPath);
  copyFileSync(next.key.path, keyPath);
  process.kill(srv.pid, 'SIGHUP');
  await srv.waitForLine((l) => l.msg === 'new TLS handshakes use the reloaded certificates', 10_000, 'the reload');
  const after = await fingerprint();
  t.not(after, before, 'a new handshake gets the new certificate');
  t.equal((await request(s, { ':path': '/r2' })).status, 200, 'the connection opened before the reload still serves');
});

t.test('SNI: each name gets its certificate (exact, then one-label wildcard), others the default', T, async (t) => {
  const p = await freePort();
  const sso = issue(ca, 'sni-sso', { dns: ['sso.domain.tld'] });
  const wild = issue(ca, 'sni-wild', { dns: ['*.domain.tld'] });
  await startCliWithConfig(
    t,
    `workers: 1
listen:
  - address: 127.0.0.1:${p}
    tls:
      certificates:
        - { cert: ${leaf.chain.path}, key: ${leaf.key.path} }
        - { cert: ${sso.chain.path}, key: ${sso.key.path} }
        - { cert: ${wild.chain.path}, key: ${wild.key.path} }
    http2: true
upstreams:
  app: { servers: [127.0.0.1:${origin.port}] }
routes:
  - { path: /, upstream: app }
`,
    p,
  );
  const served = async (servername: string | undefined): Promise<string> => {
    const sock = tls.connect({ host: '127.0.0.1', port: p, ca: ca.cert.pem, ALPNProtocols: ['h2'], rejectUnauthorized: false, ...(servername ? { servername } : {}) });
    await new Promise((r) => sock.once('secureConnect', r));
    const cn = String(sock.getPeerCertificate().subject.CN);
    t.equal(sock.alpnProtocol, 'h2');
    sock.destroy();
    return cn;
  };
  t.equal(await served('sso.domain.tld'), 'sso.domain.tld', 'the exact name');
  t.equal(await served('app.domain.tld'), '*.domain.tld', 'the wildcard, one label');
  t.equal(await served('a.b.domain.tld'), 'localhost', 'two labels: not the wildcard, the default');
  t.equal(await served('other.example'), 'localhost', 'an unknown name: the default');
  t.equal(await served(undefined), 'localhost', 'no SNI: the default');
  const s = http2.connect(`https://127.0.0.1:${p}`, { ca: ca.cert.pem, servername: 'sso.domain.tld' });
  s.on('error', () => {});
  t.teardown(() => s.close());
  const r = await request(s, { ':path': '/sni', ':authority': 'sso.domain.tld' });
  t.equal(r.status, 200, 'served over h2 with the SNI certificate, verified');
});

t.test('reload: a new http2 listener starts serving; switching a listener between uWS and http2 is refused with the reason', T, async (t) => {
  const p = await freePort();
  const added = await freePort();
  const admin = await freePort();
  const tlsLine = `tls: { cert: ${leaf.chain.path}, key: ${leaf.key.path} }`;
  const text = (listeners: string): string => `workers: 2
admin: { listen: 127.0.0.1:${admin} }
listen:
${listeners}
upstreams:
  app: { servers: [127.0.0.1:${origin.port}] }
routes:
  - { path: /, upstream: app }
`;
  const srv = await startCliWithConfig(t, text(`  - { address: 127.0.0.1:${p}, ${tlsLine} }`), p);
  const reload = async (): Promise<{ status: number; body: { ok: boolean; error?: string } }> =>
    new Promise((resolve, reject) => {
      const req = http.request({ host: '127.0.0.1', port: admin, method: 'POST', path: '/reload' }, (res) => {
        let b = '';
        res.on('data', (d) => (b += d));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(b) as { ok: boolean; error?: string } }));
      });
      req.on('error', reject);
      req.end();
    });
  const alpn = async (port: number): Promise<string | false> => {
    const sock = tls.connect({ host: '127.0.0.1', port, servername: 'localhost', ca: ca.cert.pem, ALPNProtocols: ['h2', 'http/1.1'] });
    await new Promise((r) => sock.once('secureConnect', r));
    const proto = sock.alpnProtocol ?? false;
    sock.destroy();
    return proto;
  };
  t.equal(await alpn(p), false, 'uWS: no ALPN');

  writeFileSync(srv.configPath, text(`  - { address: 127.0.0.1:${p}, ${tlsLine}, http2: true }`));
  const refused = await reload();
  t.equal(refused.status, 422);
  t.match(refused.body.error, /127\.0\.0\.1:\d+ would switch to http2, which needs a restart/);
  t.equal(await alpn(p), false, 'the listener carries on as it was');

  writeFileSync(srv.configPath, text(`  - { address: 127.0.0.1:${p}, ${tlsLine} }\n  - { address: 127.0.0.1:${added}, ${tlsLine}, http2: true }`));
  const ok = await reload();
  t.equal(ok.status, 200, JSON.stringify(ok.body));
  t.equal(await alpn(added), 'h2', 'the added listener speaks h2');
  const s = connect(added);
  t.teardown(() => s.close());
  t.equal((await request(s, { ':path': '/added' })).status, 200, 'and proxies, in both workers after the rolling restart');
});

t.test('an http2 listener on a port another program holds: a clear refusal at start, not a worker on a random port', T, async (t) => {
  // libuv defers bind()'s EADDRINUSE to listen(); the supervisor checks the socket's own address.
  const holder = net.createServer();
  await new Promise<void>((r) => holder.listen(0, '127.0.0.1', () => r()));
  t.teardown(() => new Promise<void>((r) => holder.close(() => r())));
  const held = (holder.address() as net.AddressInfo).port;
  const dir = certDir(t);
  const file = `${dir}/held.yaml`;
  writeFileSync(file, yaml(1, held, await freePort()));
  const r = await runCli(t, ['--config', file], 15_000);
  t.equal(r.timedOut, false, 'it exited by itself');
  t.not(r.code, 0);
  t.match(r.stdout + r.stderr, new RegExp(`cannot bind 127\\.0\\.0\\.1:${held}: the address is in use`));
});
