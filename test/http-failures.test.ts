/**
 * Upstream failures and client aborts: refused, reset, silent and dying origins; a client that goes
 * away mid-response; a pooled socket the origin closed. Both frontends, 1 worker.
 */
import type http from 'node:http';
import t, { type Test } from 'tap';
import { request } from './lib/client.js';
import { frontends, toOrigins } from './lib/frontends.js';
import { type RawSeenRequest, type SeenRequest, readRequests, startOrigin, startRawOrigin } from './lib/origins.js';
import { RawClient, rawRequest } from './lib/raw-client.js';
import { deferred, freePort, sleep, withTimeout } from './lib/util.js';

const T = { timeout: 30_000 };

/** A raw origin whose response to every request is: head with Content-Length 1000, 100 bytes, then death. */
async function dyingMidBodyOrigin(t: Test) {
  return startRawOrigin(t, ({ socket }) => {
    readRequests(socket, () => {
      socket.write('HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Length: 1000\r\n\r\n');
      socket.write(Buffer.alloc(100, 0x61));
      // let the head and the first bytes travel through before dying
      setTimeout(() => socket.destroy(), 300);
    });
  });
}

/**
 * The stale keep-alive origin: on each connection, the first request is answered (keep-alive);
 * any later request on the same connection makes it destroy the socket without answering.
 */
async function staleKeepAliveOrigin(t: Test) {
  const arrivals: Array<{ conn: number; index: number; method: string; url: string; body: string }> = [];
  const origin = await startRawOrigin(t, ({ id, socket }) => {
    readRequests(
      socket,
      (req: RawSeenRequest) => {
        const body = `conn-${id}-req-${req.indexOnConnection}`;
        socket.write(`HTTP/1.1 200 OK\r\nContent-Length: ${body.length}\r\nConnection: keep-alive\r\n\r\n${body}`);
      },
      (head, index) => {
        const [method = '', url = ''] = head.startLine.split(' ');
        arrivals.push({ conn: id, index, method, url, body: '' });
        if (index >= 1) {
          socket.destroy();
          return 'stop';
        }
      },
    );
  });
  return { origin, arrivals };
}

