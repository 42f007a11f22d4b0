// Passive health, backups, "no usable server" and retries to another server, over real loopback
// sockets: a node:http frontend (nodeHttpHandler), real origins stopped and started by the test,
// a real client. Ejections are awaited through the `health` hook, never slept for.
import http from 'node:http';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import t, { type Test } from 'tap';
import { get, closedPort } from './fixtures/client.js';
import { createProxy } from '../src/exchange/proxy.js';
import type { ExchangeResult, HealthChange } from '../src/exchange/hooks.js';
import type { UpstreamInit } from '../src/config/normalize.js';
import { passiveHealthDefaults, retryDefaults } from '../src/config/options.js';
import { FailureKind } from '../src/upstream/errors.js';
import { nodeHttpHandler } from '../src/node/http.js';
import type { Proxy } from '../src/exchange/contract.js';

async function listen(t: Test, server: net.Server, port = 0): Promise<number> {
  await new Promise<void>((r) => server.listen(port, '127.0.0.1', r));
  t.teardown(() => new Promise<void>((r) => server.close(() => r())));
  return (server.address() as AddressInfo).port;
}

interface Origin {
  port: number;
  hits: number;
  server: http.Server;
}

/** An origin answering its name with `status` (a function of its hit count), after `delay` ms. */
async function origin(t: Test, name: string, opts: { status?: (hit: number) => number; delay?: number; port?: number } = {}): Promise<Origin> {
  const o: Origin = { port: 0, hits: 0, server: http.createServer() };
  o.server.on('request', (req: http.IncomingMessage, res: http.ServerResponse) => {
    o.hits++;
    const status = opts.status?.(o.hits) ?? 200;
    const answer = (): void => {
      res.writeHead(status, { 'x-origin': name });
      res.end(name);
    };
    req.resume();
    if (opts.delay) setTimeout(answer, opts.delay);
    else answer();
  });
  o.server.keepAliveTimeout = 60_000;
  t.teardown(() => o.server.closeAllConnections());
  o.port = await listen(t, o.server, opts.port ?? 0);
  return o;
}

async function stop(o: Origin): Promise<void> {
  o.server.closeAllConnections();
  await new Promise<void>((r) => o.server.close(() => r()));
}


interface Harness {
  port: number;
  proxy: Proxy;
  logged: ExchangeResult[];
  /** Resolves at the next health change of this kind. */
  next(kind: HealthChange['kind']): Promise<{ server: string; change: HealthChange; at: number }>;
}

async function proxyWith(t: Test, upstream: Omit<UpstreamInit, 'name'>): Promise<Harness> {
  const logged: ExchangeResult[] = [];
  const waiting: Array<{ kind: string; resolve: (v: { server: string; change: HealthChange; at: number }) => void }> = [];
  const proxy = createProxy(
    { upstreams: [{ name: 'app', ...upstream }] },
    {
      logging: (r) => void logged.push({ ...r, upstream: r.upstream, client: r.client, server: r.server, upstreamInfo: r.upstreamInfo }),
      health: (_u, server, change) => {
        const i = waiting.findIndex((w) => w.kind === change.kind);
        if (i >= 0) waiting.splice(i, 1)[0]!.resolve({ server: server.label, change, at: Date.now() });
      },
    },
  );
  const server = http.createServer(nodeHttpHandler(proxy));
  t.teardown(() => {
    server.closeAllConnections();
    return proxy.close();
  });
  const port = await listen(t, server);
  return {
    port,
    proxy,
    logged,
    next: (kind) => new Promise((resolve) => waiting.push({ kind, resolve })),
  };
}

const local = (port: number): { host: string; port: number } => ({ host: '127.0.0.1', port });

