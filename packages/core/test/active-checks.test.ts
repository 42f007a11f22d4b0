// Active health checks against real origins on 127.0.0.1 (node:http and node:https with test
// certificates made by openssl): probes go out once per interval, never two at once per server;
// fall / rise transitions are reported once with their reason; a closed port, a server that never
// answers and an untrusted certificate fail; stop() leaves nothing running. Intervals are short
// (100 ms) and every wait is on an event (a change, an origin's request or socket), never a sleep,
// except where the absence of a probe is what is checked.
import { spawn } from 'node:child_process';
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import { closedPort } from './fixtures/client.js';
import type { AddressInfo } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { fileURLToPath } from 'node:url';
import t, { type Test } from 'tap';
import { ActiveHealthChecks, statusPasses, type HealthChange } from '../src/health/active-checks.js';
import { healthCheckDefaults, upstreamDefaults, type HealthCheckOptions, type UpstreamOptions } from '../src/config/options.js';
import { certDir, issue, makeCa } from '../../../test/lib/certs.js';

const INTERVAL = 100;
// The timeout of the test that a server never answers. The others allow a second: a first probe
// (a first TLS handshake above all) on a loaded CI machine can take longer than 80 ms, and there a
// timeout would be a spurious failure.
const TIMEOUT = 80;
const SLOW_OK = 1_000;

function upstream(name: string, ports: number[], check: Partial<HealthCheckOptions> = {}, extra: Partial<UpstreamOptions> = {}): UpstreamOptions {
  return {
    ...upstreamDefaults,
    name,
    protocol: 'http',
    servers: ports.map((port) => ({ host: '127.0.0.1', port })),
    healthCheck: { ...healthCheckDefaults, interval: INTERVAL, timeout: SLOW_OK, fall: 2, rise: 2, ...check },
    ...extra,
  };
}

interface Seen {
  at: number;
  url: string;
  headers: http.IncomingHttpHeaders;
  servername: string | false | null | undefined;
  peerCn: string | undefined;
}

/** An origin that records each request, answers `status` (or never, with `hang`), and counts overlap. */
class Origin {
  port = 0;
  status = 200;
  hang = false;
  readonly requests: Seen[] = [];
  readonly sockets: net.Socket[] = [];
  inFlight = 0;
  maxInFlight = 0;
  private waiters: Array<{ n: number; resolve: () => void }> = [];

  constructor(readonly server: http.Server | https.Server) {
    server.on('connection', (s: net.Socket) => this.sockets.push(s));
    server.on('secureConnection', (s: TLSSocket) => this.sockets.push(s));
    server.on('request', (req: http.IncomingMessage, res: http.ServerResponse) => {
      const socket = req.socket as TLSSocket;
      this.requests.push({
        at: performance.now(),
        url: req.url ?? '',
        headers: req.headers,
        servername: socket.servername,
        peerCn: typeof socket.getPeerCertificate === 'function' ? (socket.getPeerCertificate().subject?.CN as string | undefined) : undefined,
      });
      this.inFlight++;
      this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);
      res.on('close', () => this.inFlight--);
      if (!this.hang) res.writeHead(this.status, { 'content-type': 'text/plain' }).end('x'.repeat(100));
      for (const w of this.waiters.filter((w) => this.requests.length >= w.n)) w.resolve();
      this.waiters = this.waiters.filter((w) => this.requests.length < w.n);
    });
  }

  /** Resolves once `n` requests in all have arrived. */
  received(n: number): Promise<void> {
    if (this.requests.length >= n) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push({ n, resolve }));
  }
}

async function listen(t: Test, server: net.Server): Promise<number> {
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.teardown(() => new Promise<void>((r) => server.close(() => r())));
  return (server.address() as AddressInfo).port;
}

async function origin(t: Test, server: http.Server | https.Server = http.createServer()): Promise<Origin> {
  const o = new Origin(server);
  t.teardown(() => {
    for (const s of o.sockets) s.destroy();
  });
  o.port = await listen(t, server);
  return o;
}


/** Checks started on `upstreams`; their changes, each awaitable in order. */
function run(t: Test, upstreams: UpstreamOptions[], listener?: (c: HealthChange) => void) {
  const changes: HealthChange[] = [];
  let waiters: Array<(c: HealthChange) => void> = [];
  let read = 0;
  const checks = new ActiveHealthChecks(upstreams, (c) => {
    changes.push(c);
    const w = waiters;
    waiters = [];
    for (const f of w) f(c);
    listener?.(c);
  });
  checks.start();
  // The checks keep no process alive (their timers and sockets are unref'd): with no origin
  // listening, the test itself must, while it waits for a change.
  const keepAlive = setInterval(() => {}, 60_000);
  t.teardown(() => {
    checks.stop();
    clearInterval(keepAlive);
  });
  /** The next change not yet returned. */
  const next = (): Promise<HealthChange> => {
    if (read < changes.length) return Promise.resolve(changes[read++]!);
    return new Promise((resolve) => waiters.push((c) => (read++, resolve(c))));
  };
  return { checks, changes, next };
}

