/**
 * WebSockets over HTTP/2 (RFC 8441) through an `http2` TLS listener of the CLI: the listener
 * announces SETTINGS_ENABLE_CONNECT_PROTOCOL, an extended CONNECT stream (`:protocol websocket`)
 * becomes an ordinary HTTP/1.1 Upgrade handshake to a `ws` WebSocketServer origin, the 101 becomes
 * the stream's 200, and from there the stream's DATA and the upstream socket carry the same
 * WebSocket frames both ways (masked from the client, unmasked from the origin, extensions and
 * close codes end to end, flow control both ways). Also: several WebSockets and plain GETs
 * multiplexed on one connection, HTTP/1.1 WebSockets on the same port (ALPN http/1.1), refusals
 * (origin 403, unreachable upstream, forged 101s, wrong version, unknown :protocol, plain CONNECT),
 * either side going away (client RST_STREAM or END_STREAM or lost connection, upstream socket
 * reset or closed) without harming the connection's other streams or the worker, and a quiet
 * WebSocket against the listener's idle_timeout.
 *
 * The h2 client is node:http2 speaking raw WebSocket frames on the stream (helpers below); the
 * origin is node:http + `ws` WebSocketServers whose connections the tests can reach and watch.
 */
import { createHash, randomBytes } from 'node:crypto';
import http from 'node:http';
import http2, { type ClientHttp2Session, type ClientHttp2Stream, type IncomingHttpHeaders } from 'node:http2';
import type net from 'node:net';
import tls from 'node:tls';
import zlib from 'node:zlib';
import t, { type Test } from 'tap';
import WebSocket, { WebSocketServer } from 'ws';
import { certDir, issue, makeCa } from './lib/certs.js';
import { startCliWithConfig } from './lib/tls.js';
import { deferred, freePort, listenLoopback, sha256, within, withTimeout } from './lib/util.js';
import { parseClientFrames } from './lib/ws.js';

const T = { timeout: 30_000 };
const HSTS = 'max-age=63072000';
const { NGHTTP2_CANCEL, NGHTTP2_CONNECT_ERROR, NGHTTP2_INTERNAL_ERROR, NGHTTP2_NO_ERROR } = http2.constants;

// ---- the origin: node:http + ws, every WebSocket connection reachable by its URL --------------

interface Seen {
  url: string;
  headers: Array<[string, string]>;
  header(name: string): string[];
}

const acceptOf = (key: string): string => createHash('sha1').update(key + '258EAFA5-E914-47DA-95CA-C5AB0DC85B11').digest('base64');

function seenOf(req: http.IncomingMessage): Seen {
  const headers: Array<[string, string]> = [];
  for (let i = 0; i < req.rawHeaders.length; i += 2) headers.push([req.rawHeaders[i]!, req.rawHeaders[i + 1]!]);
  return { url: req.url ?? '', headers, header: (n) => headers.filter(([k]) => k.toLowerCase() === n.toLowerCase()).map(([, v]) => v) };
}

interface OriginConn {
  url: string;
  ws: WebSocket;
  socket: net.Socket;
  /** The ws 'close' event: the close code and reason the origin received (1006: none). */
  closed: Promise<{ code: number; reason: string }>;
  /** The origin's TCP socket closed. */
  socketClosed: Promise<void>;
  /** Message bytes received (on /sink/ paths, which never answer). */
  readonly received: number;
  /** Resolves once `n` message bytes were received on a /sink/ path. */
  receivedAtLeast(n: number): Promise<void>;
}

interface WsOrigin {
  port: number;
  upgrades: Seen[];
  plain: Seen[];
  /** The origin-side connection of the WebSocket opened on `url` (past or future). */
  conn(url: string): Promise<OriginConn>;
  /** The socket of a handshake on /hold/... that the origin never answers. */
  held(url: string): Promise<net.Socket>;
}

/**
 * Paths: /status/<n> answers the handshake with HTTP <n> and a body; /hold/... never answers
 * (the test gets the socket); /forged/accept and /forged/protocol answer an invalid 101;
 * /greet/... sends two messages right behind its 101; /sink/... counts what it receives and never
 * answers; /z/... negotiates permessage-deflate (every message the origin sends compressed);
 * anything else is a plain echo.
 * The subprotocol chosen is the LAST one the client offered, so a test can tell the whole list
 * arrived. Plain requests get `plain <url>`.
 */
