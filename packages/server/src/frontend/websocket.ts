/**
 * The uWS WebSocket frontend. uWS terminates the client's WebSocket (it has no raw tunnel), so a
 * proxied WebSocket is two: the client hop (uWS) and the upstream hop (the core's
 * UpstreamWebSocket on a socket taken from the upstream pool), and a Link relays messages between
 * them, text as text and binary as binary, in order, with close codes passed both ways.
 *
 *   upgrade ─ copy req ─> core handshake upstream ─ 101 ─> res.upgrade (101 with the upstream's
 *                                                   │      headers) ─> open ─> relay ─> close
 *                                                   └─ any other answer: relayed as HTTP
 *
 * Backpressure: past HIGH_WATER bytes queued in uWS for the client, the upstream socket stops
 * being read until uWS drains below LOW_WATER. uWS cannot stop reading a client, so what the
 * client sends while the upstream is backed up is held up to `max_buffered`, past which the
 * client is closed with 1013. `maxBackpressure` is set above anything that can be queued that
 * way, so uWS never drops a message (send() returning 2 is treated as a bug: 1011).
 */
import {
  limitDefaults,
  UpstreamWebSocket,
  websocketDefaults,
  type Proxy,
  type UpgradeHooks,
  type UpstreamSink,
  type UpstreamSwitch,
  type UpstreamWebSocketOptions,
  type WebSocketOptions,
} from '@portcullis/core';
import type { HttpRequest, HttpResponse, TemplatedApp, us_socket_context_t, WebSocket } from 'uWebSockets.js';
import { websocketClosed, websocketOpened } from '../metrics/websocket-metrics.js';
import { UwsDownstream } from './downstream.js';
import { serve } from './http.js';
import { copyRequest } from './request.js';
import { loadUws, type Uws } from './uws.js';

export interface WebSocketFrontendOptions {
  scheme: 'http' | 'https';
  /** Header pairs added to every response, the 101 included (HSTS on TLS listeners). */
  extraHeaders?: string[];
  onError(err: unknown): void;
}

/** Client bytes queued in uWS above which the upstream is no longer read, and below which it is again. */
const HIGH_WATER = 1024 * 1024;
const LOW_WATER = 256 * 1024;
/** Slack above HIGH_WATER + one message: reads already under way when the upstream is paused. */
const BACKPRESSURE_SLACK = 4 * 1024 * 1024;

interface UserData {
  link: Link;
}

type ClientSocket = WebSocket<UserData>;

const decoder = new TextDecoder('latin1');

/**
 * The open WebSockets of one proxy (one worker: every listener and router mounted with it), so
 * that a graceful stop can close them all with 1001.
 */
class Registry {
  readonly links = new Set<Link>();
  stopping = false;
  readonly compress: boolean;
  readonly idleTimeout: number;

  constructor(ws: WebSocketOptions) {
    this.compress = ws.compression !== 'off';
    this.idleTimeout = ws.idleTimeout;
  }
}

const registries = new WeakMap<Proxy, Registry>();

function registryOf(proxy: Proxy): Registry {
  let r = registries.get(proxy);
  if (r === undefined) registries.set(proxy, (r = new Registry(proxy.options.websocket ?? websocketDefaults)));
  return r;
}

/** Tell every client of `proxy`'s WebSockets that the server is going away (1001); refuse new ones. */
export function closeWebSockets(proxy: Proxy): void {
  const r = registries.get(proxy);
  if (r === undefined) return;
  r.stopping = true;
  for (const link of [...r.links]) link.shutdown();
}

/** What one mount (a listener's router) shares with its links. */
interface Mount {
  proxy: Proxy;
  registry: Registry;
  opts: WebSocketFrontendOptions;
}

/** One proxied WebSocket: the handshake's hooks, then the relay between the two hops. */
class Link implements UpgradeHooks, UpstreamSink {
  readonly extensions = 'strip' as const;
  ws: ClientSocket | null = null;
  up: UpstreamWebSocket | null = null;
  private limits: UpstreamWebSocketOptions | null = null;
  // Handshake state, dropped once the WebSocket is open: an idle link keeps only what it relays with.
  private res: HttpResponse | null;
  private down: UwsDownstream | null;
  private context: us_socket_context_t | null;