t.test('statusPasses: inclusive ranges', async (t) => {
  t.ok(statusPasses(200, [[200, 399]]));
  t.ok(statusPasses(399, [[200, 399]]));
  t.notOk(statusPasses(400, [[200, 399]]));
  t.ok(statusPasses(302, [[204, 204], [301, 302]]));
  t.notOk(statusPasses(200, [[204, 204], [301, 302]]));
});

t.test('a server answering 200 stays healthy; probe headers by default', async (t) => {
  const o = await origin(t);
  const { checks, changes } = run(t, [upstream('app', [o.port])]);
  const t0 = performance.now();
  await o.received(4);
  const elapsed = performance.now() - t0;
  t.same(changes, [], 'no change');
  // Four probes: the first at start, then one per interval.
  t.ok(elapsed >= 3 * INTERVAL - 15, `4 probes took ${elapsed.toFixed(0)} ms (>= 3 intervals)`);
  const r = o.requests[0]!;
  t.equal(r.url, '/');
  t.equal(r.headers.host, `127.0.0.1:${o.port}`);
  t.equal(r.headers['user-agent'], 'portcullis-health-check');
  t.equal(r.headers.connection, 'close');
  t.equal(o.maxInFlight, 1, 'never two probes at once');
  // Each probe on its own connection.
  t.ok(o.sockets.length >= 4, `${o.sockets.length} connections for 4 probes`);
  const [snap] = checks.snapshot();
  t.equal(snap!.upstream, 'app');
  const s = snap!.servers[0]!;
  t.match(s, { server: 0, label: `127.0.0.1:${o.port}`, healthy: true, consecutiveFails: 0, lastStatus: 200, lastError: null, failures: 0 });
  t.ok(s.probes >= 3 && s.consecutivePasses === s.probes, `${s.probes} probes, all passed`);
  t.type(s.lastLatencyMs, 'number');
  t.ok(s.lastProbeAt! <= Date.now() && s.lastProbeAt! > Date.now() - 5_000);
  t.equal(checks.isHealthy('app', 0), true);
});

t.test('path and Host as configured', async (t) => {
  const o = await origin(t);
  run(t, [upstream('app', [o.port], { path: '/healthz?deep=1', host: 'app.example:8443' })]);
  await o.received(1);
  t.equal(o.requests[0]!.url, '/healthz?deep=1');
  t.equal(o.requests[0]!.headers.host, 'app.example:8443');
});

t.test('500 takes a server out after fall probes, 200 brings it back after rise; one probe per interval', async (t) => {
  const o = await origin(t);
  o.status = 500;
  const { checks, next } = run(t, [upstream('app', [o.port], { fall: 3, rise: 2 })]);
  const down = await next();
  t.same(down, { upstream: 'app', server: 0, label: `127.0.0.1:${o.port}`, healthy: false, reason: '3 failed checks: status 500' });
  t.equal(o.requests.length, 3, 'out after exactly 3 probes');
  t.equal(checks.isHealthy('app', 0), false);
  o.status = 200;
  const up = await next();
  t.same(up, { upstream: 'app', server: 0, label: `127.0.0.1:${o.port}`, healthy: true, reason: '2 passed checks' });
  t.equal(o.requests.length, 5, 'back after exactly 2 more probes');
  t.equal(o.maxInFlight, 1, 'never two probes at once');
  const gaps = o.requests.slice(1).map((r, i) => r.at - o.requests[i]!.at);
  t.ok(gaps.every((g) => g >= INTERVAL - 40), `one probe per interval: gaps ${gaps.map((g) => g.toFixed(0)).join(', ')} ms`);
  const s = checks.snapshot()[0]!.servers[0]!;
  t.match(s, { healthy: true, consecutivePasses: 2, consecutiveFails: 0, probes: 5, failures: 3, lastStatus: 200 });
});

t.test('a closed port goes unhealthy with the connect error', async (t) => {
  const port = await closedPort();
  const { checks, next } = run(t, [upstream('app', [port])]);
  const c = await next();
  t.equal(c.healthy, false);
  t.equal(c.reason, '2 failed checks: connect ECONNREFUSED');
  t.match(checks.snapshot()[0]!.servers[0]!, { lastStatus: null, lastError: 'connect ECONNREFUSED', probes: 2, failures: 2 });
});

