import t from 'tap';
import { compileForwarding } from '../src/headers/forwarded.js';
import { forwardingDefaults } from '../src/config/options.js';
import { serializeRequestHead, type RequestHeadInput } from '../src/http1/request-head.js';

const untrusting = compileForwarding(forwardingDefaults);
const trusting = compileForwarding({ ...forwardingDefaults, trustedProxies: ['10.0.0.0/8', 'fd00::/8'] });

function head(overrides: Partial<RequestHeadInput>): string {
  return serializeRequestHead({
    method: 'GET',
    target: '/',
    headers: ['host', 'example.com'],
    peer: '192.0.2.1',
    scheme: 'http',
    forwarding: untrusting,
    defaultHost: 'origin:8080',
    upgrade: false,
    body: 'none',
    contentLength: 0,
    ...overrides,
  });
}

/** The head as [name, value] pairs, request line first as ['', line]. */
function lines(raw: string): string[][] {
  const parts = raw.split('\r\n');
  return [['', parts[0]!], ...parts.slice(1, -2).map((l) => [l.slice(0, l.indexOf(':')), l.slice(l.indexOf(':') + 2)])];
}

function values(raw: string, name: string): string[] {
  return lines(raw)
    .filter(([n]) => n === name)
    .map(([, v]) => v!);
}

t.test('a plain GET: request line, Host first, forwarding headers, CRLFCRLF, no Connection', async (t) => {
  t.equal(
    head({ headers: ['host', 'example.com', 'user-agent', 'curl/8', 'accept', '*/*'], target: '/a?b=1' }),
    'GET /a?b=1 HTTP/1.1\r\n' +
      'host: example.com\r\n' +
      'user-agent: curl/8\r\n' +
      'accept: */*\r\n' +
      'x-forwarded-for: 192.0.2.1\r\n' +
      'x-forwarded-proto: http\r\n' +
      'x-forwarded-host: example.com\r\n' +
      '\r\n',
  );
});

t.test('the method is sent as received, case included', async (t) => {
  t.match(head({ method: 'PROPFIND' }), /^PROPFIND \/ HTTP\/1\.1\r\n/);
  t.match(head({ method: 'get' }), /^get \/ HTTP\/1\.1\r\n/);
});

t.test('Host: kept as the client sent it, with its port and case', async (t) => {
  const raw = head({ headers: ['accept', '*/*', 'host', 'Example.COM:8443'] });
  t.same(lines(raw)[1], ['host', 'Example.COM:8443']);
  t.same(values(raw, 'x-forwarded-host'), ['Example.COM:8443']);
});

t.test('Host: overridden by hostHeader; X-Forwarded-Host still tells the client Host', async (t) => {
  const raw = head({ headers: ['host', 'example.com'], hostHeader: 'internal.svc' });
  t.same(values(raw, 'host'), ['internal.svc']);
  t.same(values(raw, 'x-forwarded-host'), ['example.com']);
});

t.test('Host: defaultHost when the client sent none (or an empty one); then no X-Forwarded-Host', async (t) => {
  for (const headers of [['accept', '*/*'], ['host', '']]) {
    const raw = head({ headers });
    t.same(values(raw, 'host'), ['origin:8080']);
    t.same(values(raw, 'x-forwarded-host'), []);
  }
});

t.test('Host: only the first of duplicated Host headers is sent', async (t) => {
  t.same(values(head({ headers: ['host', 'a.example', 'host', 'b.example'] }), 'host'), ['a.example']);
});

t.test('duplicate headers stay separate, in arrival order, interleaved as received', async (t) => {
  const raw = head({
    headers: ['host', 'h', 'cookie', 'a=1', 'accept', 'x', 'cookie', 'b=2', 'x-custom', '1', 'x-custom', '2'],
  });
  t.same(lines(raw).slice(2, 8), [
    ['cookie', 'a=1'],
    ['accept', 'x'],
    ['cookie', 'b=2'],
    ['x-custom', '1'],
    ['x-custom', '2'],
    ['x-forwarded-for', '192.0.2.1'],
  ]);
});

t.test('hop-by-hop headers are dropped', async (t) => {
  const raw = head({
    headers: [
      'host', 'h',
      'connection', 'keep-alive',
      'keep-alive', 'timeout=5',
      'proxy-connection', 'keep-alive',
      'te', 'trailers',
      'trailer', 'x',
      'upgrade', 'h2c',
      'accept', '*/*',
    ],
  });
  t.same(lines(raw).map(([n]) => n), ['', 'host', 'accept', 'x-forwarded-for', 'x-forwarded-proto', 'x-forwarded-host']);
});

t.test('Connection-listed headers are dropped wherever they appear, case-insensitively', async (t) => {
  const raw = head({
    headers: [
      'host', 'h',
      'x-secret', 'before',
      'accept', '*/*',
      'connection', 'keep-alive, X-Secret , x-trace',
      'x-trace', '1',
      'x-secret', 'after',
      'x-kept', 'yes',
    ],
  });
  t.same(lines(raw).map(([n]) => n), ['', 'host', 'accept', 'x-kept', 'x-forwarded-for', 'x-forwarded-proto', 'x-forwarded-host']);
});