async function startScriptedWsOrigin(t: Test): Promise<WsOrigin> {
  const upgrades: Seen[] = [];
  const plain: Seen[] = [];
  const conns = new Map<string, ReturnType<typeof deferred<OriginConn>>>();
  const slot = (url: string): ReturnType<typeof deferred<OriginConn>> => {
    let d = conns.get(url);
    if (d === undefined) conns.set(url, (d = deferred<OriginConn>()));
    return d;
  };
  const holds = new Map<string, ReturnType<typeof deferred<net.Socket>>>();
  const holdSlot = (url: string): ReturnType<typeof deferred<net.Socket>> => {
    let d = holds.get(url);
    if (d === undefined) holds.set(url, (d = deferred<net.Socket>()));
    return d;
  };
  const wssOf = (deflate: boolean): WebSocketServer =>
    new WebSocketServer({
      noServer: true,
      handleProtocols: (ps) => [...ps].pop() ?? false,
      perMessageDeflate: deflate ? { threshold: 0 } : false,
      maxPayload: 1 << 28,
    });
  const plainWss = wssOf(false);
  plainWss.on('headers', (h) => h.push('Set-Cookie: origin=1; Path=/', 'Set-Cookie: second=2'));
  const deflateWss = wssOf(true);
  const server = http.createServer((req, res) => {
    plain.push(seenOf(req));
    req.resume();
    const body = `plain ${req.url}`;
    res.writeHead(200, { 'content-type': 'text/plain', 'content-length': Buffer.byteLength(body) });
    res.end(body);
  });
  server.keepAliveTimeout = 30_000;
  server.on('upgrade', (req: http.IncomingMessage, socket: net.Socket, head: Buffer) => {
    upgrades.push(seenOf(req));
    socket.on('error', () => {});
    const url = req.url ?? '/';
    const status = /^\/status\/(\d+)/.exec(url);
    if (status) {
      const body = `origin refused the handshake with ${status[1]}`;
      socket.end(`HTTP/1.1 ${status[1]} Refused\r\nContent-Type: text/plain\r\nX-Origin-Refusal: yes\r\nContent-Length: ${body.length}\r\n\r\n${body}`);
      return;
    }
    const forged = /^\/forged\/(accept|protocol)/.exec(url);
    if (forged) {
      // A 101 the proxy must not accept: a wrong Sec-WebSocket-Accept, or a subprotocol never offered.
      const key = String(req.headers['sec-websocket-key']);
      const accept = forged[1] === 'accept' ? acceptOf('not the key') : acceptOf(key);
      const proto = forged[1] === 'protocol' ? 'Sec-WebSocket-Protocol: never-offered\r\n' : '';
      socket.write(`HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${accept}\r\n${proto}\r\n`);
      return;
    }
    if (url.startsWith('/hold/')) {
      holdSlot(url).resolve(socket);
      return;
    }
    const wss = url.startsWith('/z/') ? deflateWss : plainWss;
    // /greet/: a first message written in the same writev as the 101 (the socket is corked), so
    // the proxy most likely reads both at once (the bytes behind the head).
    const greet = url.startsWith('/greet/');
    if (greet) socket.cork();
    wss.handleUpgrade(req, socket, head, (ws) => {
      if (greet) {
        ws.send('welcome');
        ws.send(Buffer.from([1, 2, 3]));
        socket.uncork();
      }
      const closed = deferred<{ code: number; reason: string }>();
      const socketClosed = deferred();
      socket.once('close', () => socketClosed.resolve());
      ws.on('close', (code, reason) => closed.resolve({ code, reason: reason.toString() }));
      ws.on('error', () => {});
      let received = 0;
      const want: Array<{ n: number; done: () => void }> = [];
      if (url.startsWith('/sink/')) {
        ws.on('message', (data: Buffer) => {
          received += data.length;
          for (const w of want.filter((x) => received >= x.n)) {
            want.splice(want.indexOf(w), 1);
            w.done();
          }
        });
      } else ws.on('message', (data: Buffer, binary: boolean) => ws.send(data, { binary }));
      slot(url).resolve({
        url,
        ws,
        socket,
        closed: closed.promise,
        socketClosed: socketClosed.promise,
        get received() {
          return received;
        },
        receivedAtLeast: (n) => (received >= n ? Promise.resolve() : new Promise<void>((done) => want.push({ n, done }))),
      });
    });
  });
  const { port } = await listenLoopback(t, server, () => {
    for (const w of [plainWss, deflateWss]) {
      for (const c of w.clients) c.terminate();
      w.close();
    }
  });
  return { port, upgrades, plain, conn: (url) => slot(url).promise, held: (url) => holdSlot(url).promise };
}

// ---- WebSocket frames as an h2 client writes and reads them -----------------------------------

/** A client frame (masked, RFC 6455 5.3). */
function clientFrame(opcode: number, payload: Buffer | string, o: { fin?: boolean; rsv1?: boolean } = {}): Buffer {
  const p = typeof payload === 'string' ? Buffer.from(payload) : payload;
  const b0 = (o.fin === false ? 0 : 0x80) | (o.rsv1 ? 0x40 : 0) | opcode;
  let head: Buffer;
  if (p.length < 126) head = Buffer.from([b0, 0x80 | p.length]);
  else if (p.length < 65536) {
    head = Buffer.from([b0, 0x80 | 126, 0, 0]);
    head.writeUInt16BE(p.length, 2);
  } else {
    head = Buffer.alloc(10);
    head[0] = b0;
    head[1] = 0x80 | 127;
    head.writeBigUInt64BE(BigInt(p.length), 2);
  }
  const mask = randomBytes(4);
  const masked = Buffer.from(p);
  for (let i = 0; i < masked.length; i++) masked[i]! ^= mask[i & 3]!;
  return Buffer.concat([head, mask, masked]);
}

const closePayload = (code: number, reason: string): Buffer => {
  const b = Buffer.alloc(2 + Buffer.byteLength(reason));
  b.writeUInt16BE(code, 0);
  b.write(reason, 2);
  return b;
};

/** Bytes the frame starting `buf` needs in all (2 while its length is unknown). */
function frameLength(buf: Buffer): number {
  if (buf.length < 2) return 2;
  const len = buf[1]! & 0x7f;
  const mask = buf[1]! & 0x80 ? 4 : 0;
  if (len < 126) return 2 + mask + len;
  if (len === 126) return buf.length < 4 ? 4 : 4 + mask + buf.readUInt16BE(2);
  return buf.length < 10 ? 10 : 10 + mask + Number(buf.readBigUInt64BE(2));
}

/** Whether each of the first `n` frames of `buf` has its MASK bit set. */
function maskedFrames(buf: Buffer, n: number): boolean[] {
  const out: boolean[] = [];
  let p = 0;
  for (let i = 0; i < n; i++) {
    out.push((buf[p + 1]! & 0x80) !== 0);
    p += frameLength(buf.subarray(p));
  }
  return out;
}

/** A message the client received: data frames reassembled; control frames (8, 9, 10) alone. */
interface Message {
  opcode: number;
  data: Buffer;
  rsv1: boolean;
  /** WebSocket frames it came in. */
  frames: number;
  /** Any frame of it was masked (a server must never mask). */
  masked: boolean;
}

interface H2Ws {
  stream: ClientHttp2Stream;
  /** The response head (200 on success). */
  response: Promise<IncomingHttpHeaders>;
  /** The whole response body as text (refusals). */
  body(): Promise<string>;
  send(frame: Buffer): void;
  /** The next message (or control frame) not yet taken. */
  next(ms?: number): Promise<Message>;
  /** The stream's readable side ended (END_STREAM from the proxy). */
  ended: Promise<void>;
  /** The stream closed: its rstCode (NO_ERROR for a clean close on both sides). */
  closed: Promise<number>;
  /** DATA frames (chunks) read. */
  readonly dataChunks: number;
}

function h2Headers(port: number, path: string, extra: Record<string, string> = {}): http2.OutgoingHttpHeaders {
  return {
    ':method': 'CONNECT',
    ':protocol': 'websocket',
    ':path': path,
    ':scheme': 'https',
    ':authority': `localhost:${port}`,
    'sec-websocket-version': '13',
    ...extra,
  };
}