for (const fe of frontends) {
  t.test(fe.name, async (t) => {
    t.test('502 when the origin refuses connections', T, async (t) => {
      const closedPort = await freePort();
      const proxy = await fe.start(t, toOrigins(closedPort));
      const res = await request({ port: proxy.port, path: '/refused' });
      t.equal(res.status, 502);
    });

    t.test('502 when the origin resets the connection before sending a response head', T, async (t) => {
      let seen = 0;
      const origin = await startRawOrigin(t, ({ socket }) => {
        readRequests(socket, () => {}, () => {
          seen++;
          socket.resetAndDestroy();
          return 'stop';
        });
      });
      const proxy = await fe.start(t, toOrigins(origin.port));
      const res = await request({ port: proxy.port, path: '/reset' });
      t.equal(res.status, 502);
      t.ok(seen >= 1, 'the request reached the origin before the reset');
    });

    t.test('504 when the origin accepts and never answers (read_timeout 500ms)', T, async (t) => {
      let seen = 0;
      const origin = await startRawOrigin(t, ({ socket }) => {
        readRequests(socket, () => {}, () => {
          seen++; // and say nothing
        });
      });
      const proxy = await fe.start(t, { upstreams: [{ name: 'app', servers: [origin.port], readTimeout: 500 }] });
      const res = await request({ port: proxy.port, path: '/silent', timeout: 15_000 });
      t.equal(res.status, 504);
      t.ok(seen >= 1, 'the request reached the origin');
    });

    t.test('an origin dying mid-body (Content-Length 1000, 100 bytes sent) gives a raw client an abnormal end, never a clean one', T, async (t) => {
      const origin = await dyingMidBodyOrigin(t);
      const proxy = await fe.start(t, toOrigins(origin.port));
      const c = await RawClient.connect(t, proxy.port);
      c.write(rawRequest('GET', '/dies', [['Host', 'app.example.test']]));
      const res = await c.readResponse({ timeout: 10_000 });
      t.not(res.complete, true, `the response is not complete (status ${res.status}, ${res.body.length} body bytes, framing ${res.framing?.kind}, ended by ${res.endedBy})`);
      t.ok(res.body.length < 1000, 'fewer than 1000 body bytes arrived');
      t.equal(res.endedBy, 'close', 'the proxy closed the client connection rather than leaving it hanging');
    });

    t.test('an origin dying mid-body gives a node:http client an aborted/error event, never a clean end', T, async (t) => {
      const origin = await dyingMidBodyOrigin(t);
      const proxy = await fe.start(t, toOrigins(origin.port));
      try {
        const res = await request({ port: proxy.port, path: '/dies', timeout: 10_000 });
        t.equal(res.outcome, 'aborted', `outcome (status ${res.status}, ${res.body.length} body bytes)`);
        t.ok(res.body.length < 1000, 'fewer than 1000 body bytes arrived');
      } catch (e) {
        t.notMatch(String(e), /timed out/, 'an error, not a hang');
      }
    });

    t.test('client abort: the origin sees its request closed within a second, and the next request uses another upstream socket', T, async (t) => {
      const abortedClosed = deferred<{ finished: boolean }>();
      let streamConn = -1;
      const origin = await startOrigin(t, (req: http.IncomingMessage, res: http.ServerResponse, seen: SeenRequest) => {
        if (req.url === '/stream') {
          streamConn = seen.connId;
          res.writeHead(200, { 'content-type': 'application/octet-stream' });
          const timer = setInterval(() => res.write(Buffer.alloc(1024, 0x62)), 20);
          res.on('close', () => {
            clearInterval(timer);
            abortedClosed.resolve({ finished: res.writableFinished });
          });
          return;
        }
        res.writeHead(200, { 'content-type': 'text/plain' });
        res.end(`conn-${seen.connId}`);
      });
      const proxy = await fe.start(t, toOrigins(origin.port));
      const c = await RawClient.connect(t, proxy.port);
      c.write(rawRequest('GET', '/stream', [['Host', 'app.example.test']]));
      // wait until the head and some body have come through, then go away
      await withTimeout(
        (async () => {
          while (c.pending.length < 2048 && !c.closed) await sleep(10);
        })(),
        5000,
        'the first streamed bytes',
      );
      t.equal(c.closed, false, 'the stream was flowing when the client left');
      c.destroy();
      const closed = await withTimeout(abortedClosed.promise, 1000, 'the origin to see its request closed');
      t.equal(closed.finished, false, 'the origin response was cut, not finished');
      const after = await request({ port: proxy.port, path: '/after' });
      t.equal(after.status, 200);
      t.not(after.body.toString(), `conn-${streamConn}`, 'the next request did not go on the aborted upstream socket');
    });

    t.test('stale keep-alive socket: a GET is retried once on a fresh socket and succeeds', T, async (t) => {
      const { origin, arrivals } = await staleKeepAliveOrigin(t);
      const proxy = await fe.start(t, toOrigins(origin.port));
      const first = await request({ port: proxy.port, path: '/one' });
      t.equal(first.status, 200);
      t.equal(first.body.toString(), 'conn-1-req-0');
      const second = await request({ port: proxy.port, path: '/two' });
      t.equal(second.status, 200, 'the GET succeeded');
      const two = arrivals.filter((a) => a.url === '/two');
      t.same(
        two.map((a) => [a.conn, a.index]),
        [
          [1, 1],
          [2, 0],
        ],
        'it went first on the pooled socket (which the origin dropped), then once on a fresh one',
      );
      t.equal(second.body.toString(), 'conn-2-req-0', 'the answer came from the fresh socket');
    });

    t.test('an upstream that answers before reading the whole body (413) never gets its socket reused', T, async (t) => {
      // Connection n answers a POST at its head (413, keep-alive) without reading the body, and a
      // GET with 200 "conn-n". Whatever else arrives on a connection is recorded.
      const arrivals: Array<{ conn: number; line: string }> = [];
      const origin = await startRawOrigin(t, ({ id, socket }) => {
        let text = '';
        socket.on('data', (d: Buffer) => {
          text += d.toString('latin1');
          let end: number;
          while ((end = text.indexOf('\r\n\r\n')) >= 0) {
            const line = text.slice(0, text.indexOf('\r\n'));
            text = text.slice(end + 4);
            arrivals.push({ conn: id, line });
            if (line.startsWith('POST')) {
              socket.write('HTTP/1.1 413 Content Too Large\r\nContent-Length: 0\r\n\r\n');
            } else {
              const body = `conn-${id}`;
              socket.write(`HTTP/1.1 200 OK\r\nContent-Length: ${body.length}\r\n\r\n${body}`);
            }
          }
        });
      });
      const proxy = await fe.start(t, toOrigins(origin.port));
      const c = await RawClient.connect(t, proxy.port);
      // Ten of the thousand announced bytes: the rest never comes before the 413.
      c.write('POST /upload HTTP/1.1\r\nHost: app.example.test\r\nContent-Length: 1000\r\n\r\n0123456789');
      const refused = await c.readResponse({ timeout: 10_000 });
      t.equal(refused.status, 413, 'the early answer reaches the client');
      const after = await request({ port: proxy.port, path: '/after' });
      t.equal(after.status, 200);
      t.equal(after.body.toString(), 'conn-2', 'the next request went on a new upstream connection');
      t.same(
        arrivals.map((a) => [a.conn, a.line]),
        [
          [1, 'POST /upload HTTP/1.1'],
          [2, 'GET /after HTTP/1.1'],
        ],
        'nothing else reached the origin',
      );
    });

    t.test('stale keep-alive socket: a POST with a body is not retried (502) and the origin saw it at most once', T, async (t) => {
      const { origin, arrivals } = await staleKeepAliveOrigin(t);
      const proxy = await fe.start(t, toOrigins(origin.port));
      const first = await request({ port: proxy.port, path: '/one' });
      t.equal(first.status, 200);
      const body = Buffer.from('{"order":42}');
      const post = await request({
        port: proxy.port,
        method: 'POST',
        path: '/orders',
        headers: { 'content-type': 'application/json', 'content-length': String(body.length) },
        body,
      });
      t.equal(post.status, 502, 'the POST is answered 502, not retried');
      const posts = arrivals.filter((a) => a.method === 'POST');
      t.ok(posts.length <= 1, `the origin saw the POST ${posts.length} time(s)`);
      t.same(
        posts.map((a) => [a.conn, a.index]),
        [[1, 1]],
        'the POST went on the pooled socket (the one the origin then dropped), and on no other',
      );
    });
  });
}