t.test('passive health: a server refusing connections is ejected after 5 failures, gets no requests, and returns after the ejection time', async (t) => {
  const a = await origin(t, 'a');
  const deadPort = await closedPort();
  const h = await proxyWith(t, {
    servers: [local(a.port), local(deadPort)],
    passiveHealth: { ...passiveHealthDefaults, baseEjectionTime: 400 },
  });
  const ejected = h.next('ejected');
  // Every request still succeeds: a refused connection goes on to the other server.
  for (let i = 0; i < 10; i++) t.equal((await get(h.port, '/')).body, 'a');
  const e = await ejected;
  t.equal(e.server, `127.0.0.1:${deadPort}`);
  t.match(e.change, { kind: 'ejected', failures: 5 });
  const b = h.proxy.upstreams[0]!.servers[1]!;
  t.equal(b.health, 'ejected');
  t.equal(b.stats.ejections, 1);
  t.equal(b.stats.errors[FailureKind.Connect], 5, 'five refused connections, counted by kind');
  const retriesBefore = h.logged.filter((r) => r.retries > 0).length;
  t.equal(retriesBefore, 5, 'the five failures were each retried on the live server');
  for (let i = 0; i < 6; i++) t.equal((await get(h.port, '/')).body, 'a');
  t.equal(h.logged.filter((r) => r.retries > 0).length, 5, 'no request tried the ejected server');

  // The server comes back on the same port; after the ejection time it is used again.
  const returned = h.next('returned');
  const revived = await origin(t, 'b', { port: deadPort });
  await returned;
  t.equal(b.health, 'up');
  const bodies = new Set<string>();
  for (let i = 0; i < 4; i++) bodies.add((await get(h.port, '/')).body);
  t.same([...bodies].sort(), ['a', 'b'], 'round robin over both again');
  t.ok(revived.hits >= 2);
});

t.test('passive health: 5xx responses count (count5xx), and the second ejection lasts twice as long', async (t) => {
  const a = await origin(t, 'a', { status: () => 500 });
  const b = await origin(t, 'b');
  const h = await proxyWith(t, {
    servers: [local(a.port), local(b.port)],
    passiveHealth: { ...passiveHealthDefaults, consecutiveFailures: 3, baseEjectionTime: 300 },
  });
  const ejected = h.next('ejected');
  const statuses: number[] = [];
  for (let i = 0; i < 6; i++) statuses.push((await get(h.port, '/')).status);
  t.same(statuses, [500, 200, 500, 200, 500, 200], 'the 500s reach the client (no retry on http_500)');
  const first = await ejected;
  t.equal(first.server, `127.0.0.1:${a.port}`);
  const e1 = first.change as Extract<HealthChange, { kind: 'ejected' }>;
  t.ok(Math.abs(e1.until - first.at - 300) <= 150, 'the first ejection lasts the base time');
  for (let i = 0; i < 4; i++) t.equal((await get(h.port, '/')).status, 200, 'while it is out, every request goes to the healthy server');
  const returned = await h.next('returned');
  t.ok(returned.at >= e1.until - 5 && returned.at - e1.until <= 250, 'it returns when its time is over (a clock tick late at most)');
  const again = h.next('ejected');
  for (let i = 0; i < 6; i++) await get(h.port, '/');
  const second = await again;
  const e2 = second.change as Extract<HealthChange, { kind: 'ejected' }>;
  t.ok(Math.abs(e2.until - second.at - 600) <= 150, 'the second ejection of that server lasts twice the base time');
  t.equal(h.proxy.upstreams[0]!.servers[0]!.stats.ejections, 2);
});

t.test('passive health: never more than half the servers are ejected at once', async (t) => {
  const failing = await Promise.all(['a', 'b', 'c', 'd'].map((n) => origin(t, n, { status: () => 503 })));
  const h = await proxyWith(t, {
    servers: failing.map((o) => local(o.port)),
    passiveHealth: { ...passiveHealthDefaults, consecutiveFailures: 2, baseEjectionTime: 60_000 },
  });
  for (let i = 0; i < 40; i++) t.equal((await get(h.port, '/')).status, 503);
  const states = h.proxy.upstreams[0]!.servers.map((s) => s.health);
  t.equal(states.filter((s) => s === 'ejected').length, 2, `two of four ejected: ${states.join(', ')}`);
});

t.test('passive health: consecutive counting resets on success; window mode (nginx fail_timeout) does not', async (t) => {
  let n = 0;
  const flaky = await origin(t, 'f', { status: () => (++n % 2 === 0 ? 200 : 502) });
  const other = await origin(t, 'o');
  const consecutive = await proxyWith(t, {
    servers: [local(flaky.port), local(other.port)],
    passiveHealth: { ...passiveHealthDefaults, consecutiveFailures: 3 },
    balance: 'round_robin',
  });
  for (let i = 0; i < 20; i++) await get(consecutive.port, '/');
  t.equal(consecutive.proxy.upstreams[0]!.servers[0]!.health, 'up', 'alternating failures never reach 3 in a row');

  n = 0;
  const windowed = await proxyWith(t, {
    servers: [local(flaky.port), local(other.port)],
    passiveHealth: { ...passiveHealthDefaults, consecutiveFailures: 3, window: 60_000 },
  });
  const ejected = windowed.next('ejected');
  for (let i = 0; i < 12; i++) await get(windowed.port, '/');
  t.equal((await ejected).server, `127.0.0.1:${flaky.port}`, '3 failures within the window eject it');
});