/** Open an extended CONNECT stream and read what comes back as WebSocket frames once it is a 200. */
function openWs(session: ClientHttp2Session, headers: http2.OutgoingHttpHeaders): H2Ws {
  const stream = session.request(headers, { endStream: false });
  const response = deferred<IncomingHttpHeaders>();
  const ended = deferred();
  const closed = deferred<number>();
  const raw: Buffer[] = [];
  const messages: Message[] = [];
  const waiters: Array<() => void> = [];
  let status = 0;
  // Bytes not yet parsed, kept as chunks until the frame they start is complete (a 1 MiB frame
  // arrives in 16 KiB DATA frames: concatenating on each would be quadratic).
  let pending: Buffer[] = [];
  let pendingBytes = 0;
  let need = 2;
  let partial: Message | null = null;
  let chunks = 0;
  stream.on('response', (h) => {
    status = Number(h[':status']);
    response.resolve(h);
  });
  stream.on('data', (chunk: Buffer) => {
    chunks++;
    if (status !== 200) {
      raw.push(chunk);
      return;
    }
    pending.push(chunk);
    pendingBytes += chunk.length;
    if (pendingBytes < need) return;
    const buf = pending.length === 1 ? pending[0]! : Buffer.concat(pending);
    const { frames, rest } = parseClientFrames(buf);
    pending = rest.length > 0 ? [Buffer.from(rest)] : [];
    pendingBytes = rest.length;
    need = frameLength(rest);
    const masked = maskedFrames(buf, frames.length);
    for (const [i, f] of frames.entries()) {
      const isMasked = masked[i]!;
      if (f.opcode >= 8) {
        messages.push({ opcode: f.opcode, data: f.payload, rsv1: f.rsv1, frames: 1, masked: isMasked });
        waiters.shift()?.();
        continue;
      }
      if (partial === null) partial = { opcode: f.opcode, data: f.payload, rsv1: f.rsv1, frames: 1, masked: isMasked };
      else {
        partial.data = Buffer.concat([partial.data, f.payload]);
        partial.frames++;
        partial.masked ||= isMasked;
      }
      if (f.fin) {
        messages.push(partial);
        partial = null;
        waiters.shift()?.();
      }
    }
  });
  stream.on('end', () => {
    ended.resolve();
    for (const w of waiters.splice(0)) w();
  });
  stream.on('close', () => {
    response.reject(new Error(`stream closed without a response (rstCode ${stream.rstCode})`));
    ended.resolve();
    closed.resolve(stream.rstCode ?? -1);
    for (const w of waiters.splice(0)) w();
  });
  stream.on('error', () => {});
  response.promise.catch(() => {});
  let taken = 0;
  return {
    stream,
    response: response.promise,
    body: async () => {
      await withTimeout(ended.promise, 5000, `the body of ${String(headers[':path'])}`);
      return Buffer.concat(raw).toString('utf8');
    },
    send: (frame) => stream.write(frame),
    next: async (ms = 5000) => {
      if (taken < messages.length) return messages[taken++]!;
      await withTimeout(new Promise<void>((r) => waiters.push(r)), ms, `a message on ${String(headers[':path'])}`);
      if (taken < messages.length) return messages[taken++]!;
      throw new Error(`stream ${String(headers[':path'])} ended while waiting for a message (rstCode ${stream.rstCode})`);
    },
    ended: ended.promise,
    closed: closed.promise,
    get dataChunks() {
      return chunks;
    },
  };
}

/** A plain GET on the session: status, headers, body. */
function h2Get(session: ClientHttp2Session, port: number, path: string): Promise<{ status: number; headers: IncomingHttpHeaders; body: string }> {
  return withTimeout(
    new Promise((resolve, reject) => {
      const s = session.request({ ':method': 'GET', ':path': path, ':scheme': 'https', ':authority': `localhost:${port}` });
      let headers: IncomingHttpHeaders = {};
      let body = '';
      s.setEncoding('utf8');
      s.on('response', (h) => (headers = h));
      s.on('data', (d: string) => (body += d));
      s.on('end', () => resolve({ status: Number(headers[':status']), headers, body }));
      s.on('error', reject);
      s.on('close', () => reject(new Error(`GET ${path} closed (rstCode ${s.rstCode})`)));
    }),
    5000,
    `GET ${path} over h2`,
  );
}

// ---- the proxy under test ----------------------------------------------------------------------

const dir = certDir(t);
const ca = makeCa(dir);
const leaf = issue(ca, 'localhost', { dns: ['localhost'], ip: ['127.0.0.1'] });
const origin = await startScriptedWsOrigin(t);
const port = await freePort();
const idlePort = await freePort();
const deadPort = await freePort();
const IDLE_MS = 300;
const cli = await startCliWithConfig(
  t,
  `workers: 1
log: { level: info }
listen:
  - address: 127.0.0.1:${port}
    tls: { cert: ${leaf.chain.path}, key: ${leaf.key.path} }
    http2: true
  - address: 127.0.0.1:${idlePort}
    tls: { cert: ${leaf.chain.path}, key: ${leaf.key.path} }
    http2: { idle_timeout: ${IDLE_MS}ms }
upstreams:
  app: { servers: [127.0.0.1:${origin.port}] }
  dead: { servers: [127.0.0.1:${deadPort}] }
routes:
  - { path: /down/, upstream: dead }
  - { path: /, upstream: app }
`,
  port,
);
const workers = cli.children();

/** A new h2 connection (ALPN h2, the test CA), once the proxy's SETTINGS arrived. */
async function h2Session(t: Test, to = port): Promise<{ session: ClientHttp2Session; settings: http2.Settings }> {
  const session = http2.connect(`https://127.0.0.1:${to}`, { ca: ca.cert.pem, servername: 'localhost' });
  t.teardown(() => {
    if (!session.destroyed) session.destroy();
  });
  const settings = deferred<http2.Settings>();
  session.once('remoteSettings', (s) => settings.resolve(s));
  session.once('error', (e) => settings.reject(e));
  session.on('error', () => {});
  const s = await withTimeout(settings.promise, 5000, 'the proxy SETTINGS');
  return { session, settings: s };
}

/** Close a WebSocket the client's way: close frame, wait for the echo, end the stream, wait for close. */
async function closeCleanly(t: Test, ws: H2Ws, code: number, reason: string): Promise<void> {
  ws.send(clientFrame(8, closePayload(code, reason)));
  const reply = await ws.next();
  t.equal(reply.opcode, 8, 'the close reply');
  t.equal(reply.data.readUInt16BE(0), code, `close reply code ${code}`);
  ws.stream.end();
  t.equal(await withTimeout(ws.closed, 5000, 'the stream to close'), NGHTTP2_NO_ERROR, 'the stream closes without a reset');
}

// ---- tests ------------------------------------------------------------------------------------

