// Child process: the floor of an HTTP/2 frontend in Node, a peer of the HTTP/2 benchmark. The
// least any proxy that terminates HTTP/2 with node:http2 and talks HTTP/1.1 to its upstream over
// keep-alive node:net sockets can do per request: a fixed-form `GET <path>` head with a Host
// header and nothing else (no forwarded headers, routing, limits or timers); responses assumed to
// be one read with a Content-Length (as the benchmark origin's are); nothing of the response used
// but its status, its Content-Type and its body. What it costs per request is the part of an
// HTTP/2 Portcullis's cost that Node's HTTP/2 (nghttp2, TLS) and the upstream sockets set. Not a
// proxy to use: it trusts its upstream completely and relays GETs only.
// Usage: node h2-floor-relay.js HOST PORT ORIGIN_HOST ORIGIN_PORT CERT_FILE KEY_FILE
import { readFileSync } from 'node:fs';
import http2 from 'node:http2';
import net from 'node:net';

const [host = '127.0.0.1', portArg = '0', originHost = '127.0.0.1', originPort = '0', certFile = '', keyFile = ''] = process.argv.slice(2);

interface Upstream {
  sock: net.Socket;
  stream: http2.ServerHttp2Stream | null;
}

/** Sockets at most, as the other peers' pools (64); past it, streams wait for a free one. */
const MAX_SOCKETS = 64;
let open = 0;
/** Idle sockets, most recently used last: popping it reuses the warmest. */
const idle: Upstream[] = [];
/** Streams waiting for a socket, first come first served, with their request heads. */
const waiting: Array<[http2.ServerHttp2Stream, string]> = [];

/** Everything of the head but the path: the same for every request. */
const headEnd = ` HTTP/1.1\r\nHost: ${originHost}:${originPort}\r\n\r\n`;

// No corking: a socket carries one request at a time, so each write is already one syscall, and
// the requests of one HTTP/2 read go to as many sockets (deferring them would only add latency).
function send(up: Upstream, stream: http2.ServerHttp2Stream, head: string): void {
  up.stream = stream;
  up.sock.write(head, 'latin1');
}

function respond(up: Upstream, data: Buffer): void {
  const stream = up.stream;
  up.stream = null;
  const next = waiting.shift();
  if (next !== undefined) send(up, next[0], next[1]);
  else idle.push(up);
  // Reset by the client (or its connection gone) while the origin answered: nothing to say.
  if (stream === null || stream.destroyed) return;
  const end = data.indexOf('\r\n\r\n');
  const head = data.toString('latin1', 0, end);
  const headers: http2.OutgoingHttpHeaders = { ':status': Number(head.slice(9, 12)) };
  const at = head.toLowerCase().indexOf('\r\ncontent-type:');
  if (at >= 0) {
    const stop = head.indexOf('\r\n', at + 2);
    headers['content-type'] = head.slice(at + 15, stop < 0 ? head.length : stop).trim();
  }
  stream.respond(headers);
  // A copy: the read buffer is shared and the next read overwrites it before nghttp2 sends this.
  stream.end(Buffer.from(data.subarray(end + 4)));
}

/** Upstream reads land in one buffer for all sockets (Node's onread), as Portcullis's do. */
const readBuffer = Buffer.allocUnsafeSlow(64 * 1024);

function connect(): Upstream {
  let up: Upstream | null = null;
  const onRead = (n: number): boolean => {
    respond(up!, readBuffer.subarray(0, n));
    return true;
  };
  const sock = net.connect({ host: originHost, port: Number(originPort), noDelay: true, onread: { buffer: readBuffer, callback: onRead } });
  up = { sock, stream: null };
  sock.on('error', () => {});
  // A socket the origin closed: forget it, and fail what it carried so that no stream hangs.
  sock.on('close', () => {
    open--;
    const i = idle.indexOf(up!);
    if (i >= 0) idle.splice(i, 1);
    const stream = up!.stream;
    up!.stream = null;
    if (stream !== null && !stream.destroyed) stream.respond({ ':status': 502 }, { endStream: true });
  });
  return up;
}

// TLS 1.3 only and ALPN h2 only (no HTTP/1.1 fallback), as the benchmark's other HTTP/2 peers.
const server = http2.createSecureServer({ cert: readFileSync(certFile), key: readFileSync(keyFile), minVersion: 'TLSv1.3', allowHTTP1: false });
// A client gone mid-stream (h2load stops with streams in flight) is no reason to exit. Streams get
// no 'error' listener: only a stream reset with an error code (by Node as malformed, or by the
// client with a code other than CANCEL) emits one, and h2load's well-formed GETs and closing
// connections do not (were it to happen, the relay would exit and its next runs fail, in plain
// sight in the report).
server.on('sessionError', () => {});
server.on('stream', (stream, headers) => {
  const head = `GET ${headers[':path'] ?? '/'}${headEnd}`;
  const up = idle.pop();
  if (up !== undefined) send(up, stream, head);
  else if (open < MAX_SOCKETS) {
    open++;
    send(connect(), stream, head);
  }
  else waiting.push([stream, head]);
});
server.on('error', (err) => {
  console.error(`h2-floor-relay: cannot listen on ${host}:${portArg}: ${err.message}`);
  process.exit(1);
});
server.listen(Number(portArg), host, () => {
  console.log(JSON.stringify({ msg: 'ready', host, port: Number(portArg) }));
});