t.test('backup servers take requests only while no primary is usable; no usable server is a 503 that names the upstream', async (t) => {
  const a = await origin(t, 'a');
  const spare = await origin(t, 'spare');
  const h = await proxyWith(t, { servers: [local(a.port), { ...local(spare.port), backup: true }] });
  for (let i = 0; i < 4; i++) t.equal((await get(h.port, '/')).body, 'a', 'the backup idles while the primary is up');
  t.equal(spare.hits, 0);
  h.proxy.setServerHealth('app', 0, false);
  for (let i = 0; i < 3; i++) t.equal((await get(h.port, '/')).body, 'spare', 'primary failing its checks: the backup serves');
  h.proxy.setServerHealth('app', 1, false);
  const res = await get(h.port, '/x');
  t.equal(res.status, 503);
  t.equal(res.body, '503 Service Unavailable: no server of upstream "app" is available\n');
  const last = h.logged.at(-1)!;
  t.equal(last.error?.kind, FailureKind.NoServer);
  t.equal(last.error?.message, 'no usable server in upstream "app" (2 unhealthy)', 'the log line says why');
  t.equal(last.server, null);
  h.proxy.setServerHealth('app', 0, true);
  t.equal((await get(h.port, '/')).body, 'a', 'the primary is back');
  t.notOk(h.proxy.setServerHealth('nope', 0, true), 'an unknown upstream is refused');
});

t.test('down servers are never used; a lone server is never ejected', async (t) => {
  const a = await origin(t, 'a');
  const b = await origin(t, 'b');
  const h = await proxyWith(t, { servers: [local(a.port), { ...local(b.port), down: true }] });
  for (let i = 0; i < 4; i++) t.equal((await get(h.port, '/')).body, 'a');
  t.equal(h.proxy.upstreams[0]!.servers[1]!.health, 'down');

  const deadPort = await closedPort();
  const lone = await proxyWith(t, { servers: [local(deadPort)], passiveHealth: { ...passiveHealthDefaults, consecutiveFailures: 1 } });
  for (let i = 0; i < 3; i++) t.equal((await get(lone.port, '/')).status, 502, 'refused: 502 every time, never 503');
  t.equal(lone.proxy.upstreams[0]!.servers[0]!.health, 'up');
});

t.test('retry.on http_503: an idempotent request goes to the next server and the 503 is dropped; a POST is not retried', async (t) => {
  const busy = await origin(t, 'busy', { status: () => 503 });
  const ok = await origin(t, 'ok');
  const h = await proxyWith(t, {
    servers: [local(busy.port), local(ok.port)],
    retry: { ...retryDefaults, on: ['error', 'http_503'] },
    passiveHealth: { ...passiveHealthDefaults, consecutiveFailures: 0 },
  });
  for (let i = 0; i < 4; i++) {
    const res = await get(h.port, '/');
    t.equal(res.status, 200);
    t.equal(res.body, 'ok');
  }
  t.equal(busy.hits, 2, 'round robin sent two of four to the busy server first');
  t.equal(h.logged.filter((r) => r.retries === 1).length, 2, 'those two were retried once each');

  const post = await new Promise<number>((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port: h.port, method: 'POST', path: '/', agent: false }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('error', reject);
    req.end('body');
  });
  // Round robin: the POST may land on either; on the busy one its 503 is passed through.
  const last = h.logged.at(-1)!;
  t.equal(last.retries, 0, 'a POST is never sent twice');
  t.equal(post, last.server?.label === `127.0.0.1:${busy.port}` ? 503 : 200);
});

t.test('retry.tries bounds the attempts; without a retry condition the upstream answer passes through', async (t) => {
  const servers = await Promise.all(['x', 'y', 'z'].map((n) => origin(t, n, { status: () => 504 })));
  const h = await proxyWith(t, {
    servers: servers.map((o) => local(o.port)),
    retry: { on: ['http_504'], tries: 2, timeout: 0 },
    passiveHealth: { ...passiveHealthDefaults, consecutiveFailures: 0 },
  });
  const res = await get(h.port, '/');
  t.equal(res.status, 504);
  t.equal(servers.reduce((n, o) => n + o.hits, 0), 2, 'two attempts in all');
  t.equal(h.logged[0]!.retries, 1);
});