t.test('RFC 8441 echo: handshake headers both ways, text/binary/200 KiB messages, close codes both ways', T, async (t) => {
  const { session, settings } = await h2Session(t);
  t.equal(settings.enableConnectProtocol, true, 'the listener announces SETTINGS_ENABLE_CONNECT_PROTOCOL=1');
  t.equal((session.socket as tls.TLSSocket).alpnProtocol, 'h2', 'ALPN chose h2');

  const ws = openWs(session, h2Headers(port, '/chat?room=1', { 'sec-websocket-protocol': 'chat, superchat', origin: 'https://x', cookie: 'a=1' }));
  const res = await withTimeout(ws.response, 5000, 'the 200');
  t.equal(res[':status'], 200, 'the extended CONNECT is answered 200');
  t.equal(res['sec-websocket-protocol'], 'superchat', "the subprotocol the origin chose (the last offered: the whole list arrived)");
  t.equal(res['strict-transport-security'], HSTS, 'HSTS on the 200');
  t.same(res['set-cookie'], ['origin=1; Path=/', 'second=2'], "the 101's other fields are kept, repeated ones too");
  t.notOk('sec-websocket-accept' in res, 'no Sec-WebSocket-Accept on h2 (RFC 8441 5)');
  t.notOk('upgrade' in res || 'connection' in res, 'no connection-specific fields');
  t.notOk('sec-websocket-extensions' in res, 'no extension negotiated when none was offered');

  const conn = await withTimeout(origin.conn('/chat?room=1'), 5000, 'the origin connection');
  const up = origin.upgrades.find((u) => u.url === '/chat?room=1')!;
  t.ok(up, 'the origin got the handshake on the client path and query');
  t.same(up.header('upgrade').map((v) => v.toLowerCase()), ['websocket'], 'Upgrade: websocket');
  t.match(up.header('connection').join(',').toLowerCase(), /upgrade/, 'Connection: upgrade');
  const key = up.header('sec-websocket-key');
  t.equal(key.length, 1, 'one Sec-WebSocket-Key');
  t.equal(Buffer.from(key[0] ?? '', 'base64').length, 16, 'the key is 16 random bytes in base64 (RFC 6455 4.1)');
  t.match(key[0], /^[A-Za-z0-9+/]{22}==$/, 'the key is canonical base64');
  t.same(up.header('sec-websocket-version'), ['13'], 'version 13');
  t.same(up.header('sec-websocket-protocol'), ['chat, superchat'], "the client's subprotocols");
  t.same(up.header('origin'), ['https://x'], "the client's Origin");
  t.same(up.header('cookie'), ['a=1'], "the client's Cookie");
  t.same(up.header('x-forwarded-proto'), ['https'], 'X-Forwarded-Proto https');
  t.same(up.header('x-forwarded-for'), ['127.0.0.1'], 'X-Forwarded-For is the client');
  t.same(up.header('host'), [`localhost:${port}`], 'Host from :authority');
  t.same(up.header('sec-websocket-extensions'), [], 'no extension offer invented');
  t.same([...up.header('content-length'), ...up.header('transfer-encoding')], [], 'no body framing on the GET');

  ws.send(clientFrame(1, 'héllo, wörld ✓'));
  const text = await ws.next();
  t.equal(text.opcode, 1, 'a text message comes back as text');
  t.equal(text.data.toString('utf8'), 'héllo, wörld ✓', 'text echoed intact');
  t.notOk(text.masked, 'frames from the server are not masked');

  const small = randomBytes(300);
  ws.send(clientFrame(2, small));
  const bin = await ws.next();
  t.equal(bin.opcode, 2, 'binary stays binary');
  t.ok(bin.data.equals(small), 'binary echoed intact');

  // 200 KiB sent as four fragments (one message), each far beyond a 16 KiB DATA frame.
  const big = randomBytes(200 * 1024);
  const q = big.length / 4;
  for (let i = 0; i < 4; i++) ws.send(clientFrame(i === 0 ? 2 : 0, big.subarray(i * q, (i + 1) * q), { fin: i === 3 }));
  const chunksBefore = ws.dataChunks;
  const echoed = await ws.next(10_000);
  t.equal(echoed.opcode, 2);
  t.equal(echoed.data.length, big.length, '200 KiB back');
  t.equal(sha256(echoed.data), sha256(big), 'the 200 KiB message echoed intact');
  t.ok(ws.dataChunks - chunksBefore > 1, `it arrived in several DATA chunks (${ws.dataChunks - chunksBefore})`);

  // A ping from the client is answered by the origin with a pong through the tunnel.
  ws.send(clientFrame(9, 'are you there'));
  const pong = await ws.next();
  t.equal(pong.opcode, 10, 'ping answered with pong');
  t.equal(pong.data.toString(), 'are you there', 'pong carries the ping payload');

  // The client closes with 4001.
  ws.send(clientFrame(8, closePayload(4001, 'client says bye')));
  const reply = await ws.next();
  t.equal(reply.opcode, 8, "the origin's close reply reaches the client");
  t.equal(reply.data.readUInt16BE(0), 4001, 'the reply echoes 4001');
  t.equal(reply.data.subarray(2).toString(), 'client says bye', 'and the reason');
  await withTimeout(ws.ended, 5000, 'END_STREAM after the close handshake');
  t.pass('the proxy ends the stream once the origin closed its socket');
  ws.stream.end();
  t.equal(await withTimeout(ws.closed, 5000, 'the stream to close'), NGHTTP2_NO_ERROR, 'the stream closes cleanly (no RST_STREAM)');
  const seen = await withTimeout(conn.closed, 5000, 'the origin close event');
  t.same(seen, { code: 4001, reason: 'client says bye' }, 'the origin received close 4001 with its reason');

  // The origin closes first with 4002.
  // (This client sends a Sec-WebSocket-Key of its own, which h2 clients do not: never forwarded.)
  const clientKey = Buffer.from('client-made key!').toString('base64');
  const ws2 = openWs(session, h2Headers(port, '/chat/2', { 'sec-websocket-key': clientKey }));
  t.equal((await withTimeout(ws2.response, 5000, 'the 200'))[':status'], 200);
  const conn2 = await withTimeout(origin.conn('/chat/2'), 5000, 'the origin connection');
  const key2 = origin.upgrades.find((u) => u.url === '/chat/2')!.header('sec-websocket-key');
  t.equal(key2.length, 1, "one key upstream even when the client sent one");
  t.not(key2[0], clientKey, "the proxy's own key, not the client's");
  conn2.ws.close(4002, 'origin says bye');
  const fromOrigin = await ws2.next();
  t.equal(fromOrigin.opcode, 8, "the origin's close frame reaches the client");
  t.equal(fromOrigin.data.readUInt16BE(0), 4002, 'code 4002');
  t.equal(fromOrigin.data.subarray(2).toString(), 'origin says bye', 'and the reason');
  ws2.send(clientFrame(8, closePayload(4002, '')));
  ws2.stream.end();
  t.equal(await withTimeout(ws2.closed, 5000, 'the stream to close'), NGHTTP2_NO_ERROR, 'the stream closes cleanly');
  t.same((await withTimeout(conn2.closed, 5000, 'the origin close event')).code, 4002, "the client's close reply reaches the origin");
});

