/**
 * WebSocket (and other Upgrade) requests for node:http servers:
 *
 *   const proxy = createProxy({ target: 'http://127.0.0.1:9000' });
 *   const server = http.createServer(nodeHttpHandler(proxy));
 *   server.on('upgrade', nodeUpgradeHandler(proxy));
 *
 * A WebSocket handshake goes upstream like the uWS frontend's (route, pool, forwarded headers,
 * 101 checked); once the upstream switched, the two sockets are joined as a byte tunnel, so the
 * WebSocket (extensions included) is negotiated end to end. Any other answer is relayed as HTTP
 * and the connection closed. node:http hands every request with an Upgrade header here: those
 * that are not WebSocket handshakes (h2c, ...) are proxied as plain HTTP, Upgrade dropped.
 */
import { ServerResponse, type IncomingMessage } from 'node:http';
import type net from 'node:net';
import type { Duplex } from 'node:stream';
import type { Exchange, Proxy } from '../exchange/contract.js';
import { limitDefaults } from '../config/options.js';
import { isExtraName, withExtra } from '../headers/extra-headers.js';
import { clientRequestOf, isRefusal, NodeDownstream, refuse, type NodeHandlerOptions } from './http.js';
import type { UpgradeHooks, UpstreamSwitch } from '../websocket/upgrade.js';

/** The body of an upgrade request arrives on the raw socket: backpressure goes there too. */
class RawBodyDownstream extends NodeDownstream {
  constructor(
    req: IncomingMessage,
    res: ServerResponse,
    private readonly socket: Duplex,
    extra: readonly string[],
  ) {
    super(req, res, extra);
  }
  override pauseBody(): void {
    this.socket.pause();
  }
  override resumeBody(): void {
    this.socket.resume();
  }
}

class Tunnel implements UpgradeHooks {
  readonly extensions = 'pass' as const;
  exchange: Exchange | null = null;
  switched = false;

  constructor(
    private readonly socket: Duplex,
    private readonly res: ServerResponse,
    private readonly clientHead: Buffer,
    private readonly extra: readonly string[],
  ) {}

  onSwitch(up: UpstreamSwitch): void {
    const client = this.socket;
    const upstream = up.socket;
    if (client.destroyed || !client.writable) {
      upstream.destroy();
      return;
    }
    this.switched = true;
    this.res.detachSocket(client as net.Socket);
    let head = `HTTP/1.1 101 ${up.reason || 'Switching Protocols'}\r\n`;
    const h = up.rawHeaders;
    const extra = this.extra;
    for (let i = 0; i < h.length; i += 2) {
      if (extra.length > 0 && isExtraName(h[i]!.toLowerCase(), extra)) continue;
      head += `${h[i]}: ${h[i + 1]}\r\n`;
    }
    for (let i = 0; i < extra.length; i += 2) head += `${extra[i]}: ${extra[i + 1]}\r\n`;
    client.write(head + '\r\n', 'latin1');
    if (up.head !== null && up.head.length > 0) client.write(Buffer.from(up.head));
    if (this.clientHead.length > 0) upstream.write(this.clientHead);
    const done = (): void => {
      client.destroy();
      upstream.destroy();
    };
    upstream.on('error', done);
    upstream.on('close', done);
    upstream.on('end', () => client.end());
    client.on('error', done);
    client.on('close', done);
    // The upstream reads into the shared buffer (no 'data', no pipe): copy what the client is
    // given, since it may queue it, and stop reading while the client is backed up.
    up.listen((data) => {
      if (!client.write(Buffer.from(data))) upstream.pause();
    });
    client.on('drain', () => upstream.resume());
    client.pipe(upstream);
    upstream.resume();
  }
}

const EMPTY = Buffer.alloc(0);

/** A node:http `upgrade` listener that proxies through `proxy` (see the module comment). */
export function nodeUpgradeHandler(proxy: Proxy, opts: NodeHandlerOptions = {}): (req: IncomingMessage, socket: Duplex, head: Buffer) => void {
  const extra = opts.extraHeaders ?? [];
  return (req, socket, head) => {
    // Read per request: a reload may change the limits.
    const client = clientRequestOf(req, proxy.options.limits ?? limitDefaults);
    const res = new ServerResponse(req);
    res.assignSocket(socket as net.Socket);
    // One exchange per connection here: close once a relayed answer is out.
    res.shouldKeepAlive = false;
    res.on('finish', () => socket.end());
    if (isRefusal(client)) {
      // The same limits and Host rules as a plain request (the handshake goes upstream on that Host).
      socket.on('error', () => {});
      refuse(req, res, client, proxy, extra);
      return;
    }
    if (client.body === 'chunked') {
      // Not worth a chunked decoder for an Upgrade request with a body; nginx refuses those too.
      res.writeHead(501, withExtra(['content-type', 'text/plain; charset=utf-8'], extra));
      res.end('501 Not Implemented: a chunked body on an Upgrade request\n');
      return;
    }
    const down = new RawBodyDownstream(req, res, socket, extra);
    const tunnel = new Tunnel(socket, res, client.body === 'none' ? head : EMPTY, extra);
    const exchange = proxy.upgrade(client, down, tunnel);
    down.exchange = exchange;
    tunnel.exchange = exchange;
    res.on('drain', () => exchange.writable());
    socket.on('error', () => {});
    socket.on('close', () => {
      if (!tunnel.switched && !res.writableFinished) exchange.abort();
    });
    if (client.body === 'length') feedBody(socket, head, client.contentLength, exchange);
  };
}

/** Hand `length` body bytes (those already read, then the socket's) to the exchange. */
function feedBody(socket: Duplex, head: Buffer, length: number, exchange: Exchange): void {
  let left = length;
  const take = (chunk: Buffer): void => {
    if (left <= 0) return;
    const part = chunk.length > left ? chunk.subarray(0, left) : chunk;
    left -= part.length;
    exchange.body(part, left === 0);
    if (left === 0) socket.off('data', take);
  };
  if (head.length > 0) take(head);
  if (left > 0) socket.on('data', take);
}
