// Proxy.reload(): a new configuration between two requests, over real loopback sockets (a
// node:http frontend, real origins, real clients). Requests in flight finish on the configuration
// they started with; unchanged servers keep their pools (the same upstream connection serves on)
// and their health; removed servers drain; an invalid configuration leaves the running one.
import http from 'node:http';
import type net from 'node:net';
import type { AddressInfo } from 'node:net';
import t, { type Test } from 'tap';
import { createProxy } from '../src/exchange/proxy.js';
import type { ProxyInit } from '../src/config/normalize.js';
import { ProxyConfigError } from '../src/config/problems.js';
import { nodeHttpHandler } from '../src/node/http.js';
import type { Proxy } from '../src/exchange/contract.js';

async function listen(t: Test, server: net.Server): Promise<number> {
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.teardown(() => new Promise<void>((r) => server.close(() => r())));
  return (server.address() as AddressInfo).port;
}

interface Origin {
  port: number;
  /** Connections opened to it, and closed. */
  opened: number;
  closed: number;
  /** Responses held until released (path /hold). */
  held: http.ServerResponse[];
  heldArrived: Promise<void>;
}

async function origin(t: Test, name: string): Promise<Origin> {
  let arrived!: () => void;
  const o: Origin = { port: 0, opened: 0, closed: 0, held: [], heldArrived: new Promise<void>((r) => (arrived = r)) };
  const server = http.createServer((req, res) => {
    req.resume();
    if (req.url === '/hold') {
      o.held.push(res);
      arrived();
      return;
    }
    res.end(name);
  });
  server.keepAliveTimeout = 60_000;
  server.on('connection', (s: net.Socket) => {
    o.opened++;
    s.on('close', () => o.closed++);
  });
  t.teardown(() => server.closeAllConnections());
  o.port = await listen(t, server);
  return o;
}

async function start(t: Test, init: ProxyInit): Promise<{ proxy: Proxy; port: number; agent: http.Agent }> {
  const proxy = createProxy(init);
  const server = http.createServer(nodeHttpHandler(proxy));
  const agent = new http.Agent({ keepAlive: true, maxSockets: 4 });
  t.teardown(() => {
    agent.destroy();
    server.closeAllConnections();
    return proxy.close();
  });
  return { proxy, port: await listen(t, server), agent };
}

function get(port: number, path = '/', agent: http.Agent | false = false): Promise<string> {
  return new Promise((resolve, reject) => {
    http
      .get({ host: '127.0.0.1', port, path, agent }, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => (body += d));
        res.on('end', () => resolve(`${res.statusCode} ${body}`));
      })
      .on('error', reject);
  });
}

const server = (port: number): { host: string; port: number } => ({ host: '127.0.0.1', port });

t.test('routes move between upstreams on reload; a request in flight finishes where it started', async (t) => {
  const a = await origin(t, 'a');
  const b = await origin(t, 'b');
  const upstreams = [
    { name: 'a', servers: [server(a.port)] },
    { name: 'b', servers: [server(b.port)] },
  ];
  const { proxy, port } = await start(t, { upstreams, routes: [{ pathPrefix: '/', upstream: 'a' }] });
  t.equal(await get(port), '200 a');
  const inFlight = get(port, '/hold');
  await a.heldArrived;
  const summary = proxy.reload({ upstreams, routes: [{ pathPrefix: '/', upstream: 'b' }] });
  t.same(summary, { upstreams: 2, serversKept: 2, serversDrained: 0 });
  t.equal(await get(port), '200 b', 'the next request takes the new route');
  a.held[0]!.end('a, from before the reload');
  t.equal(await inFlight, '200 a, from before the reload', 'the request in flight finished on its upstream');
  t.equal(proxy.options.routes[0]!.upstream, 'b');
});