t.test('permessage-deflate is negotiated end to end and compressed frames pass both ways', T, async (t) => {
  const { session } = await h2Session(t);
  const offer = 'permessage-deflate; server_no_context_takeover; client_no_context_takeover';
  const ws = openWs(session, h2Headers(port, '/z/deflate', { 'sec-websocket-extensions': offer }));
  const res = await withTimeout(ws.response, 5000, 'the 200');
  t.equal(res[':status'], 200);
  const ext = String(res['sec-websocket-extensions'] ?? '');
  t.match(ext, /^permessage-deflate\b/, `the 200 carries the extension the origin accepted: ${ext}`);
  t.match(ext, /server_no_context_takeover/, "with the parameters it accepted (each server message decodable alone)");
  const up = origin.upgrades.find((u) => u.url === '/z/deflate')!;
  t.same(up.header('sec-websocket-extensions'), [offer], "the client's offer reached the origin unchanged");

  const tail = Buffer.from([0, 0, 0xff, 0xff]);
  const inflate = (b: Buffer): Buffer => zlib.inflateRawSync(Buffer.concat([b, tail]), { finishFlush: zlib.constants.Z_SYNC_FLUSH });

  // An uncompressed message from the client; the origin compresses every message it sends.
  const plainText = 'hello deflate, '.repeat(60);
  ws.send(clientFrame(1, plainText));
  const m1 = await ws.next();
  t.equal(m1.opcode, 1);
  t.ok(m1.rsv1, 'the echo arrives compressed (RSV1 set, passed through untouched)');
  t.ok(m1.data.length < Buffer.byteLength(plainText) / 4, `compressed payload (${m1.data.length} bytes for ${Buffer.byteLength(plainText)})`);
  t.equal(inflate(m1.data).toString(), plainText, 'it inflates to the message');

  // A compressed message from the client (RFC 7692 7.2.1: sync flush, tail removed).
  const msg = Buffer.from('compressed by the client; '.repeat(80));
  const deflated = zlib.deflateRawSync(msg, { finishFlush: zlib.constants.Z_SYNC_FLUSH });
  t.ok(deflated.subarray(-4).equals(tail), 'sync flush ends in 00 00 ff ff');
  ws.send(clientFrame(1, deflated.subarray(0, -4), { rsv1: true }));
  const m2 = await ws.next();
  t.ok(m2.rsv1, 'echo compressed');
  t.equal(inflate(m2.data).toString(), msg.toString(), 'the origin inflated what the client compressed, and echoed it');

  await closeCleanly(t, ws, 1000, 'done');
});

t.test('five WebSockets and five GETs multiplexed on one h2 connection', T, async (t) => {
  const { session } = await h2Session(t);
  const N = 5;
  const socketsBefore = origin.upgrades.length;
  const wss = Array.from({ length: N }, (_, i) => openWs(session, h2Headers(port, `/multi/${i}`, { 'sec-websocket-protocol': `p${i}` })));
  const heads = await withTimeout(Promise.all(wss.map((w) => w.response)), 5000, 'five 200s');
  heads.forEach((h, i) => {
    t.equal(h[':status'], 200, `stream ${i}: 200`);
    t.equal(h['sec-websocket-protocol'], `p${i}`, `stream ${i}: its own subprotocol`);
  });
  t.equal(origin.upgrades.length - socketsBefore, N, 'one upstream handshake per stream');

  // Interleaved: three rounds of text, then 64 KiB of distinct bytes per stream all at once, with
  // five plain GETs in the middle.
  for (let r = 0; r < 3; r++) for (let i = 0; i < N; i++) wss[i]!.send(clientFrame(1, `ws${i} round${r}`));
  const gets = Promise.all(Array.from({ length: N }, (_, i) => h2Get(session, port, `/plain/${i}?x=${i}`)));
  const blobs = wss.map(() => randomBytes(64 * 1024));
  wss.forEach((w, i) => w.send(clientFrame(2, blobs[i]!)));
  for (let i = 0; i < N; i++) {
    for (let r = 0; r < 3; r++) t.equal((await wss[i]!.next()).data.toString(), `ws${i} round${r}`, `stream ${i} round ${r}: its own echo, in order`);
    const b = await wss[i]!.next();
    t.ok(b.data.equals(blobs[i]!), `stream ${i}: its 64 KiB echoed intact`);
  }
  const answers = await gets;
  answers.forEach((a, i) => {
    t.equal(a.status, 200, `GET ${i}: 200`);
    t.equal(a.body, `plain /plain/${i}?x=${i}`, `GET ${i}: its own answer`);
    t.equal(a.headers['strict-transport-security'], HSTS, `GET ${i}: HSTS`);
  });
  const seen = origin.plain.find((p) => p.url === '/plain/0?x=0')!;
  t.same(seen.header('x-forwarded-proto'), ['https'], 'GETs are proxied like any h2 request');
  await Promise.all(wss.map((w, i) => closeCleanly(t, w, 1000, `bye ${i}`)));
  t.notOk(session.destroyed, 'the connection is still open');
});

