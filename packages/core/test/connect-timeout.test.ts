// A server that does not accept within connect_timeout is failed over like a refused one (nginx's
// `proxy_next_upstream error timeout`); with no other server the client gets 504. The silent
// server is a real listening socket that never accepts, its accept queue filled, so the kernel
// drops further SYNs and the proxy's connect hangs (python3 holds it: Node accepts by itself).
import { spawn } from 'node:child_process';
import http from 'node:http';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import t, { type Test } from 'tap';
import { get } from './fixtures/client.js';
import type { ExchangeResult } from '../src/exchange/hooks.js';
import { createProxy } from '../src/exchange/proxy.js';
import { nodeHttpHandler } from '../src/node/http.js';

/** A port whose listener never accepts and whose accept queue is full. */
async function silentPort(t: Test): Promise<number> {
  const py = spawn('python3', ['-c', [
    'import socket, sys',
    's = socket.socket()',
    "s.bind(('127.0.0.1', 0))",
    's.listen(0)',
    'print(s.getsockname()[1], flush=True)',
    'sys.stdin.read()',
  ].join('\n')], { stdio: ['pipe', 'pipe', 'inherit'] });
  t.teardown(() => void py.kill());
  const port = await new Promise<number>((resolve, reject) => {
    py.stdout!.once('data', (d: Buffer) => resolve(Number(d.toString().trim())));
    py.once('error', reject);
  });
  // Fill the accept queue (backlog 0 holds one); each connect below completes into the queue.
  const fillers: net.Socket[] = [];
  t.teardown(() => fillers.forEach((s) => s.destroy()));
  for (let i = 0; i < 2; i++) {
    const s = net.connect({ host: '127.0.0.1', port });
    s.on('error', () => {});
    fillers.push(s);
    await new Promise<void>((r) => {
      s.once('connect', () => r());
      setTimeout(r, 300); // the queue is full: this one hangs, which is the point
    });
  }
  return port;
}

async function proxyOn(t: Test, ports: number[], logged: ExchangeResult[]): Promise<number> {
  const proxy = createProxy(
    { upstreams: [{ name: 'app', servers: ports.map((port) => ({ host: '127.0.0.1', port })), connectTimeout: 300 }] },
    { upstreamPeer: (_req, u) => u.servers[0], logging: (r) => void logged.push({ ...r, upstream: r.upstream }) },
  );
  const server = http.createServer(nodeHttpHandler(proxy));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.teardown(() => {
    server.closeAllConnections();
    server.close();
    return proxy.close();
  });
  return (server.address() as AddressInfo).port;
}

t.test('a connect timeout tries the next server; with none left it is 504', async (t) => {
  const silent = await silentPort(t);
  const live = http.createServer((_req, res) => res.end('live'));
  await new Promise<void>((r) => live.listen(0, '127.0.0.1', r));
  t.teardown(() => {
    live.closeAllConnections();
    live.close();
  });
  const livePort = (live.address() as AddressInfo).port;

  const logged: ExchangeResult[] = [];
  const started = Date.now();
  const res = await get(await proxyOn(t, [silent, livePort], logged));
  t.same([res.status, res.body], [200, 'live'], 'answered by the next server');
  t.match(logged[0], { status: 200, retries: 1, upstream: `127.0.0.1:${livePort}` });
  t.ok(Date.now() - started >= 250, 'after the connect timeout');

  const alone: ExchangeResult[] = [];
  t.equal((await get(await proxyOn(t, [silent], alone))).status, 504, 'one server: 504');
  t.match(alone[0], { status: 504, error: { kind: 1 /* ConnectTimeout */ } });
});
