/**
 * Upstream pipelining (`pipelining` > 1): idempotent bodiless requests share upstream sockets,
 * every client still gets its own response, and requests stranded when the upstream closes
 * mid-pipeline are retried on a fresh socket. Both frontends, 1 worker.
 */
import type net from 'node:net';
import t from 'tap';
import { request } from './lib/client.js';
import { frontends } from './lib/frontends.js';
import { startRawOrigin } from './lib/origins.js';

const T = { timeout: 30_000 };

/**
 * A raw origin that answers GETs with their own path as the body, in order. It holds the requests
 * of one read for `delay` ms before answering, so it can see how many were in flight on one socket
 * at once; with `closeAfterFirst` it answers only a connection's first request, with
 * `Connection: close`, and closes (stranding whatever was pipelined behind it).
 */
async function pipelineOrigin(t: Parameters<typeof startRawOrigin>[0], o: { delay: number; closeAfterFirst?: boolean }) {
  const seen: Array<{ conn: number; path: string }> = [];
  let maxInFlight = 0;
  const origin = await startRawOrigin(t, ({ id, socket }) => {
    let text = '';
    let waiting: string[] = [];
    const answer = (s: net.Socket, paths: string[]): void => {
      for (const path of paths) {
        if (s.destroyed) return;
        const last = o.closeAfterFirst === true;
        s.write(`HTTP/1.1 200 OK\r\nContent-Length: ${path.length}\r\n${last ? 'Connection: close\r\n' : ''}\r\n${path}`);
        if (last) {
          s.end();
          return;
        }
      }
    };
    socket.on('data', (d: Buffer) => {
      text += d.toString('latin1');
      let end: number;
      while ((end = text.indexOf('\r\n\r\n')) >= 0) {
        const path = text.slice(0, text.indexOf('\r\n')).split(' ')[1]!;
        text = text.slice(end + 4);
        seen.push({ conn: id, path });
        waiting.push(path);
      }
      maxInFlight = Math.max(maxInFlight, waiting.length);
      const batch = waiting;
      waiting = [];
      setTimeout(() => answer(socket, batch), o.delay);
    });
  });
  return {
    origin,
    seen,
    get maxInFlight() {
      return maxInFlight;
    },
  };
}

for (const fe of frontends) {
  t.test(fe.name, async (t) => {
    t.test('pipelined requests share upstream sockets and each client gets its own response', T, async (t) => {
      const o = await pipelineOrigin(t, { delay: 50 });
      const proxy = await fe.start(t, { upstreams: [{ name: 'app', servers: [o.origin.port], keepalive: 1, pipelining: 8 }] });
      const paths = Array.from({ length: 40 }, (_, i) => `/item/${i}`);
      const answers = await Promise.all(paths.map((path) => request({ port: proxy.port, path })));
      t.same(
        answers.map((a) => [a.status, a.body.toString()]),
        paths.map((p) => [200, p]),
        'every response is the one its request asked for',
      );
      t.ok(o.maxInFlight > 1, `several requests were in flight on one upstream socket (at most ${o.maxInFlight})`);
      t.ok(o.maxInFlight <= 8, 'never deeper than pipelining allows');
      t.ok(o.origin.connections < paths.length / 2, `${paths.length} requests over ${o.origin.connections} upstream sockets`);
    });

    t.test('requests stranded behind a response that closes the socket are retried on fresh sockets', T, async (t) => {
      const o = await pipelineOrigin(t, { delay: 20, closeAfterFirst: true });
      const proxy = await fe.start(t, { upstreams: [{ name: 'app', servers: [o.origin.port], keepalive: 1, pipelining: 8 }] });
      const paths = Array.from({ length: 20 }, (_, i) => `/stranded/${i}`);
      const answers = await Promise.all(paths.map((path) => request({ port: proxy.port, path })));
      t.same(
        answers.map((a) => [a.status, a.body.toString()]),
        paths.map((p) => [200, p]),
        'every request was answered with its own response',
      );
      t.ok(o.maxInFlight > 1, `requests were pipelined behind the closing one (at most ${o.maxInFlight} in flight)`);
      const perPath = new Map<string, number>();
      for (const s of o.seen) perPath.set(s.path, (perPath.get(s.path) ?? 0) + 1);
      t.ok([...perPath.values()].every((n) => n <= 2), 'no request reached the origin more than twice (one retry)');
    });
  });
}