t.test('HTTP/1.1 WebSocket upgrades on the same port (ALPN http/1.1, and no ALPN)', T, async (t) => {
  for (const [label, alpn] of [
    ['ALPN http/1.1', { ALPNProtocols: ['http/1.1'] }],
    ['no ALPN', {}],
  ] as const) {
    const path = `/h1/${label.replace(/\W+/g, '-')}`;
    const ws = new WebSocket(`wss://127.0.0.1:${port}${path}`, ['chat'], { ca: ca.cert.pem, perMessageDeflate: false, ...alpn });
    t.teardown(() => ws.terminate());
    const upgrade = deferred<http.IncomingMessage>();
    const opened = deferred();
    const message = deferred<Buffer>();
    const closed = deferred<{ code: number; reason: string }>();
    ws.on('upgrade', (r) => upgrade.resolve(r));
    ws.on('open', () => opened.resolve());
    ws.on('message', (d: Buffer) => message.resolve(d));
    ws.on('close', (code, reason) => closed.resolve({ code, reason: reason.toString() }));
    ws.on('error', (e) => opened.reject(e));
    const r = await withTimeout(upgrade.promise, 5000, `${label}: the 101`);
    await withTimeout(opened.promise, 5000, `${label}: open`);
    t.equal(r.statusCode, 101, `${label}: 101`);
    t.equal(r.headers['strict-transport-security'], HSTS, `${label}: the 101 carries HSTS`);
    t.equal(r.headers['sec-websocket-protocol'], 'chat', `${label}: subprotocol`);
    const socket = (ws as unknown as { _socket: tls.TLSSocket })._socket;
    t.equal(socket.alpnProtocol, 'ALPNProtocols' in alpn ? 'http/1.1' : false, `${label}: negotiated as ${String(socket.alpnProtocol)}`);
    ws.send(`h1 hello ${label}`);
    t.equal((await withTimeout(message.promise, 5000, `${label}: echo`)).toString(), `h1 hello ${label}`, `${label}: echo`);
    const conn = await withTimeout(origin.conn(path), 5000, 'the origin connection');
    ws.close(4003, 'h1 bye');
    t.same(await withTimeout(closed.promise, 5000, `${label}: close`), { code: 4003, reason: 'h1 bye' }, `${label}: close handshake end to end`);
    t.same(await withTimeout(conn.closed, 5000, 'origin close'), { code: 4003, reason: 'h1 bye' }, `${label}: the origin got 4003`);
  }
});

t.test('refusals: origin 403 relayed, upstream down → 502, forged 101 → 502, version 8 → 400, :protocol foo → 501, plain CONNECT → 400; the connection carries on', T, async (t) => {
  const { session } = await h2Session(t);
  const before = origin.upgrades.length;

  const r403 = openWs(session, h2Headers(port, '/status/403'));
  const h403 = await withTimeout(r403.response, 5000, 'the 403');
  t.equal(h403[':status'], 403, "the origin's 403 is the stream's response");
  t.equal(h403['x-origin-refusal'], 'yes', "with the origin's headers");
  t.equal(h403['strict-transport-security'], HSTS, 'and HSTS');
  t.equal(await r403.body(), 'origin refused the handshake with 403', 'and its body');
  r403.stream.close();

  const v8 = openWs(session, h2Headers(port, '/v8', { 'sec-websocket-version': '8' }));
  const h8 = await withTimeout(v8.response, 5000, 'the 400');
  t.equal(h8[':status'], 400, 'version 8: 400');
  t.equal(h8['sec-websocket-version'], '13', 'naming the version spoken (RFC 6455 4.4)');
  t.equal(h8['strict-transport-security'], HSTS, 'and HSTS');
  t.match(await v8.body(), /Sec-WebSocket-Version must be 13/);
  v8.stream.close();

  const noVersion = openWs(session, { ...h2Headers(port, '/noversion'), 'sec-websocket-version': undefined } as http2.OutgoingHttpHeaders);
  t.equal((await withTimeout(noVersion.response, 5000, 'the 400'))[':status'], 400, 'no version at all: 400');
  noVersion.stream.close();

  const foo = openWs(session, h2Headers(port, '/foo', { ':protocol': 'foo' }));
  const hfoo = await withTimeout(foo.response, 5000, 'the 501');
  t.equal(hfoo[':status'], 501, ':protocol foo: 501');
  t.match(await foo.body(), /only "websocket"/);
  foo.stream.close();

  const connect = openWs(session, { ':method': 'CONNECT', ':authority': `127.0.0.1:${origin.port}` });
  const hc = await withTimeout(connect.response, 5000, 'the 400');
  t.equal(hc[':status'], 400, 'plain CONNECT: 400');
  t.match(await connect.body(), /CONNECT tunnels are not offered/);
  connect.stream.close();

  t.equal(origin.upgrades.length - before, 1, 'only the 403 handshake went upstream');
  t.same(origin.upgrades.slice(before).map((u) => u.url), ['/status/403']);

  const down = openWs(session, h2Headers(port, '/down/ws'));
  const hdown = await withTimeout(down.response, 5000, 'the 502');
  t.equal(hdown[':status'], 502, 'upstream unreachable: 502 on the stream');
  t.equal(hdown['strict-transport-security'], HSTS, 'with HSTS');
  await down.body();
  down.stream.close();

  for (const what of ['accept', 'protocol']) {
    const forged = openWs(session, h2Headers(port, `/forged/${what}`, { 'sec-websocket-protocol': 'chat' }));
    const hf = await withTimeout(forged.response, 5000, `the answer to a 101 with a bad ${what}`);
    t.equal(hf[':status'], 502, `a 101 with a wrong ${what === 'accept' ? 'Sec-WebSocket-Accept' : 'subprotocol'}: 502, no tunnel`);
    await forged.body();
    forged.stream.close();
  }

  const get = await h2Get(session, port, '/after-refusals');
  t.equal(get.status, 200, 'a GET on the same connection afterwards');
  t.equal(get.body, 'plain /after-refusals');
  const ws = openWs(session, h2Headers(port, '/after-refusals/ws'));
  t.equal((await withTimeout(ws.response, 5000, 'the 200'))[':status'], 200, 'and a WebSocket');
  ws.send(clientFrame(1, 'still here'));
  t.equal((await ws.next()).data.toString(), 'still here');
  await closeCleanly(t, ws, 1000, '');
  t.same(cli.children(), workers, 'the worker is the same process');
});

