// HTTP/2 ↔ HTTP/1.1 header conversion (RFC 9113 8.2, 8.3): pure functions, every rule on its own.
import t from 'tap';
import { h2ClientRequest, isExtendedConnect, isMalformed, REFUSE_CONNECT } from '../src/node/h2-request.js';
import { h2ResponseHeaders } from '../src/node/h2-response.js';
import type { ClientRequest } from '../src/exchange/contract.js';
import { limitDefaults } from '../src/config/options.js';

const base = [':method', 'GET', ':scheme', 'https', ':authority', 'example.com', ':path', '/a?b=1'];
const req = (raw: string[], end = true): ClientRequest => {
  const r = h2ClientRequest(raw, end, '10.0.0.1');
  if (!('method' in r) || 'protocol' in r) throw new Error(`not a plain request: ${JSON.stringify(r)}`);
  return r;
};

t.test('pseudo-headers become the request line and Host; none is sent on', async (t) => {
  const r = req([...base, 'accept', '*/*']);
  t.equal(r.method, 'GET');
  t.equal(r.url, '/a?b=1');
  t.equal(r.host, 'example.com');
  t.same(r.headers, ['accept', '*/*', 'host', 'example.com']);
  t.equal(r.scheme, 'https');
  t.equal(r.remoteAddress, '10.0.0.1');
  t.equal(r.body, 'none');
});

t.test('Host: :authority wins over a differing Host field, which is dropped; Host alone is used', async (t) => {
  const r = req([...base, 'host', 'evil.example']);
  t.equal(r.host, 'example.com');
  t.same(r.headers.filter((_, i) => i % 2 === 0 && r.headers[i] === 'host').length, 1);
  t.equal(r.headers[r.headers.indexOf('host') + 1], 'example.com');
  const alone = req([':method', 'GET', ':scheme', 'https', ':path', '/', 'host', 'h.example:8443']);
  t.equal(alone.host, 'h.example:8443');
  const none = h2ClientRequest([':method', 'GET', ':scheme', 'https', ':path', '/'], true, '1.1.1.1');
  t.equal((none as { status: number }).status, 400, 'neither: 400, as an HTTP/1.1 request without Host');
  const bad = h2ClientRequest([':method', 'GET', ':scheme', 'https', ':authority', 'a b', ':path', '/'], true, '1.1.1.1');
  t.equal((bad as { status: number }).status, 400, 'an invalid :authority is refused like an invalid Host');
});

t.test('cookie crumbs are joined with "; " into one field', async (t) => {
  const r = req([...base, 'cookie', 'a=1', 'x', 'y', 'cookie', 'b=2', 'cookie', 'c=3']);
  t.same(r.headers.filter((h) => h === 'cookie').length, 1);
  t.equal(r.headers[r.headers.indexOf('cookie') + 1], 'a=1; b=2; c=3');
});

t.test('connection-specific fields and TE other than trailers make the request malformed', async (t) => {
  for (const [name, value] of [['connection', 'close'], ['keep-alive', '5'], ['proxy-connection', 'x'], ['transfer-encoding', 'chunked'], ['upgrade', 'websocket'], ['te', 'gzip']] as const) {
    t.ok(isMalformed(h2ClientRequest([...base, name, value], true, '')), `${name}: ${value}`);
  }
  const te = req([...base, 'te', 'trailers']);
  t.notOk(te.headers.includes('te'), 'TE: trailers is allowed and not sent on (hop-by-hop)');
  t.ok(isMalformed(h2ClientRequest([':scheme', 'https', ':path', '/'], true, '')), 'no :method');
  t.ok(isMalformed(h2ClientRequest([':method', 'GET', ':scheme', 'https', ':authority', 'a'], true, '')), 'no :path');
  t.ok(isMalformed(h2ClientRequest([...base, 'content-length', '5', 'content-length', '5'], false, '')), 'two content-lengths');
  t.ok(isMalformed(h2ClientRequest([...base, 'content-length', '-1'], false, '')), 'a negative content-length');
});

t.test('body framing: content-length, END_STREAM on HEADERS, or unknown (chunked upstream)', async (t) => {
  t.equal(req([...base, 'content-length', '12'], false).body, 'length');
  t.equal(req([...base, 'content-length', '12'], false).contentLength, 12);
  t.equal(req([...base, 'content-length', '0'], false).body, 'none');
  t.equal(req(base, true).body, 'none');
  t.equal(req(base, false).body, 'chunked');
});

t.test('targets and limits as for HTTP/1.1', async (t) => {
  t.equal((h2ClientRequest([':method', 'GET', ':scheme', 'https', ':authority', 'a', ':path', 'x'], true, '') as { status: number }).status, 400, 'a path not starting with /');
  t.equal(req([':method', 'OPTIONS', ':scheme', 'https', ':authority', 'a', ':path', '*']).url, '*');
  const long = h2ClientRequest([':method', 'GET', ':scheme', 'https', ':authority', 'a', ':path', '/' + 'x'.repeat(limitDefaults.maxUrlLength)], true, '');
  t.equal((long as { status: number }).status, 414);
  const big = h2ClientRequest([...base, 'x-big', 'v'.repeat(limitDefaults.maxHeaderSize)], true, '');
  t.equal((big as { status: number }).status, 431);
  const many: string[] = [...base];
  for (let i = 0; i <= limitDefaults.maxHeaders; i++) many.push(`x-${i}`, '1');
  t.equal((h2ClientRequest(many, true, '') as { status: number }).status, 431);
});

t.test('CONNECT: extended (RFC 8441) carries :protocol; a plain tunnel is refused', async (t) => {
  const ws = h2ClientRequest([':method', 'CONNECT', ':protocol', 'websocket', ':scheme', 'https', ':authority', 'a', ':path', '/chat', 'sec-websocket-version', '13'], false, '');
  t.ok(isExtendedConnect(ws));
  if (isExtendedConnect(ws)) {
    t.equal(ws.protocol, 'websocket');
    t.equal(ws.request.method, 'GET', 'sent upstream as the GET of an HTTP/1.1 handshake');
    t.equal(ws.request.url, '/chat');
  }
  t.equal(h2ClientRequest([':method', 'CONNECT', ':authority', 'a:443'], false, ''), REFUSE_CONNECT);
});

t.test('response headers: lower-case, no connection-specific fields, repeats as arrays, single-value fields once, extra headers win', async (t) => {
  const h = h2ResponseHeaders(
    201,
    ['Content-Type', 'text/html', 'Set-Cookie', 'a=1', 'set-cookie', 'b=2', 'Content-Type', 'text/plain', 'Connection', 'close', 'Keep-Alive', 'x', 'Transfer-Encoding', 'chunked', 'Upgrade', 'h2c', 'HTTP2-Settings', 'x', 'Strict-Transport-Security', 'max-age=1', 'X-A', '1', 'x-a', '2'],
    ['strict-transport-security', 'max-age=63072000'],
  );
  t.same({ ...h }, {
    ':status': 201,
    'content-type': 'text/html',
    'set-cookie': ['a=1', 'b=2'],
    'x-a': ['1', '2'],
    'strict-transport-security': 'max-age=63072000',
  });
});
