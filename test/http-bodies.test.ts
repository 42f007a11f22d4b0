/**
 * Bodies both ways, byte-exact, in every framing; bodiless responses (HEAD, 204, 304) leave the
 * client connection usable. Both frontends.
 */
import { createHash } from 'node:crypto';
import t from 'tap';
import { request, requestJson, sha } from './lib/client.js';
import { frontends, toOrigins } from './lib/frontends.js';
import { type Echo, readRequests, startOrigin, startRawOrigin } from './lib/origins.js';
import { RawClient, rawRequest } from './lib/raw-client.js';
import { randomBody } from './lib/util.js';

const T = { timeout: 30_000 };
const MiB = 1024 * 1024;

/** Splits a buffer into pieces of varied sizes (1 byte up to 64 KiB). */
function pieces(b: Buffer): Buffer[] {
  const sizes = [1, 7, 100, 4096, 16_384, 65_536, 1000, 33_333];
  const out: Buffer[] = [];
  for (let off = 0, i = 0; off < b.length; i++) {
    const n = Math.min(sizes[i % sizes.length]!, b.length - off);
    out.push(b.subarray(off, off + n));
    off += n;
  }
  return out;
}

for (const fe of frontends) {
  t.test(fe.name, async (t) => {
    t.test('a Content-Length request body arrives byte-exact', T, async (t) => {
      const origin = await startOrigin(t);
      const proxy = await fe.start(t, toOrigins(origin.port));
      const body = randomBody(MiB + 17);
      const { res, data } = await requestJson<Echo>({
        port: proxy.port,
        method: 'POST',
        path: '/upload',
        headers: { 'content-type': 'application/octet-stream', 'content-length': String(body.length) },
        body,
      });
      t.equal(res.status, 200);
      t.equal(data.bodyLength, body.length, 'length');
      t.equal(data.bodySha256, sha(body), 'sha256');
    });

    t.test('a chunked request body arrives byte-exact', T, async (t) => {
      const origin = await startOrigin(t);
      const proxy = await fe.start(t, toOrigins(origin.port));
      const body = randomBody(MiB + 3);
      const { res, data } = await requestJson<Echo>({
        port: proxy.port,
        method: 'POST',
        path: '/upload-chunked',
        headers: { 'content-type': 'application/octet-stream' },
        body: pieces(body),
      });
      t.equal(res.status, 200);
      t.equal(data.bodyLength, body.length, 'length');
      t.equal(data.bodySha256, sha(body), 'sha256');
    });

    t.test('a POST with Content-Length: 0 reaches the origin with an empty body', T, async (t) => {
      const origin = await startOrigin(t);
      const proxy = await fe.start(t, toOrigins(origin.port));
      const { res, data } = await requestJson<Echo>({
        port: proxy.port,
        method: 'POST',
        path: '/empty',
        headers: { 'content-length': '0' },
        body: Buffer.alloc(0),
      });
      t.equal(res.status, 200);
      t.equal(data.method, 'POST');
      t.equal(data.bodyLength, 0);
    });

    t.test('a Content-Length response body arrives byte-exact', T, async (t) => {
      const body = randomBody(MiB + 5);
      const origin = await startOrigin(t, (_req, res) => {
        res.writeHead(200, { 'content-length': String(body.length) });
        for (const p of pieces(body)) res.write(p);
        res.end();
      });
      const proxy = await fe.start(t, toOrigins(origin.port));
      const res = await request({ port: proxy.port, path: '/cl' });
      t.equal(res.status, 200);
      t.equal(res.outcome, 'end', 'the body ended cleanly');
      t.equal(res.body.length, body.length, 'length');
      t.equal(sha(res.body), sha(body), 'sha256');
    });

    t.test('a chunked response body arrives byte-exact', T, async (t) => {
      const body = randomBody(MiB + 9);
      const origin = await startOrigin(t, (_req, res) => {
        res.writeHead(200, { 'content-type': 'application/octet-stream' }); // no length: chunked
        const ps = pieces(body);
        let i = 0;
        const next = (): void => {
          if (i >= ps.length) return void res.end();
          res.write(ps[i++], () => setImmediate(next));
        };
        next();
      });
      const proxy = await fe.start(t, toOrigins(origin.port));
      const res = await request({ port: proxy.port, path: '/chunked' });
      t.equal(res.status, 200);
      t.equal(res.outcome, 'end', 'the body ended cleanly');
      t.equal(res.body.length, body.length, 'length');
      t.equal(sha(res.body), sha(body), 'sha256');
    });

    t.test('a close-delimited response body (no Content-Length, Connection: close) arrives byte-exact', T, async (t) => {
      const body = randomBody(MiB + 11);
      const origin = await startRawOrigin(t, ({ socket }) => {
        readRequests(socket, () => {
          socket.write('HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nConnection: close\r\n\r\n');
          const ps = pieces(body);
          let i = 0;
          const next = (): void => {
            if (i >= ps.length) return void socket.end();
            socket.write(ps[i++]!, () => setImmediate(next));
          };
          next();
        });
      });
      const proxy = await fe.start(t, toOrigins(origin.port));
      const res = await request({ port: proxy.port, path: '/close-delimited' });
      t.equal(res.status, 200);
      t.equal(res.outcome, 'end', 'the body ended cleanly');
      t.equal(res.body.length, body.length, 'length');
      t.equal(sha(res.body), sha(body), 'sha256');
      // and the same through a raw client: the proxy frames it so the client sees a complete body
      const c = await RawClient.connect(t, proxy.port);
      c.write(rawRequest('GET', '/close-delimited', [['Host', 'app.example.test']]));
      const raw = await c.readResponse({ timeout: 10_000 });
      t.equal(raw.complete, true, `complete per its framing (${raw.framing?.kind})`);
      t.equal(createHash('sha256').update(raw.body).digest('hex'), sha(body), 'raw client: sha256');
    });

    for (const kind of ['HEAD', '204', '304'] as const) {
      t.test(`a ${kind} response has no body and the client connection stays usable`, T, async (t) => {
        const origin = await startOrigin(t, (req, res) => {
          if (req.url === '/next') {
            res.writeHead(200, { 'content-length': '9' });
            return void res.end('next-body');
          }
          if (kind === 'HEAD') {
            res.writeHead(200, { 'content-length': '1234', 'content-type': 'text/plain' });
            return void res.end();
          }
          if (kind === '204') {
            res.writeHead(204, { 'x-kind': '204' });
            return void res.end();
          }
          res.writeHead(304, { etag: '"v1"' });
          res.end();
        });
        const proxy = await fe.start(t, toOrigins(origin.port));
        const c = await RawClient.connect(t, proxy.port);
        const method = kind === 'HEAD' ? 'HEAD' : 'GET';
        const headers: Array<[string, string]> = [['Host', 'app.example.test']];
        if (kind === '304') headers.push(['If-None-Match', '"v1"']);
        c.write(rawRequest(method, `/${kind}`, headers));
        const first = await c.readResponse({ method });
        t.equal(first.status, kind === 'HEAD' ? 200 : Number(kind), 'status');
        t.equal(first.body.length, 0, 'no body');
        t.ok(first.header('content-length').length <= 1, 'at most one Content-Length');
        t.equal(c.closed, false, 'the connection is still open');
        c.write(rawRequest('GET', '/next', [['Host', 'app.example.test']]));
        const second = await c.readResponse();
        t.equal(second.status, 200, 'the next request on the same connection gets its own response');
        t.equal(second.body.toString(), 'next-body', 'with its own body (no stray bytes from the first)');
        t.equal(second.complete, true);
      });
    }
  });
}