t.test('a server that never answers fails by the timeout and the probe socket is closed', async (t) => {
  const o = await origin(t);
  o.hang = true;
  const { checks, next } = run(t, [upstream('app', [o.port], { fall: 1, timeout: TIMEOUT })]);
  await o.received(1);
  const socket = o.sockets[0]!;
  const closed = new Promise<void>((r) => (socket.destroyed ? r() : socket.once('close', () => r())));
  const c = await next();
  t.same(c, { upstream: 'app', server: 0, label: `127.0.0.1:${o.port}`, healthy: false, reason: '1 failed check: timeout after 80 ms' });
  await closed;
  t.pass('the origin saw the probe connection close');
  const s = checks.snapshot()[0]!.servers[0]!;
  t.ok(s.lastLatencyMs! >= TIMEOUT - 1, `latency ${s.lastLatencyMs} ms`);
});

t.test('expect_status ranges decide', async (t) => {
  const o = await origin(t);
  o.status = 302;
  const { changes, next } = run(t, [upstream('app', [o.port], { expectStatus: [[204, 204], [301, 302]], fall: 1, rise: 1 })]);
  await o.received(2);
  t.same(changes, [], '302 passes');
  o.status = 200;
  t.match(await next(), { healthy: false, reason: '1 failed check: status 200' });
  o.status = 204;
  t.match(await next(), { healthy: true, reason: '1 passed check' });
});

t.test('the first probes of several servers are spread over the first interval', async (t) => {
  const a = await origin(t);
  const b = await origin(t);
  const c = await origin(t);
  const d = await origin(t);
  // A longer interval here, so that 4 first probes are 250 ms apart, far more than the jitter of
  // a first connection.
  const interval = 1_000;
  run(t, [upstream('one', [a.port, b.port], { interval }), upstream('two', [c.port, d.port], { interval })]);
  await Promise.all([a, b, c, d].map((o) => o.received(1)));
  const firsts = [a, b, c, d].map((o) => o.requests[0]!.at);
  const gaps = firsts.slice(1).map((x, i) => x - firsts[i]!);
  t.ok(gaps.every((g) => g >= interval / 4 - 100 && g <= interval / 4 + 100), `first probes ${gaps.map((g) => g.toFixed(0)).join(', ')} ms apart (about 250)`);
  t.ok(firsts[3]! - firsts[0]! < interval, 'all within the first interval');
});

t.test('a large body is read up to a bound and judged by status', async (t) => {
  const server = http.createServer();
  const o = await origin(t, server);
  o.hang = true;
  // Answers 200 with a body that never ends after 1 MiB: the probe stops reading and passes.
  server.on('request', (_req, res: http.ServerResponse) => {
    res.writeHead(200, { 'content-type': 'application/octet-stream' });
    res.write(Buffer.alloc(1024 * 1024));
  });
  const { checks, changes } = run(t, [upstream('app', [o.port], { fall: 1 })]);
  await o.received(3);
  t.same(changes, []);
  const s = checks.snapshot()[0]!.servers[0]!;
  t.match(s, { healthy: true, failures: 0, lastStatus: 200 });
  t.ok(s.lastLatencyMs! < SLOW_OK, `passed in ${s.lastLatencyMs} ms, before the timeout`);
});

t.test('https', async (t) => {
  const dir = certDir(t);
  const ca = makeCa(dir);
  const byIp = issue(ca, 'by-ip', { ip: ['127.0.0.1'] });
  const byName = issue(ca, 'by-name', { dns: ['origin.test'] });
  const client = issue(ca, 'client', { dns: ['portcullis.test'], client: true });
  const other = makeCa(dir, 'Untrusted CA');
  const untrusted = issue(other, 'untrusted', { ip: ['127.0.0.1'] });

  t.test('verified with the ca given; no SNI to an IP address', async (t) => {
    const o = await origin(t, https.createServer({ cert: byIp.chain.pem, key: byIp.key.pem }));
    const { checks, changes } = run(t, [upstream('app', [o.port], { fall: 1 }, { protocol: 'https', tls: { verify: true, ca: ca.cert.pem } })]);
    await o.received(2);
    t.same(changes, []);
    t.equal(o.requests[0]!.servername, false, 'no SNI');
    t.equal(o.requests[0]!.headers.host, `127.0.0.1:${o.port}`);
    t.match(checks.snapshot()[0]!.servers[0]!, { failures: 0, lastStatus: 200 });
  });

  t.test('servername sent in SNI and checked against the certificate; client certificate', async (t) => {
    const server = https.createServer({ cert: byName.chain.pem, key: byName.key.pem, ca: ca.cert.pem, requestCert: true, rejectUnauthorized: true });
    const o = await origin(t, server);
    const tls = { verify: true, ca: ca.cert.pem, servername: 'origin.test', cert: client.cert.pem, key: client.key.pem };
    const { checks, changes } = run(t, [upstream('app', [o.port], { fall: 1 }, { protocol: 'https', tls })]);
    await o.received(2);
    t.same(changes, []);
    t.equal(o.requests[0]!.servername, 'origin.test');
    t.equal(o.requests[0]!.peerCn, 'portcullis.test', 'the client certificate was presented');
    t.match(checks.snapshot()[0]!.servers[0]!, { failures: 0 });
  });

  t.test('an untrusted certificate fails with verify on, passes with verify off', async (t) => {
    const o = await origin(t, https.createServer({ cert: untrusted.chain.pem, key: untrusted.key.pem }));
    const { checks, next } = run(t, [
      upstream('verified', [o.port], { fall: 1 }, { protocol: 'https', tls: { verify: true, ca: ca.cert.pem } }),
      upstream('unverified', [o.port], { fall: 1 }, { protocol: 'https', tls: { verify: false } }),
    ]);
    const c = await next();
    t.equal(c.upstream, 'verified');
    t.equal(c.healthy, false);
    t.match(c.reason, /^1 failed check: upstream TLS certificate refused: .*\((UNABLE_TO_VERIFY_LEAF_SIGNATURE|UNABLE_TO_GET_ISSUER_CERT_LOCALLY|SELF_SIGNED_CERT_IN_CHAIN)\)/);
    // The unverified upstream's probes reach the origin (the verified ones never send a request).
    await o.received(2);
    const [verified, unverified] = checks.snapshot();
    t.match(verified!.servers[0]!, { healthy: false, lastStatus: null });
    t.match(unverified!.servers[0]!, { healthy: true, failures: 0, lastStatus: 200 });
  });
});

