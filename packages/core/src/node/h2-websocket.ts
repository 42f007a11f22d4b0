/**
 * WebSockets over HTTP/2 (RFC 8441): an extended CONNECT stream with `:protocol = websocket`,
 * bridged to an ordinary HTTP/1.1 upgrade on the upstream (nginx does not do this; Caddy does).
 *
 * The client's CONNECT becomes the upstream's GET with `Upgrade: websocket`, a fresh
 * Sec-WebSocket-Key (an h2 client sends none: RFC 8441 5) and the client's version, subprotocols
 * and extension offer, through the same route, pool and forwarded headers as any handshake. The
 * upstream's 101 is checked against that key by the core, then answered to the client as 200 with
 * the chosen subprotocol and extensions. From there the stream's DATA and the upstream socket
 * carry the same bytes: WebSocket frames are identical on both (RFC 8441 5), so the two are joined
 * as a byte tunnel with backpressure both ways, and extensions (permessage-deflate) and close
 * codes pass end to end. Any answer but 101 (401, 404, 502) is relayed as the stream's response.
 */
import { randomBytes } from 'node:crypto';
import { constants } from 'node:http2';
import type { Proxy } from '../exchange/contract.js';
import type { UpgradeHooks, UpstreamSwitch } from '../websocket/upgrade.js';
import { isHopByHop } from '../headers/hop-by-hop.js';
import type { ExtendedConnect } from './h2-request.js';
import { resetStream } from './h2-reset.js';
import { answer, feed, type H2Downstream } from './h2-downstream.js';

class H2Tunnel implements UpgradeHooks {
  readonly extensions = 'pass' as const;

  constructor(
    private readonly down: H2Downstream,
    private readonly extra: readonly string[],
  ) {}

  onSwitch(up: UpstreamSwitch): void {
    const stream = this.down.stream;
    const socket = up.socket;
    if (stream.destroyed || stream.headersSent) {
      socket.destroy();
      return;
    }
    const block: Record<string, string | string[] | number> = { ':status': 200 };
    const h = up.headers;
    for (let i = 0; i < h.length; i += 2) {
      const name = h[i]!.toLowerCase();
      if (isHopByHop(name) || name === 'sec-websocket-accept' || name === 'date') continue;
      const had = block[name];
      block[name] = had === undefined ? h[i + 1]! : ([] as string[]).concat(had as string, h[i + 1]!);
    }
    if (up.protocol !== '') block['sec-websocket-protocol'] = up.protocol;
    if (up.extensions !== '') block['sec-websocket-extensions'] = up.extensions;
    for (let i = 0; i < this.extra.length; i += 2) block[this.extra[i]!] = this.extra[i + 1]!;
    try {
      stream.respond(block);
    } catch {
      socket.destroy();
      resetStream(stream, constants.NGHTTP2_INTERNAL_ERROR);
      return;
    }
    if (up.head !== null && up.head.length > 0) stream.write(Buffer.from(up.head));
    // The upstream reads into a buffer shared by the thread's sockets (no 'data'): copy what the
    // stream is given, since node:http2 queues it, and stop reading while the client is behind.
    up.listen((data) => {
      if (!stream.write(Buffer.from(data))) socket.pause();
    });
    stream.on('drain', () => socket.resume());
    stream.on('data', (chunk: Buffer) => {
      if (!socket.write(chunk)) stream.pause();
    });
    socket.on('drain', () => stream.resume());
    // Half-closes cross over; anything abnormal on one side resets or destroys the other.
    stream.on('end', () => socket.end());
    socket.on('end', () => {
      if (!stream.destroyed) stream.end();
    });
    socket.on('error', () => {});
    socket.on('close', () => {
      // RST_STREAM, never a clean end: the client must see the tunnel broke (see h2-reset.ts for the code).
      if (!stream.writableEnded) resetStream(stream, constants.NGHTTP2_INTERNAL_ERROR);
    });
    stream.on('close', () => socket.destroy());
    socket.resume();
  }
}

/**
 * Proxy an extended CONNECT stream (see the module comment). `down` is the stream's Downstream,
 * used for every answer that is not a switch.
 */
export function bridgeWebSocket(proxy: Proxy, connect: ExtendedConnect, down: H2Downstream, extra: readonly string[]): void {
  const stream = down.stream;
  const req = connect.request;
  if (connect.protocol !== 'websocket') {
    answer(stream, 501, `501 Not Implemented: extended CONNECT for "${connect.protocol}"; only "websocket" is offered\n`, false, extra);
    proxy.refused({ ...req, headers: [] }, 501);
    return;
  }
  const headers: string[] = [];
  let version = '';
  for (let i = 0; i < req.headers.length; i += 2) {
    const name = req.headers[i]!;
    if (name === 'sec-websocket-key') continue;
    if (name === 'sec-websocket-version') version = req.headers[i + 1]!.trim();
    headers.push(name, req.headers[i + 1]!);
  }
  if (version !== '13') {
    // RFC 6455 4.4: the versions this side speaks, in the answer.
    answer(stream, 400, '400 Bad Request: Sec-WebSocket-Version must be 13\n', false, extra, { 'sec-websocket-version': '13' });
    proxy.refused({ ...req, headers: [] }, 400);
    return;
  }
  headers.push('upgrade', 'websocket', 'connection', 'upgrade', 'sec-websocket-key', randomBytes(16).toString('base64'));
  req.headers = headers;
  // The stream's DATA are frames for after the switch, not a request body.
  req.body = 'none';
  req.contentLength = 0;
  const exchange = proxy.upgrade(req, down, new H2Tunnel(down, extra));
  feed(down, exchange, 'hold');
}