t.test('the client going away: RST_STREAM in the tunnel or during the handshake, END_STREAM, the whole connection lost', T, async (t) => {
  const { session } = await h2Session(t);
  const ws = openWs(session, h2Headers(port, '/reset/open'));
  t.equal((await withTimeout(ws.response, 5000, 'the 200'))[':status'], 200);
  const conn = await withTimeout(origin.conn('/reset/open'), 5000, 'the origin connection');
  ws.send(clientFrame(1, 'before the reset'));
  t.equal((await ws.next()).data.toString(), 'before the reset', 'the tunnel is up');
  ws.stream.close(NGHTTP2_CANCEL);
  t.equal(await withTimeout(ws.closed, 5000, 'the stream to close'), NGHTTP2_CANCEL, 'reset with CANCEL');
  await withTimeout(conn.socketClosed, 5000, "the origin's socket to close after the client's reset");
  t.equal((await withTimeout(conn.closed, 5000, 'the origin close event')).code, 1006, 'the origin sees an abnormal closure (no close frame)');

  // Reset while the upstream has not answered the handshake yet.
  const pending = openWs(session, h2Headers(port, '/hold/1'));
  const held = await withTimeout(origin.held('/hold/1'), 5000, 'the handshake at the origin');
  // The origin's http server allows half-open sockets: the proxy's FIN shows as 'end'.
  const heldGone = deferred();
  held.once('end', () => heldGone.resolve());
  held.once('close', () => heldGone.resolve());
  pending.stream.close(NGHTTP2_CANCEL);
  await withTimeout(heldGone.promise, 5000, "the proxy to close the upstream socket of a handshake cancelled by the client");
  t.pass('the cancelled handshake is not left pending upstream: the proxy closed that socket');
  const line = await cli.waitForLine((l) => l.msg === 'access' && l.path === '/hold/1', 5000, 'the access line of the cancelled handshake');
  t.equal(line.aborted, true, 'logged as aborted by the client');
  t.equal(line.status, 0, 'with no status');

  // END_STREAM without a close frame (a TCP FIN, RFC 8441 5): the origin's socket is ended, and
  // the origin's FIN comes back as END_STREAM.
  const half = openWs(session, h2Headers(port, '/halfclose'));
  t.equal((await withTimeout(half.response, 5000, 'the 200'))[':status'], 200);
  const halfConn = await withTimeout(origin.conn('/halfclose'), 5000, 'the origin connection');
  half.stream.end();
  t.equal((await withTimeout(halfConn.closed, 5000, 'the origin to see the FIN')).code, 1006, "the client's END_STREAM reaches the origin as a FIN (no close frame: 1006)");
  await withTimeout(half.ended, 5000, "the origin's FIN as END_STREAM");
  t.equal(await withTimeout(half.closed, 5000, 'the stream to close'), NGHTTP2_NO_ERROR, 'orderly both ways: no reset');

  // The client's whole connection goes: every tunnel on it closes upstream.
  // (The TLS socket is made here so that it can be cut without a GOAWAY or RST_STREAM.)
  let raw: tls.TLSSocket | undefined;
  const doomed = http2.connect(`https://127.0.0.1:${port}`, {
    createConnection: () => (raw = tls.connect({ host: '127.0.0.1', port, ca: ca.cert.pem, servername: 'localhost', ALPNProtocols: ['h2'] })),
  });
  doomed.on('error', () => {});
  t.teardown(() => doomed.destroy());
  await withTimeout(new Promise((r) => doomed.once('remoteSettings', r)), 5000, 'the proxy SETTINGS');
  const pair = [openWs(doomed, h2Headers(port, '/gone/1')), openWs(doomed, h2Headers(port, '/gone/2'))];
  await withTimeout(Promise.all(pair.map((w) => w.response)), 5000, 'two 200s');
  const gone = await withTimeout(Promise.all([origin.conn('/gone/1'), origin.conn('/gone/2')]), 5000, 'the origin connections');
  raw!.destroy();
  await withTimeout(Promise.all(gone.map((c) => c.socketClosed)), 5000, "the origin's sockets after the client's connection was lost");
  t.pass("losing the client's connection closes both upstream sockets");

  const get = await h2Get(session, port, '/after-reset');
  t.equal(get.status, 200, 'the connection keeps serving');
  const again = openWs(session, h2Headers(port, '/reset/again'));
  t.equal((await withTimeout(again.response, 5000, 'the 200'))[':status'], 200);
  again.send(clientFrame(1, 'again'));
  t.equal((await again.next()).data.toString(), 'again', 'a new WebSocket on the same connection works');
  await closeCleanly(t, again, 1000, '');
  t.same(cli.children(), workers, 'the worker is the same process');
});

t.test('the upstream dying resets (TCP RST) or ends (FIN) its stream only; the other streams carry on', T, async (t) => {
  const { session } = await h2Session(t);
  const keeper = openWs(session, h2Headers(port, '/keep/1'));
  t.equal((await withTimeout(keeper.response, 5000, 'the 200'))[':status'], 200);
  keeper.send(clientFrame(1, 'k1'));
  t.equal((await keeper.next()).data.toString(), 'k1');

  // The origin's socket reset (TCP RST): the stream is reset, never ended cleanly, so the client
  // can tell the tunnel broke (RFC 8441 5: RST exceptions are RST_STREAM; the RFC names CANCEL, this
  // proxy sends INTERNAL_ERROR, the one code node:http2 20 can reset with after the response
  // started without an END_STREAM first: see packages/core/src/node/h2-reset.ts).
  const a = openWs(session, h2Headers(port, '/die/rst'));
  t.equal((await withTimeout(a.response, 5000, 'the 200'))[':status'], 200);
  const ca1 = await withTimeout(origin.conn('/die/rst'), 5000, 'the origin connection');
  let aEndedFirst = false;
  a.stream.once('end', () => (aEndedFirst = !a.stream.destroyed));
  a.send(clientFrame(1, 'x'));
  t.equal((await a.next()).data.toString(), 'x');
  ca1.socket.resetAndDestroy();
  const rst = await withTimeout(a.closed, 5000, 'the stream of a reset upstream to close');
  t.not(rst, NGHTTP2_NO_ERROR, `RST_STREAM (code ${rst}), not a clean close`);
  t.ok(rst === NGHTTP2_INTERNAL_ERROR || rst === NGHTTP2_CANCEL || rst === NGHTTP2_CONNECT_ERROR, `an error code meaning the tunnel broke (${rst})`);
  t.notOk(aEndedFirst, 'no END_STREAM before the reset (the break does not look like an orderly close)');

  // The origin's socket destroyed (FIN, no close frame): an orderly TCP close, so END_STREAM
  // (RFC 8441 5), and the stream closes without a reset once the client ends its side too.
  const b = openWs(session, h2Headers(port, '/die/fin'));
  t.equal((await withTimeout(b.response, 5000, 'the 200'))[':status'], 200);
  const cb = await withTimeout(origin.conn('/die/fin'), 5000, 'the origin connection');
  let bEnded = false;
  b.stream.once('end', () => (bEnded = true));
  cb.socket.destroy();
  await withTimeout(b.ended, 5000, 'the stream of a vanished upstream to end');
  t.ok(bEnded, 'END_STREAM once the upstream socket is gone');
  b.stream.end();
  t.equal(await withTimeout(b.closed, 5000, 'the stream to close'), NGHTTP2_NO_ERROR, 'then closed without a reset');
  t.equal(b.dataChunks, 0, 'no frame invented by the proxy');

  keeper.send(clientFrame(1, 'k2'));
  t.equal((await keeper.next()).data.toString(), 'k2', 'the other WebSocket on the connection still echoes');
  const get = await h2Get(session, port, '/after-upstream-died');
  t.equal(get.status, 200, 'and a GET works');
  await closeCleanly(t, keeper, 1000, '');
  t.same(cli.children(), workers, 'the worker is the same process');
  t.notOk(cli.lines.some((l) => l.msg === 'worker died; restarting it'), 'no worker died');
});

