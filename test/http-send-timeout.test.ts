/**
 * An upstream's send_timeout (nginx proxy_send_timeout): an origin that stops taking the request
 * body fails the request with 504 after send_timeout, though read_timeout is far longer, and the
 * upstream connection is closed (half a body is on it). Both frontends.
 */
import http from 'node:http';
import type net from 'node:net';
import t from 'tap';
import { frontends } from './lib/frontends.js';
import { readRequests, startRawOrigin } from './lib/origins.js';
import { deferred, withTimeout } from './lib/util.js';

const T = { timeout: 30_000 };
const BODY = 64 * 1024 * 1024; // far more than the loopback socket buffers of both hops hold
const CHUNK = Buffer.alloc(64 * 1024, 0x61);

/** POST a body of BODY bytes as fast as the proxy takes it; resolves with the status of the answer. */
function endlessUpload(port: number): Promise<{ status: number; ms: number }> {
  return new Promise((resolve, reject) => {
    const started = Date.now();
    const req = http.request({ host: '127.0.0.1', port, method: 'POST', path: '/upload', headers: { 'content-length': BODY }, agent: false });
    let sent = 0;
    let answered = false;
    const pump = (): void => {
      while (!answered && sent < BODY) {
        sent += CHUNK.length;
        if (!req.write(CHUNK)) {
          req.once('drain', pump);
          return;
        }
      }
    };
    req.on('response', (res) => {
      answered = true;
      resolve({ status: res.statusCode ?? 0, ms: Date.now() - started });
      res.resume();
      req.destroy();
    });
    req.on('error', (e) => {
      if (!answered) reject(e);
    });
    pump();
  });
}

for (const fe of frontends) {
  t.test(fe.name, async (t) => {
    t.test('an origin that stops reading the body gets 504 after send_timeout, not read_timeout, and its socket is closed', T, async (t) => {
      const closed = deferred<void>();
      let sockets = 0;
      let stalled: net.Socket | null = null;
      const origin = await startRawOrigin(t, ({ socket }: { socket: net.Socket }) => {
        sockets++;
        stalled = socket;
        socket.on('close', () => closed.resolve());
        readRequests(socket, () => {}, () => {
          socket.pause(); // take the head, then nothing more: the body backs up into the proxy
          return 'stop';
        });
      });
      const proxy = await fe.start(t, { upstreams: [{ name: 'app', servers: [origin.port], sendTimeout: 600, readTimeout: 20_000 }] });
      const res = await withTimeout(endlessUpload(proxy.port), 15_000, 'no answer to the stalled upload');
      t.equal(res.status, 504, 'send_timeout answers 504');
      t.ok(res.ms < 10_000, `answered after ${res.ms} ms, long before read_timeout (20 s)`);
      // Reading again, the origin finds the end of what the proxy sent: the connection was closed.
      (stalled as net.Socket | null)?.resume();
      await withTimeout(closed.promise, 5_000, 'the upstream socket was never closed');
      t.equal(sockets, 1, 'one upstream connection, and it was closed');
    });
  });
}
