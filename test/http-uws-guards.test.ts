/**
 * Framing faults uWebSockets.js 20.30 lets through (see shared notes uws-20.30.md), which the uWS
 * frontend must catch itself: conflicting Content-Length, non-chunked Transfer-Encoding,
 * Content-Length with Transfer-Encoding (request smuggling), and bodiless responses that uWS would
 * give a body or a second Content-Length. CLI only.
 */
import t from 'tap';
import { cliFrontend, toOrigins } from './lib/frontends.js';
import { startOrigin, readRequests, startRawOrigin } from './lib/origins.js';
import { RawClient, rawRequest } from './lib/raw-client.js';
import { sleep } from './lib/util.js';

const T = { timeout: 40_000 };
const fe = cliFrontend;

t.test('two different Content-Length headers alone get 400, the connection is closed, and nothing reaches the origin', T, async (t) => {
  const origin = await startOrigin(t);
  const proxy = await fe.start(t, toOrigins(origin.port));
  const c = await RawClient.connect(t, proxy.port);
  c.write('POST /a HTTP/1.1\r\nHost: app.example.test\r\nContent-Length: 5\r\nContent-Length: 46\r\n\r\nhello');
  const res = await c.readResponse({ timeout: 12_000 });
  t.equal(res.status, 400, `status (${res.statusLine || 'no response, ended by ' + res.endedBy})`);
  t.ok(await c.waitClose(3000), 'the connection is closed after the 400');
  await sleep(300);
  t.same(origin.requests.map((r) => r.url), [], 'the origin saw no request');
});

// uWS 20.30 frames by the first Content-Length and would parse what follows as a new request.
// When those bytes arrive with the bad request, the proxy may only close (uWS aborts a connection
// that pipelines behind a pending answer), but the smuggled request must never be handled.
t.test('two different Content-Length headers with a request smuggled behind: 400 or a close, and nothing reaches the origin', T, async (t) => {
  const origin = await startOrigin(t);
  const proxy = await fe.start(t, toOrigins(origin.port));
  const c = await RawClient.connect(t, proxy.port);
  c.write(
    'POST /a HTTP/1.1\r\nHost: app.example.test\r\nContent-Length: 5\r\nContent-Length: 46\r\n\r\n' +
      'hello' +
      'GET /smuggled HTTP/1.1\r\nHost: app.example.test\r\n\r\n',
  );
  const res = await c.readResponse({ timeout: 12_000 });
  t.ok(
    res.status === 400 || (res.status === 0 && res.endedBy === 'close'),
    `400 or a close without response (got ${res.statusLine || 'no response, ended by ' + res.endedBy})`,
  );
  t.ok(await c.waitClose(3000), 'the connection is closed');
  t.equal(c.pending.length, 0, 'nothing follows: no answer to the smuggled request');
  await sleep(300);
  t.same(origin.requests.map((r) => r.url), [], 'the origin saw no request (neither /a nor /smuggled)');
});

for (const te of ['identity', 'gzip']) {
  t.test(`Transfer-Encoding: ${te} gets 400 and reaches no origin`, T, async (t) => {
    const origin = await startOrigin(t);
    const proxy = await fe.start(t, toOrigins(origin.port));
    const c = await RawClient.connect(t, proxy.port);
    c.write(`POST /te HTTP/1.1\r\nHost: app.example.test\r\nTransfer-Encoding: ${te}\r\n\r\nabc`);
    const res = await c.readResponse({ timeout: 12_000 });
    t.equal(res.status, 400, `status (${res.statusLine || 'no response, ended by ' + res.endedBy})`);
    await sleep(300);
    t.same(origin.requests.map((r) => r.url), [], 'the origin saw no request');
  });
}

t.test('Content-Length together with Transfer-Encoding gets 400 or a close, and no smuggled request reaches the origin', T, async (t) => {
  const origin = await startOrigin(t);
  const proxy = await fe.start(t, toOrigins(origin.port));
  const c = await RawClient.connect(t, proxy.port);
  const smuggled = 'GET /smuggled HTTP/1.1\r\nHost: app.example.test\r\n\r\n';
  c.write(
    `POST /a HTTP/1.1\r\nHost: app.example.test\r\nContent-Length: ${5 + smuggled.length}\r\nTransfer-Encoding: chunked\r\n\r\n` +
      '0\r\n\r\n' +
      smuggled,
  );
  const res = await c.readResponse({ timeout: 12_000 });
  t.ok(
    res.status === 400 || (res.status === 0 && res.endedBy === 'close'),
    `400 or a close without response (got ${res.statusLine || 'no response, ended by ' + res.endedBy})`,
  );
  if (res.status === 400) t.ok(await c.waitClose(3000), 'the connection is closed after the 400');
  await sleep(300);
  t.same(
    origin.requests.filter((r) => r.url === '/smuggled').length,
    0,
    'the origin never saw the smuggled request',
  );
});

t.test('HEAD, 204 and 304 responses carry no body and at most one Content-Length (none on 204), and the connection stays usable', T, async (t) => {
  // a raw origin that states Content-Length on HEAD and 304 exactly as a real one does
  const origin = await startRawOrigin(t, ({ socket }) => {
    readRequests(socket, (req) => {
      if (req.url === '/head') {
        socket.write('HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 1234\r\n\r\n');
      } else if (req.url === '/204') {
        socket.write('HTTP/1.1 204 No Content\r\nX-Kind: 204\r\n\r\n');
      } else if (req.url === '/304') {
        socket.write('HTTP/1.1 304 Not Modified\r\nETag: "v1"\r\nContent-Length: 1234\r\n\r\n');
      } else {
        socket.write('HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\nnext-body');
      }
    });
  });
  const proxy = await fe.start(t, toOrigins(origin.port));
  const c = await RawClient.connect(t, proxy.port);
  const host: [string, string] = ['Host', 'app.example.test'];

  c.write(rawRequest('HEAD', '/head', [host]));
  const head = await c.readResponse({ method: 'HEAD' });
  t.equal(head.status, 200, 'HEAD: status');
  t.ok(head.header('content-length').length <= 1, `HEAD: at most one Content-Length (${JSON.stringify(head.header('content-length'))})`);
  t.same(head.header('transfer-encoding'), [], 'HEAD: no Transfer-Encoding added');

  c.write(rawRequest('GET', '/204', [host]));
  const r204 = await c.readResponse();
  t.equal(r204.status, 204, '204: status');
  t.same(r204.header('content-length'), [], '204: no Content-Length (RFC 9110 §8.6)');
  t.same(r204.header('transfer-encoding'), [], '204: no Transfer-Encoding');

  c.write(rawRequest('GET', '/304', [host, ['If-None-Match', '"v1"']]));
  const r304 = await c.readResponse();
  t.equal(r304.status, 304, '304: status');
  t.ok(r304.header('content-length').length <= 1, `304: at most one Content-Length (${JSON.stringify(r304.header('content-length'))})`);

  // any body bytes sent after those heads would now be read as the start of this response
  c.write(rawRequest('GET', '/next', [host]));
  const next = await c.readResponse();
  t.equal(next.status, 200, 'the following request gets its own response: no stray body bytes came before it');
  t.equal(next.body.toString(), 'next-body');
  t.equal(c.closed, false, 'the connection is still open');
});