t.test('an unchanged server keeps its pool: the same upstream connection serves before and after', async (t) => {
  const a = await origin(t, 'a');
  const init = (keepalive: number): ProxyInit => ({ upstreams: [{ name: 'app', servers: [server(a.port)], keepalive }] });
  const { proxy, port, agent } = await start(t, init(10));
  t.equal(await get(port, '/', agent), '200 a');
  t.equal(a.opened, 1);
  proxy.reload({ ...init(10), routes: [{ pathPrefix: '/', upstream: 'app' }], forwarding: { via: 'edge' } });
  t.equal(await get(port, '/', agent), '200 a');
  t.equal(a.opened, 1, 'no new upstream connection: the pool was taken over');
  t.equal(a.closed, 0);

  // Changed connection settings: a new pool, and the old one's idle socket closes.
  const summary = proxy.reload(init(20));
  t.same(summary, { upstreams: 1, serversKept: 0, serversDrained: 1 });
  t.equal(await get(port, '/', agent), '200 a');
  t.equal(a.opened, 2, 'a new connection from the new pool');
  await t.resolves(waitUntil(() => a.closed === 1), 'the drained pool closed its idle socket');
});

t.test('a removed server drains: idle sockets close now, a busy one after its response', async (t) => {
  const a = await origin(t, 'a');
  const b = await origin(t, 'b');
  const both = { upstreams: [{ name: 'app', servers: [server(a.port), server(b.port)] }] };
  const { proxy, port } = await start(t, both);
  // One request each (round robin), then one held on b.
  t.same(new Set([await get(port), await get(port)]), new Set(['200 a', '200 b']));
  const held = get(port, '/hold');
  await Promise.race([a.heldArrived, b.heldArrived]);
  const busy = a.held.length === 1 ? a : b;
  const other = busy === a ? b : a;
  const summary = proxy.reload({ upstreams: [{ name: 'app', servers: [server(other.port)] }] });
  t.same(summary, { upstreams: 1, serversKept: 1, serversDrained: 1 });
  t.equal(busy.closed, 0, 'the busy socket stays while its response is pending');
  busy.held[0]!.end('late');
  t.equal(await held, '200 late', 'and the response arrives whole');
  await t.resolves(waitUntil(() => busy.closed === busy.opened), 'then every socket to the removed server is closed');
  for (let i = 0; i < 3; i++) t.equal(await get(port), `200 ${other === a ? 'a' : 'b'}`);
});

t.test('health survives a reload for unchanged servers; an invalid configuration leaves the running one', async (t) => {
  const a = await origin(t, 'a');
  const b = await origin(t, 'b');
  const init: ProxyInit = { upstreams: [{ name: 'app', servers: [server(a.port), server(b.port)] }] };
  const { proxy, port } = await start(t, init);
  proxy.setServerHealth('app', 0, false);
  proxy.reload({ upstreams: [{ name: 'app', servers: [server(a.port), server(b.port)], balance: 'random' }] });
  t.equal(proxy.upstreams[0]!.servers[0]!.health, 'unhealthy', 'still failing its checks after the reload');
  for (let i = 0; i < 4; i++) t.equal(await get(port), '200 b');
  // The server moved in the list: its state moves with it.
  proxy.reload({ upstreams: [{ name: 'app', servers: [server(b.port), server(a.port)] }] });
  t.same(proxy.upstreams[0]!.servers.map((s) => s.health), ['up', 'unhealthy']);
  t.equal(proxy.upstreams[0]!.servers[1]!.index, 1);

  const before = proxy.options;
  t.throws(() => proxy.reload({ upstreams: [{ name: 'app', servers: [] }] }), ProxyConfigError);
  t.throws(() => proxy.reload({ upstreams: [{ name: 'app', servers: [server(a.port)] }], routes: [{ pathPrefix: '/', upstream: 'nope' }] }), ProxyConfigError);
  t.equal(proxy.options, before, 'the running configuration stays');
  t.equal(await get(port), '200 b');
});

async function waitUntil(cond: () => boolean, ms = 3000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('condition not met in time');
    // Socket close events arrive on their own; poll the counters the origin keeps.
    await new Promise((r) => setImmediate(r));
  }
}