t.test('a throwing listener does not stop the checks', async (t) => {
  const o = await origin(t);
  o.status = 503;
  const warned = new Promise<Error>((r) => process.once('warning', r));
  let calls = 0;
  const { next } = run(t, [upstream('app', [o.port], { fall: 1, rise: 1 })], () => {
    if (calls++ === 0) throw new Error('listener bug');
  });
  t.match(await next(), { healthy: false });
  t.match((await warned).message, /listener bug/);
  o.status = 200;
  t.match(await next(), { healthy: true, reason: '1 passed check' });
});

t.test('stop() cancels the probe in flight and the timers', async (t) => {
  const o = await origin(t);
  o.hang = true;
  const { checks } = run(t, [upstream('app', [o.port], { timeout: 5_000 })]);
  await o.received(1);
  const socket = o.sockets[0]!;
  const closed = new Promise<void>((r) => (socket.destroyed ? r() : socket.once('close', () => r())));
  checks.stop();
  await closed;
  t.pass('the probe connection closed at stop()');
  // Nothing more may come: what is checked is an absence, so here a wait is the test.
  await new Promise((r) => setTimeout(r, 3 * INTERVAL));
  t.equal(o.requests.length, 1, 'no probe after stop()');
  const open = await new Promise<number>((r) => o.server.getConnections((_e, n) => r(n)));
  t.equal(open, 0, 'no connection left open');
  t.match(checks.snapshot()[0]!.servers[0]!, { probes: 0, healthy: true }, 'the cancelled probe is not counted');
  // And start() again resumes.
  o.hang = false;
  checks.start();
  await o.received(2);
  t.pass('start() after stop() probes again');
});

t.test('checks keep no process alive', async (t) => {
  const port = await closedPort();
  const srcUrl = new URL('../src/health/active-checks.ts', import.meta.url).href;
  const ups = [upstream('app', [port], { interval: 20, timeout: 15 })];
  // The child starts checks, keeps itself alive 200 ms with a timer of its own, prints the probes
  // made, and must then exit by itself although the checks were never stopped.
  const script = `
    import { ActiveHealthChecks } from ${JSON.stringify(srcUrl)};
    const c = new ActiveHealthChecks(${JSON.stringify(ups)}, () => {});
    c.start();
    setTimeout(() => console.log(JSON.stringify(c.snapshot())), 200);
  `;
  const loader = process.execArgv.filter((a) => a.includes('@tapjs/typescript') || a.includes('tsx'));
  const child = spawn(process.execPath, [...loader, '--input-type=module', '-e', script], {
    cwd: fileURLToPath(new URL('.', import.meta.url)),
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let out = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
  const killer = setTimeout(() => child.kill(), 10_000);
  const t0 = performance.now();
  const code = await new Promise<number | null>((r) => child.on('exit', (c) => r(c)));
  clearTimeout(killer);
  t.equal(code, 0, `the child exited by itself after ${(performance.now() - t0).toFixed(0)} ms`);
  const snap = JSON.parse(out) as Array<{ servers: Array<{ probes: number; healthy: boolean }> }>;
  t.ok(snap[0]!.servers[0]!.probes >= 3, `${snap[0]!.servers[0]!.probes} probes ran in the child`);
  t.equal(snap[0]!.servers[0]!.healthy, false);
});
