/**
 * Strict at the edge (RFC 9110 7.2, RFC 9112 3.2, RFC 6585): on both frontends, a request with
 * more than one Host, a Host that is not `host[:port]`, a target or header fields past the limits
 * gets 400, 414 or 431, the connection is closed after it, and nothing reaches the origin; a
 * request just within each limit passes. Raw requests over real sockets. What uWS 20.30 never
 * hands the proxy (no Host, HTTP/1.0, absolute-form, ...) is pinned in http-uws-pins.test.ts.
 */
import http from 'node:http';
import t, { type Test } from 'tap';
import { frontends } from './lib/frontends.js';
import { startOrigin, type Origin } from './lib/origins.js';
import { RawClient } from './lib/raw-client.js';
import { listenLoopback, sleep } from './lib/util.js';

const T = { timeout: 60_000 };
// Small limits, so that every head stays below the 4 KiB uWS 20.30 takes in more than one read.
const LIMITS = { maxUrlLength: 1024, maxHeaderSize: 512, maxHeadersSize: 2048, maxHeaders: 20 };
const WS_KEY = 'dGhlIHNhbXBsZSBub25jZQ==';

/** A raw request head: the request line, the header lines as given, the empty line. */
function head(target: string, lines: Array<[string, string]>, version = 'HTTP/1.1'): string {
  return `GET ${target} ${version}\r\n` + lines.map(([k, v]) => `${k}: ${v}\r\n`).join('') + '\r\n';
}

/** Size of header field lines as the limits count them: name, `: `, value. */
const fieldBytes = (lines: Array<[string, string]>): number => lines.reduce((n, [k, v]) => n + k.length + 2 + v.length, 0);

/** Filler lines `X-F<i>` whose field lines together with `base` make exactly `total` bytes. */
function fill(base: Array<[string, string]>, total: number, perLine: number): Array<[string, string]> {
  const out = [...base];
  let left = total - fieldBytes(out);
  for (let i = 0; left > 0; i++) {
    const name = `X-F${i}`;
    const size = Math.min(perLine, left);
    // A line shorter than its name can hold: lengthen the previous value instead.
    if (size < name.length + 3) {
      const last = out[out.length - 1]!;
      out[out.length - 1] = [last[0], last[1] + 'v'.repeat(size)];
      break;
    }
    out.push([name, 'v'.repeat(size - name.length - 2)]);
    left -= size;
  }
  return out;
}

async function expectRefused(t: Test, port: number, bytes: string, status: number, what: string): Promise<void> {
  const c = await RawClient.connect(t, port);
  c.write(bytes);
  const res = await c.readResponse({ timeout: 5000 });
  t.equal(res.status, status, `${what}: status (${res.statusLine || 'no response, ended by ' + res.endedBy})`);
  t.match(res.header('connection').join(',').toLowerCase(), /close/, `${what}: Connection: close`);
  t.ok(await c.waitClose(3000), `${what}: the connection is closed`);
}

async function expectPassed(t: Test, origin: Origin, port: number, bytes: string, path: string, what: string): Promise<void> {
  const c = await RawClient.connect(t, port);
  c.write(bytes);
  const res = await c.readResponse({ timeout: 5000 });
  t.equal(res.status, 200, `${what}: status (${res.statusLine || 'no response, ended by ' + res.endedBy})`);
  t.ok(origin.requests.some((r) => r.url === path), `${what}: the origin got it`);
}

function nothingReached(t: Test, origin: Origin, prefix: string): void {
  const seen = origin.requests.filter((r) => r.url.startsWith(prefix)).map((r) => r.url);
  t.same(seen, [], `the origin saw none of the ${prefix} requests`);
}

const badHosts = ['a b', 'a/evil', 'user@a', '<x>"a', '', 'ex%61mple.test', '[::1', '[zz::1]', 'a:99999', 'a:8o', ':80'];
const goodHosts = ['example.test', 'example.test:8080', '127.0.0.1:80', '[::1]:8080', 'a-b_c~d.test', 'example.test:'];