t.test('Connection cannot remove Host, and a listed X-Forwarded-For still gets the peer', async (t) => {
  const raw = head({
    headers: ['host', 'example.com', 'connection', 'host, x-forwarded-for', 'x-forwarded-for', '10.9.9.9'],
    peer: '10.0.0.1',
    forwarding: trusting,
  });
  t.same(values(raw, 'host'), ['example.com']);
  t.same(values(raw, 'x-forwarded-for'), ['10.0.0.1']);
});

t.test('client framing and Expect are dropped; the proxy frames the body itself', async (t) => {
  const headers = ['host', 'h', 'content-length', '5', 'transfer-encoding', 'chunked', 'expect', '100-continue'];
  const length = head({ method: 'POST', headers, body: 'length', contentLength: 42 });
  t.same(values(length, 'content-length'), ['42']);
  t.same(values(length, 'transfer-encoding'), []);
  t.same(values(length, 'expect'), []);
  const chunked = head({ method: 'POST', headers, body: 'chunked' });
  t.same(values(chunked, 'transfer-encoding'), ['chunked']);
  t.same(values(chunked, 'content-length'), []);
});

t.test('a bodiless POST, PUT or PATCH announces content-length: 0; GET, DELETE and others none', async (t) => {
  for (const method of ['POST', 'PUT', 'PATCH']) t.same(values(head({ method }), 'content-length'), ['0'], method);
  for (const method of ['GET', 'HEAD', 'DELETE', 'OPTIONS', 'post']) t.same(values(head({ method }), 'content-length'), [], method);
});

t.test('content-length 0 with body "length" is sent as 0', async (t) => {
  t.same(values(head({ method: 'GET', body: 'length', contentLength: 0 }), 'content-length'), ['0']);
});

t.test('upgrade head: connection: upgrade and upgrade: websocket, client upgrade headers replaced', async (t) => {
  const raw = head({
    headers: [
      'host', 'ws.example',
      'connection', 'Upgrade',
      'upgrade', 'WebSocket',
      'sec-websocket-key', 'dGhlIHNhbXBsZSBub25jZQ==',
      'sec-websocket-version', '13',
    ],
    upgrade: true,
  });
  t.ok(raw.endsWith('connection: upgrade\r\nupgrade: websocket\r\n\r\n'));
  t.same(values(raw, 'connection'), ['upgrade']);
  t.same(values(raw, 'upgrade'), ['websocket']);
  t.same(values(raw, 'sec-websocket-key'), ['dGhlIHNhbXBsZSBub25jZQ==']);
  t.same(values(raw, 'sec-websocket-version'), ['13']);
});

t.test('untrusted peer: spoofed X-Forwarded-* and Forwarded are replaced by what the proxy saw', async (t) => {
  const raw = head({
    headers: [
      'host', 'example.com',
      'x-forwarded-for', '6.6.6.6',
      'x-forwarded-for', '7.7.7.7',
      'x-forwarded-proto', 'https',
      'x-forwarded-host', 'evil.example',
      'x-forwarded-port', '443',
      'x-forwarded-prefix', '/admin',
      'forwarded', 'for=6.6.6.6',
      'x-forwarded', 'not a forwarding header we own',
    ],
    peer: '192.0.2.1',
    scheme: 'http',
  });
  t.same(values(raw, 'x-forwarded-for'), ['192.0.2.1']);
  t.same(values(raw, 'x-forwarded-proto'), ['http']);
  t.same(values(raw, 'x-forwarded-host'), ['example.com']);
  t.same(values(raw, 'x-forwarded-port'), []);
  t.same(values(raw, 'x-forwarded-prefix'), []);
  t.same(values(raw, 'forwarded'), [], 'spoofed Forwarded dropped even when the proxy adds none');
  t.same(values(raw, 'x-forwarded'), ['not a forwarding header we own']);
});

t.test('untrusted peer: a peer in the trusted list of another config is still untrusted here', async (t) => {
  t.same(values(head({ headers: ['x-forwarded-for', '1.1.1.1'], peer: '10.0.0.1' }), 'x-forwarded-for'), ['10.0.0.1']);
});

t.test('trusted peer: the chain is appended, several XFF headers joined first', async (t) => {
  const raw = head({
    headers: ['host', 'example.com', 'x-forwarded-for', '203.0.113.9, 10.0.0.7', 'x-forwarded-for', '10.0.0.8'],
    peer: '10.0.0.1',
    forwarding: trusting,
  });
  t.same(values(raw, 'x-forwarded-for'), ['203.0.113.9, 10.0.0.7, 10.0.0.8, 10.0.0.1']);
});

