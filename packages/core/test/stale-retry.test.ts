// A request retried after a stale keep-alive socket goes out on a new connection, even when it
// has to wait for one (all max_connections busy): a socket released meanwhile has served before
// and may be stale too. Real loopback sockets, a node:http frontend, a raw origin.
import http from 'node:http';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import t from 'tap';
import { get } from './fixtures/client.js';
import { createProxy } from '../src/exchange/proxy.js';
import { nodeHttpHandler } from '../src/node/http.js';

t.test('a stale-socket retry that waits for a free connection gets a new one, not a reused one', async (t) => {
  // Each connection answers its first request (keep-alive) and drops the connection, unanswered,
  // at the second: every reused socket is stale.
  let connections = 0;
  const origin = net.createServer((socket) => {
    const id = ++connections;
    let requests = 0;
    socket.on('error', () => {});
    socket.on('data', (d) => {
      if (!d.includes('\r\n\r\n')) return;
      if (requests++ > 0) {
        socket.destroy();
        return;
      }
      const body = `conn ${id}`;
      socket.write(`HTTP/1.1 200 OK\r\nContent-Length: ${body.length}\r\n\r\n${body}`);
    });
  });
  await new Promise<void>((r) => origin.listen(0, '127.0.0.1', r));
  t.teardown(() => new Promise<void>((r) => origin.close(() => r())));
  const proxy = createProxy({
    upstreams: [{ name: 'app', servers: [{ host: '127.0.0.1', port: (origin.address() as AddressInfo).port }], maxConnections: 1, keepalive: 1 }],
  });
  const server = http.createServer(nodeHttpHandler(proxy));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.teardown(() => {
    server.closeAllConnections();
    server.close();
    origin.close();
    return proxy.close();
  });
  const port = (server.address() as AddressInfo).port;

  t.match(await get(port, '/warm'), { status: 200, body: 'conn 1' }, 'connection 1 is now idle and stale');
  // r1 takes the stale connection 1 and is retried; r2 waits for the one allowed connection.
  const [r1, r2] = await Promise.all([get(port, '/r1'), get(port, '/r2')]);
  t.equal(r2.status, 200);
  t.equal(r1.status, 200, 'the retry did not land on a reused (stale) socket');
  t.not(r1.body, r2.body, 'the retry had a connection of its own');
  t.equal(connections, 3);
});