for (const fe of frontends) {
  t.test(`${fe.name}: strict at the edge`, T, async (t) => {
    const origin = await startOrigin(t);
    const proxy = await fe.start(t, { ...toOrigin(origin.port), limits: LIMITS });
    const port = proxy.port;

    t.test('more than one Host, or a Host that is not host[:port]: 400 and closed, nothing reaches the origin', async (t) => {
      await expectRefused(t, port, head('/bad/two', [['Host', 'a.test'], ['Host', 'b.test']]), 400, 'two Host lines');
      await Promise.all(badHosts.map((h, i) => expectRefused(t, port, head(`/bad/host-${i}`, [['Host', h]]), 400, `Host ${JSON.stringify(h)}`)));
      await sleep(200);
      nothingReached(t, origin, '/bad/');
    });

    t.test('a valid Host passes, and the origin gets exactly it as Host and X-Forwarded-Host', async (t) => {
      for (const [i, h] of goodHosts.entries()) {
        await expectPassed(t, origin, port, head(`/good/host-${i}`, [['Host', h]]), `/good/host-${i}`, `Host ${h}`);
        const seen = origin.requests.find((r) => r.url === `/good/host-${i}`);
        t.same(seen?.header('host'), [h], `Host ${h} upstream`);
        t.same(seen?.header('x-forwarded-host'), [h], `X-Forwarded-Host ${h}`);
      }
    });

    t.test('a refused Host with a body, or with a request pipelined behind it: nothing reaches the origin', async (t) => {
      await expectRefused(t, port, 'POST /bad/post HTTP/1.1\r\nHost: a b\r\nContent-Length: 5\r\n\r\nhello', 400, 'POST with a body');
      const c = await RawClient.connect(t, port);
      c.write(head('/bad/first', [['Host', 'user@a']]) + head('/bad/behind', [['Host', 'a.test']]));
      const res = await c.readResponse({ timeout: 5000 });
      // uWS aborts a connection that pipelines behind a pending answer: a close without the 400.
      t.ok(res.status === 400 || (res.status === 0 && res.endedBy === 'close'), `400 or a close (got ${res.statusLine || res.endedBy})`);
      t.ok(await c.waitClose(3000), 'the connection is closed');
      t.equal(c.pending.length, 0, 'no answer to the request behind');
      await sleep(200);
      nothingReached(t, origin, '/bad/');
    });

    t.test('the request target: 414 past max_url_length, taken at it', async (t) => {
      const at = '/url/' + 'u'.repeat(LIMITS.maxUrlLength - 5);
      await expectPassed(t, origin, port, head(at, [['Host', 'a.test']]), at, 'a target of max_url_length');
      await expectRefused(t, port, head(at + 'u', [['Host', 'a.test']]), 414, 'one byte more');
      await expectRefused(t, port, head('/bad/q?' + 'q'.repeat(LIMITS.maxUrlLength), [['Host', 'a.test']]), 414, 'a long query');
      await sleep(200);
      nothingReached(t, origin, '/bad/');
      t.equal(origin.requests.filter((r) => r.url.startsWith('/url/')).length, 1, 'only the target at the limit reached the origin');
    });

    t.test('one header line: 431 past max_header_size, taken at it', async (t) => {
      const value = (n: number): string => 'x'.repeat(n - 'X-Big'.length - 2);
      await expectPassed(t, origin, port, head('/line/ok', [['Host', 'a.test'], ['X-Big', value(LIMITS.maxHeaderSize)]]), '/line/ok', 'a line of max_header_size');
      await expectRefused(t, port, head('/bad/line', [['Host', 'a.test'], ['X-Big', value(LIMITS.maxHeaderSize + 1)]]), 431, 'one byte more');
      await sleep(200);
      nothingReached(t, origin, '/bad/');
    });

    t.test('all header lines: 431 past max_headers_size or max_headers, taken at them', async (t) => {
      const base: Array<[string, string]> = [['Host', 'a.test']];
      const atSize = fill(base, LIMITS.maxHeadersSize, LIMITS.maxHeaderSize);
      t.equal(fieldBytes(atSize), LIMITS.maxHeadersSize);
      t.ok(atSize.length <= LIMITS.maxHeaders);
      await expectPassed(t, origin, port, head('/size/ok', atSize), '/size/ok', 'fields of max_headers_size in all');
      const over = fill(base, LIMITS.maxHeadersSize + 1, LIMITS.maxHeaderSize);
      await expectRefused(t, port, head('/bad/size', over), 431, 'one byte more');

      const lines = (n: number): Array<[string, string]> => [['Host', 'a.test'], ...Array.from({ length: n - 1 }, (_, i): [string, string] => [`X-N${i}`, 'v'])];
      await expectPassed(t, origin, port, head('/count/ok', lines(LIMITS.maxHeaders)), '/count/ok', 'max_headers lines');
      await expectRefused(t, port, head('/bad/count', lines(LIMITS.maxHeaders + 1)), 431, 'one line more');
      await sleep(200);
      nothingReached(t, origin, '/bad/');
    });

    if (fe.name === 'cli') {
      t.test('a WebSocket handshake is held to the same rules: 400 for a bad Host, 431 past the limits', async (t) => {
        const ws: Array<[string, string]> = [['Upgrade', 'websocket'], ['Connection', 'Upgrade'], ['Sec-WebSocket-Key', WS_KEY], ['Sec-WebSocket-Version', '13']];
        await expectRefused(t, port, head('/bad/ws-host', [['Host', 'a/evil'], ...ws]), 400, 'a handshake with Host a/evil');
        await expectRefused(t, port, head('/bad/ws-hosts', [['Host', 'a.test'], ['Host', 'b.test'], ...ws]), 400, 'a handshake with two Host lines');
        await expectRefused(t, port, head('/bad/ws-big', [['Host', 'a.test'], ['X-Big', 'x'.repeat(LIMITS.maxHeaderSize)], ...ws]), 431, 'a handshake with a long line');
        await sleep(200);
        nothingReached(t, origin, '/bad/');
      });
    }

    if (fe.name === 'node-http') {
      t.test('HTTP/1.1 without Host: 400 (RFC 9112 3.2); HTTP/1.0 without Host passes, as nginx does', async (t) => {
        await expectRefused(t, port, head('/bad/no-host', [['User-Agent', 'raw']]), 400, 'no Host');
        await expectPassed(t, origin, port, head('/v10', [['User-Agent', 'raw']], 'HTTP/1.0'), '/v10', 'HTTP/1.0 without Host');
        await sleep(200);
        nothingReached(t, origin, '/bad/');
      });

      t.test('an absolute-form target: its authority is the Host routed on and sent upstream (RFC 9112 3.2.2)', async (t) => {
        await expectPassed(t, origin, port, head('http://b.example:8080/abs?q=1', [['Host', 'a.test']]), '/abs?q=1', 'absolute-form');
        const seen = origin.requests.find((r) => r.url === '/abs?q=1');
        t.same(seen?.header('host'), ['b.example:8080'], 'the upstream Host is the target authority');
        t.same(seen?.header('x-forwarded-host'), ['b.example:8080'], 'so is X-Forwarded-Host');
        await expectPassed(t, origin, port, head('HTTP://c.example', [['Host', 'a.test']]), '/', 'absolute-form with no path');
        t.same(origin.requests.at(-1)?.header('host'), ['c.example']);
        // Still HTTP/1.1 without Host (RFC 9112 3.2): nginx answers 400 too.
        await expectRefused(t, port, head('http://c.example/bad/abs-no-host', []), 400, 'absolute-form without a Host line');
        await expectRefused(t, port, head('http://user@b.example/bad/userinfo', [['Host', 'a.test']]), 400, 'userinfo in the target');
        await expectRefused(t, port, head('ftp://b.example/bad/ftp', [['Host', 'a.test']]), 400, 'another scheme');
        await expectRefused(t, port, head('http://b.example/bad/host', [['Host', 'a b']]), 400, 'absolute-form with an invalid Host line');
        await sleep(200);
        nothingReached(t, origin, '/bad/');
      });

      t.test('a request pipelined behind a refused one is never proxied', async (t) => {
        const c = await RawClient.connect(t, port);
        c.write('POST /bad/p1 HTTP/1.1\r\nHost: a b\r\nContent-Length: 3\r\n\r\nabc' + head('/bad/p2', [['Host', 'a.test']]));
        const res = await c.readResponse({ timeout: 5000 });
        t.equal(res.status, 400);
        t.ok(await c.waitClose(3000), 'closed');
        t.equal(c.pending.length, 0, 'no second answer');
        await sleep(200);
        nothingReached(t, origin, '/bad/');
      });
    }
  });
}

