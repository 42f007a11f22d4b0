// Child process: the floor of the WebSocket design, a peer of the upgrade benchmark. The least
// any proxy built like Portcullis (uWebSockets.js 20.30 terminating the client's WebSocket, a
// node:net socket to the upstream) can do: no routing, no header rules, no limits, no UTF-8
// check, no backpressure, no timers, masking key zero (so no masking work; a real client must
// draw unpredictable keys), frames assumed well-formed. What it costs per handshake and per
// message is the part of Portcullis's cost that is uWS's and Node's, not Portcullis's own.
// Not a proxy to use: it trusts its upstream completely.
// Usage: node ws-floor-relay.js HOST PORT ORIGIN_HOST ORIGIN_PORT BODY (BODY: the plain-HTTP answer,
// for the runner's readiness probe)
import net from 'node:net';
import uWS from 'uWebSockets.js';

const [host = '127.0.0.1', portArg = '0', originHost = '127.0.0.1', originPort = '0', body = 'floor relay\n'] = process.argv.slice(2);

/** uWS copies the user data's properties into its own object: the hop is shared by reference. */
interface UserData {
  hop: Hop;
}

interface Hop {
  sock: net.Socket;
  ws: uWS.WebSocket<UserData> | null;
  /** Bytes of an upstream frame split across reads. */
  rest: Buffer | null;
}

const HEAD_END = Buffer.from('\r\n\r\n');

function handshake(key: string): string {
  return `GET / HTTP/1.1\r\nHost: ${originHost}:${originPort}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n\r\n`;
}

/** Upstream frames (server to client: unmasked) to the client, one ws.send per complete frame. */
function relayDown(hop: Hop, data: Buffer): void {
  let buf = hop.rest === null ? data : Buffer.concat([hop.rest, data]);
  hop.rest = null;
  const ws = hop.ws!;
  let pos = 0;
  while (buf.length - pos >= 2) {
    const op = buf[pos]! & 0x0f;
    let len = buf[pos + 1]! & 0x7f;
    let at = pos + 2;
    if (len === 126) {
      if (buf.length - pos < 4) break;
      len = buf.readUInt16BE(pos + 2);
      at = pos + 4;
    } else if (len === 127) {
      if (buf.length - pos < 10) break;
      len = buf.readUInt32BE(pos + 6);
      at = pos + 10;
    }
    if (buf.length - at < len) break;
    if (op === 0x8) {
      ws.end(len >= 2 ? buf.readUInt16BE(at) : 1000);
      return;
    }
    ws.send(buf.subarray(at, at + len), op === 0x2);
    pos = at + len;
  }
  if (pos < buf.length) hop.rest = Buffer.from(buf.subarray(pos));
}

/**
 * Client messages to the upstream, masked with key zero. A socket is corked at its first frame
 * of an event-loop turn and uncorked after the turn's I/O, so that its frames go out in one
 * writev; small frames come from Node's buffer pool.
 */
const corked = new Set<net.Socket>();
function flush(): void {
  for (const s of corked) s.uncork();
  corked.clear();
}
function relayUp(sock: net.Socket, message: ArrayBuffer, binary: boolean, op = binary ? 0x2 : 0x1): void {
  const n = message.byteLength;
  const headLen = n < 126 ? 6 : n < 65536 ? 8 : 14;
  const frame = Buffer.allocUnsafe(headLen + n);
  frame[0] = 0x80 | op;
  if (n < 126) frame[1] = 0x80 | n;
  else if (n < 65536) {
    frame[1] = 0x80 | 126;
    frame.writeUInt16BE(n, 2);
  } else {
    frame[1] = 0x80 | 127;
    frame.writeUInt32BE(0, 2);
    frame.writeUInt32BE(n, 6);
  }
  frame.writeUInt32BE(0, headLen - 4);
  frame.set(new Uint8Array(message), headLen);
  if (!corked.has(sock)) {
    if (corked.size === 0) setImmediate(flush);
    corked.add(sock);
    sock.cork();
  }
  sock.write(frame);
}

/** Upstream reads land in one buffer for all sockets (Node's onread), as Portcullis's do. */
const readBuffer = Buffer.allocUnsafeSlow(64 * 1024);

uWS
  .App()
  .ws<UserData>('/*', {
    maxPayloadLength: 16 * 1024 * 1024,
    maxBackpressure: 64 * 1024 * 1024,
    idleTimeout: 0,
    compression: uWS.DISABLED,
    upgrade: (res, req, context) => {
      const key = req.getHeader('sec-websocket-key');
      let aborted = false;
      res.onAborted(() => {
        aborted = true;
      });
      let hop: Hop | null = null;
      let opened = false;
      const onRead = (n: number): boolean => {
        const data = readBuffer.subarray(0, n);
        if (opened) {
          if (hop!.ws !== null) hop!.ws.cork(() => relayDown(hop!, data));
          return true;
        }
        opened = true;
        if (aborted) {
          sock.destroy();
          return false;
        }
        res.cork(() => res.upgrade({ hop: hop! }, key, '', '', context));
        const end = data.indexOf(HEAD_END);
        if (end >= 0 && end + 4 < data.length && hop!.ws !== null) hop!.ws.cork(() => relayDown(hop!, data.subarray(end + 4)));
        return true;
      };
      const sock = net.connect({ host: originHost, port: Number(originPort), noDelay: true, onread: { buffer: readBuffer, callback: onRead } });
      hop = { sock, ws: null, rest: null };
      sock.on('error', () => hop!.ws?.end(1011));
      sock.on('close', () => hop!.ws?.end(1011));
      sock.write(handshake(key), 'latin1');
    },
    open: (ws) => {
      ws.getUserData().hop.ws = ws;
    },
    message: (ws, message, isBinary) => relayUp(ws.getUserData().hop.sock, message, isBinary),
    close: (ws, code) => {
      const hop = ws.getUserData().hop;
      hop.ws = null;
      const payload = new ArrayBuffer(2);
      new DataView(payload).setUint16(0, code === 1005 || code === 1006 ? 1000 : code);
      // The upstream answers and closes TCP first, keeping TIME_WAIT off the relay (as Portcullis).
      relayUp(hop.sock, payload, true, 0x8);
    },
  })
  .any('/*', (res) => {
    res.end(body);
  })
  .listen(host, Number(portArg), (token) => {
    if (!token) {
      console.error(`ws-floor-relay: cannot listen on ${host}:${portArg}`);
      process.exit(1);
    }
    console.log(JSON.stringify({ msg: 'ready', host, port: Number(portArg) }));
  });