t.test('retry.on timeout: no response head within read_timeout goes to the next server for GET', async (t) => {
  const slow = await origin(t, 'slow', { delay: 2_000 });
  const fast = await origin(t, 'fast');
  const h = await proxyWith(t, {
    servers: [local(slow.port), local(fast.port)],
    readTimeout: 300,
    retry: { ...retryDefaults, on: ['error', 'timeout'] },
  });
  const res = await get(h.port, '/');
  t.equal(res.body, 'fast');
  t.equal(h.logged[0]!.retries, 1);
  t.equal(h.proxy.upstreams[0]!.servers[0]!.stats.errors[FailureKind.ReadTimeout], 1, 'the timeout is counted on the slow server');
});

t.test('pool counters: connections opened and reused, connect time observed, active back to 0', async (t) => {
  const a = await origin(t, 'a');
  const h = await proxyWith(t, { servers: [local(a.port)] });
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  t.teardown(() => agent.destroy());
  for (let i = 0; i < 5; i++) {
    await new Promise<void>((resolve, reject) => {
      http.get({ host: '127.0.0.1', port: h.port, path: '/', agent }, (res) => {
        res.resume();
        res.on('end', () => resolve());
      }).on('error', reject);
    });
  }
  const s = h.proxy.upstreams[0]!.servers[0]!;
  t.equal(s.stats.connects, 1);
  t.equal(s.stats.reuses, 4);
  t.equal(s.stats.connectTime.count, 1);
  t.equal(s.active, 0);
  t.equal(s.open, 1);
  t.equal(s.idle, 1);
  t.equal(s.connecting, 0);
  t.equal(h.logged.length, 5);
  t.equal(h.logged[0]!.server?.label, `127.0.0.1:${a.port}`);
  t.equal(h.logged[0]!.upstreamInfo?.name, 'app');
});

t.test('a server stopped and started again by the test: ejected while down, used again after', async (t) => {
  const a = await origin(t, 'a');
  const b = await origin(t, 'b');
  const h = await proxyWith(t, {
    servers: [local(a.port), local(b.port)],
    passiveHealth: { ...passiveHealthDefaults, consecutiveFailures: 2, baseEjectionTime: 300 },
  });
  t.same(new Set([(await get(h.port, '/')).body, (await get(h.port, '/')).body]), new Set(['a', 'b']));
  const port = b.port;
  await stop(b);
  const ejected = h.next('ejected');
  for (let i = 0; i < 6; i++) t.equal((await get(h.port, '/')).body, 'a', 'no client sees the stopped server');
  t.equal((await ejected).server, `127.0.0.1:${port}`);
  const returned = h.next('returned');
  await origin(t, 'b2', { port });
  await returned;
  const seen = new Set<string>();
  for (let i = 0; i < 4; i++) seen.add((await get(h.port, '/')).body);
  t.ok(seen.has('b2'), 'the restarted server takes requests again');
});

t.test('retry.timeout: no new attempt once that long has passed since the first began', async (t) => {
  const slow503 = await origin(t, 'slow', { status: () => 503, delay: 400 });
  const ok = await origin(t, 'ok');
  const servers = [local(slow503.port), local(ok.port)];
  const noHealth = { ...passiveHealthDefaults, consecutiveFailures: 0 };
  const bounded = await proxyWith(t, { servers, retry: { on: ['http_503'], tries: 0, timeout: 150 }, passiveHealth: noHealth });
  const late = await get(bounded.port, '/');
  t.equal(late.status, 503, 'the 503 came after 400 ms, past the 150 ms bound: passed through');
  t.equal(ok.hits, 0);
  t.equal(bounded.logged[0]!.retries, 0);
  const roomy = await proxyWith(t, { servers, retry: { on: ['http_503'], tries: 0, timeout: 5_000 }, passiveHealth: noHealth });
  const retried = await get(roomy.port, '/');
  t.equal(retried.status, 200, 'within the bound: retried on the next server');
  t.equal(retried.body, 'ok');
  t.equal(roomy.logged[0]!.retries, 1);
});