// The node:http upgrade handler (nodeUpgradeHandler) applies the same rules to a handshake.
t.test('node-http upgrade: a handshake with a bad Host or past the limits is refused, never sent upstream', T, async (t) => {
  const origin = await startOrigin(t);
  const core = await import('@portcullis/core');
  const proxy = core.createProxy({ target: `http://127.0.0.1:${origin.port}`, limits: LIMITS });
  const server = http.createServer(core.nodeHttpHandler(proxy));
  server.on('upgrade', core.nodeUpgradeHandler(proxy));
  t.teardown(() => proxy.close());
  const { port } = await listenLoopback(t, server);
  const ws: Array<[string, string]> = [['Upgrade', 'websocket'], ['Connection', 'Upgrade'], ['Sec-WebSocket-Key', WS_KEY], ['Sec-WebSocket-Version', '13']];
  await expectRefused(t, port, head('/bad/ws-host', [['Host', 'a/evil'], ...ws]), 400, 'Host a/evil');
  await expectRefused(t, port, head('/bad/ws-hosts', [['Host', 'a.test'], ['Host', 'b.test'], ...ws]), 400, 'two Host lines');
  await expectRefused(t, port, head('/bad/ws-nohost', ws), 400, 'no Host');
  await expectRefused(t, port, head('/bad/ws-big', [['Host', 'a.test'], ['X-Big', 'x'.repeat(LIMITS.maxHeaderSize)], ...ws]), 431, 'a long line');
  await sleep(200);
  nothingReached(t, origin, '/bad/');
});

function toOrigin(port: number): { upstreams: Array<{ name: string; servers: number[] }> } {
  return { upstreams: [{ name: 'app', servers: [port] }] };
}