  constructor(
    private readonly fe: Mount,
    res: HttpResponse,
    down: UwsDownstream,
    context: us_socket_context_t,
  ) {
    this.res = res;
    this.down = down;
    this.context = context;
  }

  // ---- handshake ----------------------------------------------------------------------------

  onSwitch(u: UpstreamSwitch): void {
    const res = this.res;
    const down = this.down!;
    const context = this.context!;
    this.res = null;
    this.down = null;
    this.context = null;
    if (res === null || down.aborted || down.done || this.fe.registry.stopping) {
      u.socket.destroy();
      if (!down.done) down.respond(503, 'Service Unavailable', ['content-type', 'text/plain; charset=utf-8'], Buffer.from('503 Service Unavailable: shutting down\n'), false);
      return;
    }
    // The HttpResponse is consumed by the upgrade: nothing may touch it through `down` again.
    down.done = true;
    this.limits = u.limits;
    const extra = this.fe.opts.extraHeaders ?? [];
    res.cork(() => {
      res.writeStatus('101 Switching Protocols');
      const h = u.headers;
      for (let i = 0; i < h.length; i += 2) res.writeHeader(h[i]!, h[i + 1]!);
      for (let i = 0; i < extra.length; i += 2) res.writeHeader(extra[i]!, extra[i + 1]!);
      // The key and extension offer as the core parsed them from the client's handshake.
      res.upgrade<UserData>({ link: this }, u.client.key, u.protocol, u.client.extensions, context);
    });
    // uWS ran open() inside upgrade(): the client hop exists now, unless it failed at once.
    if (this.ws === null) {
      u.socket.destroy();
      return;
    }
    const up = new UpstreamWebSocket(u.socket, this, {
      maxMessageSize: u.limits.maxMessageSize,
      idleTimeout: this.fe.registry.idleTimeout,
      deflate: u.deflate,
      listen: u.listen,
    });
    this.up = up;
    up.start(u.head);
  }

  // ---- client hop (uWS callbacks) -------------------------------------------------------------

  opened(ws: ClientSocket): void {
    this.ws = ws;
    this.fe.registry.links.add(this);
    websocketOpened();
  }

  fromClient(message: ArrayBuffer, binary: boolean): void {
    const up = this.up;
    if (up === null || !up.open) return;
    const limits = this.limits!;
    if (message.byteLength > limits.maxMessageSize) {
      this.ws!.end(1009, 'message too big');
      up.close(1009, 'message too big');
      return;
    }
    if (up.bufferedAmount > limits.maxBuffered) {
      // The upstream does not read and uWS cannot stop reading the client: give up, bounded.
      this.ws!.end(1013, 'upstream is not keeping up');
      up.destroy();
      return;
    }
    up.send(new Uint8Array(message), binary);
  }

  drained(): void {
    const up = this.up;
    const ws = this.ws;
    if (up !== null && ws !== null && up.isPaused && ws.getBufferedAmount() < LOW_WATER) up.resume();
  }

  clientClosed(code: number, message: ArrayBuffer): void {
    this.ws = null;
    this.fe.registry.links.delete(this);
    websocketClosed(code);
    const up = this.up;
    if (up === null) return;
    // uWS closes an oversized message without a close frame (1006): tell the upstream why.
    if (code === 1006 && message.byteLength > 0 && decoder.decode(message) === 'Received too big message') {
      up.close(1009, 'message too big');
    } else {
      up.close(code, new Uint8Array(message));
    }
  }

  shutdown(): void {
    const ws = this.ws;
    if (ws !== null) ws.end(1001, 'server shutting down');
    this.up?.close(1001, 'proxy shutting down');
  }

  // ---- upstream hop (UpstreamSink) ----------------------------------------------------------

  onMessage(data: Buffer, binary: boolean): void {
    const ws = this.ws;
    if (ws === null) return;
    const sent = ws.send(data, binary, this.fe.registry.compress);
    if (sent === 1) return;
    if (sent === 2) {
      // maxBackpressure is set so that this cannot happen; never lose a message silently.
      this.fe.opts.onError(new Error('uWS dropped a WebSocket message (backpressure limit reached)'));
      ws.end(1011, 'proxy buffer overflow');
      this.up?.close(1011, 'proxy buffer overflow');
      return;
    }
    if (ws.getBufferedAmount() > HIGH_WATER) this.up?.pause();
  }