t.test('frames the origin sends right behind its 101 reach the client first and intact', T, async (t) => {
  const { session } = await h2Session(t);
  const ws = openWs(session, h2Headers(port, '/greet/1'));
  t.equal((await withTimeout(ws.response, 5000, 'the 200'))[':status'], 200);
  const m1 = await ws.next();
  t.equal(m1.opcode, 1);
  t.equal(m1.data.toString(), 'welcome', 'the first message');
  const m2 = await ws.next();
  t.equal(m2.opcode, 2);
  t.same([...m2.data], [1, 2, 3], 'the second one');
  ws.send(clientFrame(1, 'and back'));
  t.equal((await ws.next()).data.toString(), 'and back', 'then the echo');
  await closeCleanly(t, ws, 1000, '');
});

t.test(`a quiet WebSocket outlives idle_timeout (${IDLE_MS} ms), on h2 and on HTTP/1.1`, T, async (t) => {
  const { session } = await h2Session(t, idlePort);
  const goaway = deferred<number>();
  const opened = performance.now();
  let goawayAfter = -1;
  session.once('goaway', (code) => {
    goawayAfter = Math.round(performance.now() - opened);
    goaway.resolve(code);
  });
  const ws = openWs(session, h2Headers(idlePort, '/quiet/h2'));
  t.equal((await withTimeout(ws.response, 5000, 'the 200'))[':status'], 200);
  ws.send(clientFrame(1, 'before'));
  t.equal((await ws.next()).data.toString(), 'before');

  const h1 = new WebSocket(`wss://127.0.0.1:${idlePort}/quiet/h1`, { ca: ca.cert.pem, perMessageDeflate: false });
  t.teardown(() => h1.terminate());
  const h1Open = deferred();
  const h1Closed = deferred<number>();
  h1.on('open', () => h1Open.resolve());
  h1.on('error', (e) => h1Open.reject(e));
  h1.on('close', (code) => h1Closed.resolve(code));
  await withTimeout(h1Open.promise, 5000, 'the HTTP/1.1 WebSocket to open');

  // Nothing on either connection for three idle timeouts (a timed wait: the silence is the test).
  await new Promise((r) => setTimeout(r, 3 * IDLE_MS));
  const early = await within(goaway.promise, 0);
  t.equal(
    early,
    undefined,
    `no GOAWAY while a WebSocket is open on the connection (config: idle_timeout closes "a connection with no open stream"; got GOAWAY(${String(early)}) ${goawayAfter} ms after connecting, the WebSocket still open)`,
  );
  ws.send(clientFrame(1, 'after'));
  t.equal((await ws.next()).data.toString(), 'after', 'the h2 WebSocket still echoes after the idle time');
  const h1Message = deferred<string>();
  h1.once('message', (d: Buffer) => h1Message.resolve(d.toString()));
  h1.send('h1 after');
  t.equal(await withTimeout(h1Message.promise, 5000, 'the HTTP/1.1 echo'), 'h1 after', 'the HTTP/1.1 WebSocket too');
  t.equal(await within(h1Closed.promise, 0), undefined, 'the HTTP/1.1 WebSocket was not closed');
  h1.close(1000);
  await withTimeout(h1Closed.promise, 5000, 'the HTTP/1.1 close');

  await closeCleanly(t, ws, 1000, '');
  // With no stream left, the idle connection is told GOAWAY.
  t.equal(await withTimeout(goaway.promise, 5 * IDLE_MS + 2000, 'GOAWAY on the idle connection'), NGHTTP2_NO_ERROR, 'an idle connection gets GOAWAY(NO_ERROR)');
});

t.test('flow control both ways through the tunnel: a reader that stops holds the sender back', T, async (t) => {
  const MiB = 1 << 20;
  const N = 24;
  const { session } = await h2Session(t);
  const ws = openWs(session, h2Headers(port, '/sink/flow'));
  t.equal((await withTimeout(ws.response, 5000, 'the 200'))[':status'], 200);
  const conn = await withTimeout(origin.conn('/sink/flow'), 5000, 'the origin connection');

  // Origin → client while the client reads nothing: the proxy must stop reading the upstream.
  ws.stream.pause();
  for (let i = 0; i < N; i++) conn.ws.send(Buffer.alloc(MiB, i));
  await new Promise((r) => setTimeout(r, 300)); // the backlog settles (a timed wait: nothing must move)
  t.ok(conn.ws.bufferedAmount > (N / 2) * MiB, `the origin still holds ${(conn.ws.bufferedAmount / MiB).toFixed(1)} of ${N} MiB: the proxy stopped reading it`);
  ws.stream.resume();
  for (let i = 0; i < N; i++) {
    const m = await ws.next(10_000);
    if (!m.data.equals(Buffer.alloc(MiB, i))) t.fail(`message ${i} damaged (${m.data.length} bytes)`);
  }
  t.pass(`all ${N} MiB arrive intact and in order once the client reads`);

  // Client → origin while the origin reads nothing: the proxy must stop taking the stream's DATA.
  conn.socket.pause();
  const frame1 = clientFrame(2, Buffer.alloc(MiB, 0xab));
  for (let i = 0; i < N; i++) ws.send(frame1);
  await new Promise((r) => setTimeout(r, 300));
  t.ok(ws.stream.writableLength > (N / 2) * MiB, `the client still holds ${(ws.stream.writableLength / MiB).toFixed(1)} of ${N} MiB: HTTP/2 flow control held it back`);
  conn.socket.resume();
  await withTimeout(conn.receivedAtLeast(N * MiB), 10_000, () => `the origin to receive ${N} MiB (got ${conn.received})`);
  t.equal(conn.received, N * MiB, `the origin received all ${N} MiB once it read again`);
  await closeCleanly(t, ws, 1000, '');
});