t.test('trusted peer: incoming X-Forwarded-Proto/-Host and others are kept', async (t) => {
  const raw = head({
    headers: ['host', 'internal:80', 'x-forwarded-proto', 'https', 'x-forwarded-host', 'example.com', 'x-forwarded-port', '443'],
    peer: '10.0.0.1',
    scheme: 'http',
    forwarding: trusting,
  });
  t.same(values(raw, 'x-forwarded-proto'), ['https']);
  t.same(values(raw, 'x-forwarded-host'), ['example.com']);
  t.same(values(raw, 'x-forwarded-port'), ['443']);
});

t.test('trusted peer without forwarding headers: they are set as for any client', async (t) => {
  const raw = head({ headers: ['host', 'example.com'], peer: '10.0.0.1', scheme: 'https', forwarding: trusting });
  t.same(values(raw, 'x-forwarded-for'), ['10.0.0.1']);
  t.same(values(raw, 'x-forwarded-proto'), ['https']);
  t.same(values(raw, 'x-forwarded-host'), ['example.com']);
});

t.test('IPv6 peer: bare in X-Forwarded-For, bracketed and quoted in Forwarded', async (t) => {
  const forwarding = compileForwarding({ ...forwardingDefaults, forwarded: true });
  const raw = head({ headers: ['host', 'example.com'], peer: '2001:db8::1', scheme: 'https', forwarding });
  t.same(values(raw, 'x-forwarded-for'), ['2001:db8::1']);
  t.same(values(raw, 'forwarded'), ['for="[2001:db8::1]";proto=https;host=example.com']);
});

t.test('Forwarded: replaces the incoming one from an untrusted peer', async (t) => {
  const forwarding = compileForwarding({ ...forwardingDefaults, forwarded: true });
  const raw = head({ headers: ['host', 'example.com:8080', 'forwarded', 'for=6.6.6.6'], peer: '192.0.2.1', forwarding });
  t.same(values(raw, 'forwarded'), ['for=192.0.2.1;proto=http;host="example.com:8080"']);
});

t.test('Forwarded: appended to the incoming ones from a trusted peer, as one list', async (t) => {
  const forwarding = compileForwarding({ ...forwardingDefaults, forwarded: true, trustedProxies: ['10.0.0.0/8'] });
  const raw = head({
    headers: ['forwarded', 'for=203.0.113.9;proto=https', 'host', 'example.com', 'forwarded', 'for=10.0.0.7'],
    peer: '10.0.0.1',
    forwarding,
  });
  t.same(values(raw, 'forwarded'), ['for=203.0.113.9;proto=https, for=10.0.0.7, for=10.0.0.1;proto=http;host=example.com']);
});

t.test('Forwarded: without the option, a trusted peer\'s Forwarded passes through untouched', async (t) => {
  const raw = head({ headers: ['host', 'h', 'forwarded', 'for=1.2.3.4'], peer: '10.0.0.1', forwarding: trusting });
  t.same(values(raw, 'forwarded'), ['for=1.2.3.4']);
});

t.test('Via: appended to incoming Via headers, even from an untrusted peer', async (t) => {
  const forwarding = compileForwarding({ ...forwardingDefaults, via: 'portcullis' });
  t.same(values(head({ headers: ['host', 'h'], forwarding }), 'via'), ['1.1 portcullis']);
  t.same(values(head({ headers: ['via', '1.0 fred', 'host', 'h', 'via', '1.1 p.example (Apache/1.1)'], forwarding }), 'via'), [
    '1.0 fred, 1.1 p.example (Apache/1.1), 1.1 portcullis',
  ]);
});

t.test('Via: without the option, incoming Via passes through and none is added', async (t) => {
  t.same(values(head({ headers: ['host', 'h', 'via', '1.0 fred'] }), 'via'), ['1.0 fred']);
});

t.test('order of the proxy\'s own headers: forwarding, then framing, then upgrade', async (t) => {
  const forwarding = compileForwarding({ ...forwardingDefaults, forwarded: true, via: 'pc' });
  const raw = head({ method: 'POST', headers: ['host', 'h'], forwarding, body: 'chunked', upgrade: true });
  t.same(lines(raw).map(([n]) => n), [
    '', 'host', 'x-forwarded-for', 'x-forwarded-proto', 'x-forwarded-host', 'forwarded', 'via', 'transfer-encoding', 'connection', 'upgrade',
  ]);
});

t.test('an empty header list still yields a valid head', async (t) => {
  t.equal(
    head({ headers: [] }),
    'GET / HTTP/1.1\r\nhost: origin:8080\r\nx-forwarded-for: 192.0.2.1\r\nx-forwarded-proto: http\r\n\r\n',
  );
});

t.test('trusted peer: empty X-Forwarded-For values add no empty list elements', async (t) => {
  const raw = head({ headers: ['x-forwarded-for', '', 'x-forwarded-for', '203.0.113.9', 'x-forwarded-for', ''], peer: '10.0.0.1', forwarding: trusting });
  t.same(values(raw, 'x-forwarded-for'), ['203.0.113.9, 10.0.0.1']);
});