  onClose(code: number, reason: string | Buffer): void {
    const ws = this.ws;
    if (ws === null) return;
    if (code === 1006) ws.end(1011, 'upstream connection lost');
    else if (code === 1005) ws.end();
    else ws.end(code, reason);
  }

  batch(fn: () => void): void {
    const ws = this.ws;
    if (ws !== null) ws.cork(fn);
    else fn();
  }
}

function compressionOf(uws: Uws, c: WebSocketOptions['compression']): number {
  switch (c) {
    case 'off':
      return uws.DISABLED;
    case 'shared':
      return uws.SHARED_COMPRESSOR | uws.SHARED_DECOMPRESSOR;
    case 'dedicated':
      return uws.DEDICATED_COMPRESSOR_4KB | (uws as Uws & { DEDICATED_DECOMPRESSOR: number }).DEDICATED_DECOMPRESSOR;
  }
}

/** Mount the WebSocket handler on `app` (every path; non-WebSocket upgrades go to the HTTP path). */
export function mountWebSocket(app: TemplatedApp, proxy: Proxy, opts: WebSocketFrontendOptions): void {
  const uws = loadUws();
  const ws = proxy.options.websocket ?? websocketDefaults;
  const fe: Mount = { proxy, registry: registryOf(proxy), opts };
  let maxMessage = ws.maxMessageSize;
  for (const u of proxy.options.upstreams) maxMessage = Math.max(maxMessage, u.websocket?.maxMessageSize ?? 0);
  const extra = opts.extraHeaders ?? [];
  const guard = (fn: () => void): void => {
    try {
      fn();
    } catch (err) {
      opts.onError(err);
    }
  };
  app.ws<UserData>('/*', {
    maxPayloadLength: maxMessage,
    maxBackpressure: HIGH_WATER + maxMessage + BACKPRESSURE_SLACK,
    // Typed as a number in 20.30; read as a boolean.
    closeOnBackpressureLimit: 0,
    idleTimeout: ws.idleTimeout === 0 ? 0 : Math.max(8, Math.ceil(ws.idleTimeout / 1000)),
    sendPingsAutomatically: ws.idleTimeout !== 0,
    compression: compressionOf(uws, ws.compression),
    upgrade: (res: HttpResponse, req: HttpRequest, context: us_socket_context_t) => {
      try {
        upgrade(fe, res, req, context, opts.scheme, extra);
      } catch (err) {
        opts.onError(err);
        try {
          res.cork(() => res.writeStatus('500 Internal Server Error').end('500 Internal Server Error\n', true));
        } catch {
          // Already answered or aborted.
        }
      }
    },
    open: (w: ClientSocket) => guard(() => w.getUserData().link.opened(w)),
    message: (w: ClientSocket, message: ArrayBuffer, isBinary: boolean) => {
      try {
        w.getUserData().link.fromClient(message, isBinary);
      } catch (err) {
        opts.onError(err);
      }
    },
    drain: (w: ClientSocket) => guard(() => w.getUserData().link.drained()),
    close: (w: ClientSocket, code: number, message: ArrayBuffer) => guard(() => w.getUserData().link.clientClosed(code, message)),
  });
}

/**
 * A request uWS routed here (a GET with a Sec-WebSocket-Key): copied once, with the HTTP path's
 * verdict. The core parses the handshake once (proxy.upgrade) and proxies anything that is not a
 * valid one as plain HTTP. Refused heads, and handshakes with a body (uWS cannot switch those),
 * take the HTTP path, Upgrade dropped.
 */
function upgrade(fe: Mount, res: HttpResponse, req: HttpRequest, context: us_socket_context_t, scheme: 'http' | 'https', extra: string[]): void {
  const client = copyRequest(res, req, scheme, fe.proxy.options.limits ?? limitDefaults);
  if (client.refusal !== null || client.body !== 'none') {
    serve(res, client, fe.proxy, extra, fe.opts.onError);
    return;
  }
  const down = new UwsDownstream(res, extra);
  res.onAborted(() => down.onAborted());
  const link = new Link(fe, res, down, context);
  down.exchange = fe.proxy.upgrade(client, down, link);
}
