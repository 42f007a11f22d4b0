// The phase hooks an embedder passes to createProxy(), over real loopback sockets: a node:http
// frontend (nodeHttpHandler), real origins, a real client. Each hook is shown to be called at its
// phase and to change what it may change.
import http from 'node:http';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import t, { type Test } from 'tap';
import { get, closedPort } from './fixtures/client.js';
import { createProxy } from '../src/exchange/proxy.js';
import type { ExchangeResult, ProxyHooks } from '../src/exchange/hooks.js';
import { nodeHttpHandler } from '../src/node/http.js';

async function listen(t: Test, server: net.Server): Promise<number> {
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.teardown(() => new Promise<void>((r) => server.close(() => r())));
  return (server.address() as AddressInfo).port;
}

/** An origin answering its name and the header `x-added` it saw. */
async function origin(t: Test, name: string): Promise<number> {
  const server = http.createServer((req, res) => {
    res.setHeader('x-origin', name);
    res.end(`${name} ${req.headers['x-added'] ?? '-'}`);
  });
  server.keepAliveTimeout = 60_000;
  t.teardown(() => server.closeAllConnections());
  return listen(t, server);
}

async function proxyWith(t: Test, servers: number[], hooks: ProxyHooks): Promise<number> {
  const proxy = createProxy({ upstreams: [{ name: 'app', servers: servers.map((port) => ({ host: '127.0.0.1', port })) }] }, hooks);
  const server = http.createServer(nodeHttpHandler(proxy));
  t.teardown(() => {
    server.closeAllConnections();
    return proxy.close();
  });
  return listen(t, server);
}


t.test('upstreamPeer chooses the server, upstreamRequestFilter edits the request, responseFilter the response', async (t) => {
  const a = await origin(t, 'a');
  const b = await origin(t, 'b');
  const seen: Array<{ status: number; server: string; elapsed: number }> = [];
  const logged: ExchangeResult[] = [];
  const port = await proxyWith(t, [a, b], {
    upstreamPeer: (_req, upstream) => upstream.servers[1],
    upstreamRequestFilter: (_req, headers) => void headers.push('x-added', 'yes'),
    upstreamResponse: (_req, server, head, elapsed) => void seen.push({ status: head.status, server: server.label, elapsed }),
    responseFilter: (_req, status, headers) => void headers.push('x-filtered', String(status)),
    logging: (r) => void logged.push({ ...r, client: r.client, upstream: r.upstream }),
  });
  for (let i = 0; i < 3; i++) {
    const res = await get(port, `/r${i}?q=1`);
    t.equal(res.status, 200);
    t.equal(res.body, 'b yes', 'every request went to the chosen server, with the added header');
    t.equal(res.headers['x-filtered'], '200', 'the response filter added a header');
  }
  t.same(seen.map((s) => [s.status, s.server]), [200, 200, 200].map((s) => [s, `127.0.0.1:${b}`]));
  t.ok(seen.every((s) => s.elapsed >= 0));
  t.equal(logged.length, 3, 'logging: once per request');
  t.match(logged[0], { status: 200, upstream: `127.0.0.1:${b}`, route: { upstream: 'app', pathPrefix: '/' }, retries: 0, aborted: false, error: null, client: '127.0.0.1' });
  t.equal(logged[0]!.bytes, 'b yes'.length);
});

t.test('failToConnect: by default the next server is tried; a hook can refuse (502)', async (t) => {
  const dead = await closedPort();
  const live = await origin(t, 'live');
  const logged: ExchangeResult[] = [];
  const port = await proxyWith(t, [dead, live], {
    upstreamPeer: (_req, upstream) => upstream.servers[0],
    logging: (r) => void logged.push({ ...r, upstream: r.upstream }),
  });
  const res = await get(port);
  t.equal(res.status, 200);
  t.equal(res.body, 'live -');
  t.match(logged[0], { status: 200, retries: 1, upstream: `127.0.0.1:${live}` });

  const calls: Array<[string, string | null]> = [];
  const strict = await proxyWith(t, [dead, live], {
    upstreamPeer: (_req, upstream) => upstream.servers[0],
    failToConnect: (_req, server, _err, next) => {
      calls.push([server.label, next?.label ?? null]);
      return null;
    },
  });
  t.equal((await get(strict)).status, 502, 'the hook said no: 502');
  t.same(calls, [[`127.0.0.1:${dead}`, `127.0.0.1:${live}`]], 'told the failed server and the default next one');
});

t.test('errorWhileProxy: a reset on a fresh socket is not retried by default; a hook can retry it', async (t) => {
  let requests = 0;
  // Resets the first request it gets, answers the others.
  const server = net.createServer((socket) => {
    socket.on('error', () => {});
    socket.once('data', () => {
      if (requests++ === 0) socket.resetAndDestroy();
      else socket.end('HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok');
    });
  });
  const flaky = await listen(t, server);
  const infos: Array<{ retryable: boolean; reusedSocket: boolean }> = [];
  const port = await proxyWith(t, [flaky], {
    errorWhileProxy: (_req, _server, _err, info) => {
      infos.push({ ...info });
      return true;
    },
  });
  const res = await get(port);
  t.equal(res.status, 200, 'retried on a fresh socket');
  t.same(infos, [{ retryable: false, reusedSocket: false }], 'the default would not have retried');

  requests = 0;
  const plain = await proxyWith(t, [flaky], {});
  t.equal((await get(plain)).status, 502, 'without the hook: 502');
});

t.test('logging: a head the adapter refuses (431) is logged too, with no route and no upstream', async (t) => {
  const live = await origin(t, 'live');
  const logged: ExchangeResult[] = [];
  const port = await proxyWith(t, [live], { logging: (r) => void logged.push({ ...r, upstream: r.upstream, client: r.client }) });
  const status = await new Promise<number>((resolve, reject) => {
    http
      .get({ host: '127.0.0.1', port, path: '/big', agent: false, headers: { 'x-big': 'a'.repeat(9000) } }, (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      })
      .on('error', reject);
  });
  t.equal(status, 431);
  t.equal(logged.length, 1);
  t.match(logged[0], { status: 431, route: null, upstream: null, bytes: 0, error: null, client: '127.0.0.1', request: { method: 'GET', url: '/big' } });
});
