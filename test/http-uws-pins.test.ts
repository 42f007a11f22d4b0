/**
 * Pins: what uWebSockets.js 20.30 itself does with requests it never hands to the proxy, so
 * nothing in JavaScript can answer them (docs/http-edge.md). Each case states today's behaviour:
 * no response at all, the origin sees nothing, and the connection is closed either at once or by
 * uWS's fixed ~10 s HTTP idle timeout. A uWS upgrade that answers any of them (400, 431, 505) or
 * changes the timeout makes its case fail here: then update the case, docs/http-edge.md and the
 * README failure table. CLI only.
 *
 * All cases run concurrently in one test, so the ~10 s closes cost ~10 s once, not each.
 */
import t, { type Test as Tap } from 'tap';
import { cliFrontend, toOrigins } from './lib/frontends.js';
import { startOrigin } from './lib/origins.js';
import { RawClient } from './lib/raw-client.js';

/** How uWS ends the connection: at once (< 3 s), or by its idle timeout (about 10 s, on a 4 s tick). */
type Close = 'prompt' | 'idle';

interface Pin {
  name: string;
  /** Bytes sent in one write, or several writes 100 ms apart (a head arriving in several reads). */
  send: string | string[];
  close: Close;
}

const many = (n: number): string => Array.from({ length: n }, (_, i) => `X-H${i}: v\r\n`).join('');

const pins: Pin[] = [
  { name: 'HTTP/1.0 request', send: 'GET /pin/http10 HTTP/1.0\r\nHost: a.test\r\n\r\n', close: 'idle' },
  { name: '49 header lines (Host and 48 more)', send: `GET /pin/h49 HTTP/1.1\r\nHost: a.test\r\n${many(48)}\r\n`, close: 'idle' },
  { name: 'obs-fold (a header line continued on the next)', send: 'GET /pin/fold HTTP/1.1\r\nHost: a.test\r\nX-A: b\r\n c\r\n\r\n', close: 'idle' },
  { name: 'a space before the colon', send: 'GET /pin/space HTTP/1.1\r\nHost : a.test\r\n\r\n', close: 'idle' },
  { name: 'a Host with a control byte', send: 'GET /pin/ctl HTTP/1.1\r\nHost: a\x01b\r\n\r\n', close: 'idle' },
  { name: 'an absolute-form target', send: 'GET http://b.test/pin/abs HTTP/1.1\r\nHost: a.test\r\n\r\n', close: 'idle' },
  { name: 'OPTIONS * (asterisk-form)', send: 'OPTIONS * HTTP/1.1\r\nHost: a.test\r\n\r\n', close: 'idle' },
  { name: 'HTTP/1.1 with no header at all (no Host)', send: 'GET /pin/bare HTTP/1.1\r\n\r\n', close: 'idle' },
  { name: 'HTTP/1.1 without Host, with other headers', send: 'GET /pin/nohost HTTP/1.1\r\nUser-Agent: raw\r\n\r\n', close: 'prompt' },
  { name: 'Transfer-Encoding with Content-Length', send: 'POST /pin/tecl HTTP/1.1\r\nHost: a.test\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n', close: 'prompt' },
  { name: 'a method outside the standard ones (PURGE)', send: 'PURGE /pin/purge HTTP/1.1\r\nHost: a.test\r\n\r\n', close: 'prompt' },
  { name: 'a 5 KiB head arriving in two reads', send: [`GET /pin/split HTTP/1.1\r\nHost: a.test\r\nX-A: ${'y'.repeat(5000)}`, '\r\n\r\n'], close: 'prompt' },
  { name: 'a 1 MiB header line', send: `GET /pin/huge HTTP/1.1\r\nHost: a.test\r\nX-Big: ${'x'.repeat(1024 * 1024)}\r\n\r\n`, close: 'prompt' },
];

interface Seen {
  /** ms after the last write when the first byte came, or -1. */
  firstByte: number;
  /** ms after the last write when the connection closed, or -1. */
  closed: number;
}

async function observe(t: Tap, port: number, send: string | string[], until: number): Promise<Seen> {
  const c = await RawClient.connect(t, port);
  const parts = Array.isArray(send) ? send : [send];
  for (let i = 0; i < parts.length; i++) {
    if (i > 0) await new Promise((r) => setTimeout(r, 100));
    c.write(parts[i]!);
  }
  const sent = Date.now();
  let firstByte = -1;
  c.socket.once('data', () => (firstByte = Date.now() - sent));
  const closed = (await c.waitClose(until)) ? Date.now() - sent : -1;
  return { firstByte, closed };
}



const inRange = (close: Close, ms: number): boolean => (close === 'prompt' ? ms >= 0 && ms < 3000 : ms >= 4000 && ms < 16_000);

t.test('uWS 20.30 answers none of these, and closes at once or after its ~10 s idle timeout', { timeout: 60_000 }, async (t) => {
  const origin = await startOrigin(t);
  const proxy = await cliFrontend.start(t, toOrigins(origin.port));

  const idle = (async (): Promise<Seen & { status: number }> => {
    // A keep-alive connection left idle after a response: closed by uWS whatever is configured.
    const c = await RawClient.connect(t, proxy.port);
    c.write('GET /pin/keepalive HTTP/1.1\r\nHost: a.test\r\n\r\n');
    const res = await c.readResponse();
    const at = Date.now();
    const closed = (await c.waitClose(16_000)) ? Date.now() - at : -1;
    return { status: res.status, firstByte: -1, closed };
  })();
  const seen = await Promise.all(pins.map((p) => observe(t, proxy.port, p.send, 16_000)));

  for (const [i, p] of pins.entries()) {
    const s = seen[i]!;
    t.equal(s.firstByte, -1, `${p.name}: no response at all`);
    t.ok(inRange(p.close, s.closed), `${p.name}: closed ${p.close === 'prompt' ? 'at once' : 'by the idle timeout'} (after ${s.closed} ms)`);
  }
  const keepAlive = await idle;
  t.equal(keepAlive.status, 200, 'the keep-alive request is answered');
  t.ok(inRange('idle', keepAlive.closed), `an idle keep-alive connection is closed after about 10 s (after ${keepAlive.closed} ms)`);
  t.same(
    origin.requests.map((r) => r.url),
    ['/pin/keepalive'],
    'the origin saw only the keep-alive request, none of the others',
  );
});
