/**
 * The life of one proxied request, frontend-agnostic:
 *
 *   route ─> head ─> Waiting (for a socket) ─> Sending ─> Awaiting head ─> Streaming ─> Done
 *                                                    └──────── failure ───────┴─> retry | error | destroy
 *
 * createProxy() compiles the options once; handle() runs per request and is the hot path.
 */
import { Upstream } from '../upstream/balancer.js';
import { clock } from '../clock.js';
import type { Connection } from '../upstream/connection.js';
import type { ClientRequest, Downstream, Exchange } from './contract.js';
import { compileForwarding, clientAddress, type CompiledForwarding } from '../headers/forwarded.js';
import { BodyKind, type ResponseHead } from '../http1/response-parser.js';
import { normalizeOptions, type ProxyInit } from '../config/normalize.js';
import { websocketDefaults, type ProxyOptions, type UpstreamWebSocketOptions } from '../config/options.js';
import type { Pool, PoolRequest } from '../upstream/pool.js';
import { serializeRequestHead } from '../http1/request-head.js';
import { filterResponseHeaders } from '../headers/response-headers.js';
import { compileRoutes, type Router } from '../routing/router.js';
import { FailureKind, statusFor, UpstreamError } from '../upstream/errors.js';
import { clientHandshake } from '../websocket/handshake.js';
import { UpgradeRequest, type UpgradeHooks } from '../websocket/upgrade.js';

/** What the proxy reports when an exchange ends, for access logs and metrics. */
export interface ExchangeResult {
  request: ClientRequest;
  /** The client as the trust rules see it (the peer, or the rightmost untrusted XFF entry). */
  client: string;
  status: number;
  /** Response body bytes sent to the client. */
  bytes: number;
  /** `host:port` of the server that answered, or null. */
  upstream: string | null;
  /** Milliseconds from handle() to the end. */
  duration: number;
  /** Why it failed, when it did. */
  error: UpstreamError | null;
  /** The client went away before the end. */
  aborted: boolean;
}

export interface ProxyObserver {
  onExchangeEnd?(result: ExchangeResult): void;
}

export interface Proxy {
  readonly options: ProxyOptions;
  /** Proxy one request. The frontend feeds the returned Exchange. */
  handle(req: ClientRequest, down: Downstream): Exchange;
  /**
   * Proxy a WebSocket opening handshake (see websocket/upgrade.ts). A 101 from the upstream goes
   * to `hooks.onSwitch`; any other answer (401, 426, a redirect) and every failure (502, 504) is
   * written to `down` as for handle(). A request that is not a valid WebSocket handshake is
   * proxied as plain HTTP, exactly as handle() would.
   */
  upgrade(req: ClientRequest, down: Downstream, hooks: UpgradeHooks): Exchange;
  /** Stop taking new upstream sockets; idle ones close now, busy ones after their response. */
  close(): Promise<void>;
}

const enum Phase {
  Waiting,
  Sending,
  AwaitingHead,
  Streaming,
  Done,
}

/** Requests whose repetition is harmless (RFC 9110 9.2.2), and those also safe to pipeline. */
const IDEMPOTENT = new Set(['GET', 'HEAD', 'OPTIONS', 'TRACE', 'PUT', 'DELETE']);
const PIPELINABLE = new Set(['GET', 'HEAD', 'OPTIONS']);

/** Request-body bytes held while no upstream socket takes them yet, before the client is paused. */
const BODY_BUFFER_LIMIT = 64 * 1024;

const STATUS_TEXT: Record<number, string> = {
  400: 'Bad Request',
  404: 'Not Found',
  502: 'Bad Gateway',
  503: 'Service Unavailable',
  504: 'Gateway Timeout',
};

const NO_ERROR_BODY = Buffer.alloc(0);

class ProxyExchange implements Exchange, PoolRequest {
  readonly noBody: boolean;
  readonly pipelinable: boolean;
  private phase = Phase.Waiting;
  private pool: Pool;
  private conn: Connection | null = null;
  private readonly started: number;
  /** The head is built once and reused by a retry. */
  private readonly head: string;

  // Request body, client -> upstream.
  private queued: Buffer[] | null = null;
  private queuedBytes = 0;
  private bodyEnded: boolean;
  /** The whole request, body included, is on the upstream socket. */
  private requestSent = false;
  private bodyBytesSent = false;
  private clientPaused = false;
  private drainWaiting = false;
  private retried = false;
  private triedServers = 1;
  private onReusedSocket = false;

  // Response, upstream -> client.
  private resHead: ResponseHead | null = null;
  private resHeaders: string[] | null = null;
  private firstChunk: Buffer | null = null;
  private headSent = false;
  private upstreamPaused = false;
  private bytes = 0;
  private status = 0;
  private error: UpstreamError | null = null;
  private aborted = false;

  constructor(
    private readonly proxy: ProxyImpl,
    readonly req: ClientRequest,
    private readonly down: Downstream,
    private readonly upstream: Upstream,
    target: string,
    /** Set for a WebSocket handshake. */
    private readonly upgrade: UpgradeRequest | null = null,
  ) {
    this.started = proxy.observer ? performance.now() : 0;
    this.noBody = req.method === 'HEAD';
    this.bodyEnded = req.body === 'none';
    this.pipelinable = this.bodyEnded && PIPELINABLE.has(req.method) && upgrade === null;
    this.pool = upstream.pick();
    const o = upstream.options;
    this.head = serializeRequestHead({
      method: req.method,
      target,
      headers: upgrade === null ? req.headers : upgrade.upstreamHeaders(req.headers),
      peer: req.remoteAddress,
      scheme: req.scheme,
      forwarding: proxy.forwarding,
      ...(o.hostHeader !== undefined ? { hostHeader: o.hostHeader } : {}),
      defaultHost: this.pool.label,
      upgrade: upgrade !== null,
      body: req.body,
      contentLength: req.contentLength,
    });
    this.pool.dispatch(this);
  }

  // ---- frontend -> core ----------------------------------------------------------------

  body(chunk: Buffer, last: boolean): void {
    if (this.phase === Phase.Done) return;
    if (last) this.bodyEnded = true;
    if (this.phase === Phase.Waiting || this.queued !== null) {
      if (chunk.length > 0) {
        (this.queued ??= []).push(chunk);
        this.queuedBytes += chunk.length;
        if (this.queuedBytes > BODY_BUFFER_LIMIT && !this.clientPaused) {
          this.clientPaused = true;
          this.down.pauseBody();
        }
      }
      return;
    }
    this.sendBody(chunk, last);
  }

  writable(): void {
    if (this.upstreamPaused && this.conn !== null) {
      this.upstreamPaused = false;
      this.conn.resume();
    }
  }

  abort(): void {
    if (this.phase === Phase.Done) return;
    this.aborted = true;
    const conn = this.conn;
    this.finish(0);
    if (conn !== null) {
      // Half a request or half a response is on that socket: it can never be reused.
      conn.destroy(new UpstreamError(FailureKind.Reset, 'client aborted'));
    } else {
      this.pool.cancel(this);
    }
  }

  // ---- connection -> exchange -----------------------------------------------------------

  onWritable(conn: Connection): void {
    if (this.phase !== Phase.Waiting) return;
    this.conn = conn;
    this.onReusedSocket = conn.reused || conn.inflight.length > 1;
    this.phase = Phase.Sending;
    conn.write(this.head, this.req.headerEncoding);
    this.requestSent = this.req.body === 'none';
    // An upgrade waits for its 101 for handshake_timeout rather than read_timeout.
    if (this.upgrade !== null) conn.deadline = clock.now + this.upgrade.limits.handshakeTimeout;
    if (this.req.body === 'none') {
      this.phase = Phase.AwaitingHead;
      return;
    }
    const queued = this.queued;
    this.queued = null;
    this.queuedBytes = 0;
    if (queued !== null) {
      for (let i = 0; i < queued.length; i++) {
        this.sendBody(queued[i]!, this.bodyEnded && i === queued.length - 1);
      }
    }
    if (this.bodyEnded && (queued === null || queued.length === 0)) this.sendBody(NO_ERROR_BODY, true);
    if (this.clientPaused && this.phase === Phase.Sending) {
      // The client was paused while no socket took its body: let it go on once this one can.
      if (conn.socket.writableNeedDrain) this.resumeOnDrain(conn);
      else {
        this.clientPaused = false;
        this.down.resumeBody();
      }
    }
  }

  private resumeOnDrain(conn: Connection): void {
    if (this.drainWaiting) return;
    this.drainWaiting = true;
    conn.socket.once('drain', () => {
      this.drainWaiting = false;
      if (this.clientPaused && this.phase !== Phase.Done) {
        this.clientPaused = false;
        this.down.resumeBody();
      }
    });
  }

  private sendBody(chunk: Buffer, last: boolean): void {
    const conn = this.conn!;
    let ok = true;
    if (this.req.body === 'chunked') {
      if (chunk.length > 0) {
        conn.socket.cork();
        conn.write(chunk.length.toString(16) + '\r\n', 'latin1');
        conn.write(chunk);
        ok = conn.write(last ? '\r\n0\r\n\r\n' : '\r\n', 'latin1');
        conn.socket.uncork();
      } else if (last) {
        ok = conn.write('0\r\n\r\n', 'latin1');
      }
    } else if (chunk.length > 0) {
      ok = conn.write(chunk);
    }
    if (chunk.length > 0) this.bodyBytesSent = true;
    conn.touch();
    if (last) {
      this.requestSent = true;
      if (this.phase === Phase.Sending) this.phase = Phase.AwaitingHead;
      return;
    }
    if (!ok) {
      if (!this.clientPaused) {
        this.clientPaused = true;
        this.down.pauseBody();
      }
      this.resumeOnDrain(conn);
    }
  }

  onHead(head: ResponseHead, conn: Connection): void {
    if (this.phase === Phase.Done) return;
    if (head.status === 101) {
      if (this.upgrade === null) {
        conn.destroy(new UpstreamError(FailureKind.Protocol, 'upstream switched protocols on a request that asked for no upgrade'));
        return;
      }
      // From here on a failure is the upstream's fault, never a stale socket to retry.
      this.resHead = head;
      const problem = this.upgrade.switched(head, conn, this.pool.label);
      if (problem !== null) {
        conn.destroy(new UpstreamError(FailureKind.Protocol, `invalid WebSocket handshake from upstream: ${problem}`));
        return;
      }
      this.finish(101);
      return;
    }
    this.phase = Phase.Streaming;
    this.resHead = head;
    const headers = filterResponseHeaders(head.headers);
    if (!head.ascii && this.req.headerEncoding === 'utf8') {
      // The head was decoded as latin1 (byte-exact); this frontend encodes strings as UTF-8.
      for (let i = 1; i < headers.length; i += 2) headers[i] = Buffer.from(headers[i]!, 'latin1').toString('utf8');
    }
    this.resHeaders = headers;
    this.status = head.status;
  }

  onBody(chunk: Buffer): void {
    if (this.phase === Phase.Done) return;
    if (!this.headSent) {
      if (this.firstChunk === null) {
        // Hold it: if the response completes in this same read, it goes out in one piece.
        this.firstChunk = chunk;
        return;
      }
      this.sendHead();
    }
    this.forward(chunk);
  }

  /** The socket read that fed this exchange is fully parsed. */
  onReadEnd(): void {
    if (this.phase === Phase.Streaming && !this.headSent) this.sendHead();
  }

  onComplete(): void {
    if (this.phase === Phase.Done) return;
    if (this.upstreamPaused) {
      // The whole response is read: the socket goes back to the pool (or on to the next
      // pipelined response) reading, whatever this client's backlog.
      this.upstreamPaused = false;
      this.conn?.resume();
    }
    if (!this.headSent) {
      const h = this.resHead!;
      const body = this.firstChunk;
      this.firstChunk = null;
      this.headSent = true;
      if (body !== null) this.bytes += body.length;
      const headers = this.resHeaders!;
      // A HEAD answer still says how big the body would be; the frontend adds no length to it.
      if (this.noBody && h.contentLength >= 0 && h.status !== 204 && h.status !== 304) {
        headers.push('content-length', String(h.contentLength));
      }
      this.down.respond(h.status, h.reason, headers, body, this.bodyless(h));
    } else {
      this.down.end();
    }
    if (!this.requestSent && this.conn !== null) {
      // The upstream answered before reading the whole body (a 413, an early 401): the rest of
      // the body would reach it as the next request, so this socket is never reused.
      this.conn.retire();
    }
    this.finish(this.status);
  }

  onFailure(err: UpstreamError): void {
    if (this.phase === Phase.Done) return;
    if (this.headSent) {
      // Part of the response is already with the client: the only honest signal left is an abnormal end.
      this.error = err;
      this.down.destroy();
      this.finish(this.status);
      return;
    }
    const untouched = this.resHead === null;
    if (untouched && err.kind === FailureKind.Connect && this.triedServers < this.upstream.pools.length) {
      // Nothing reached that server: any method may go to the next one.
      this.triedServers++;
      this.redispatch(this.upstream.after(this.pool), false);
      return;
    }
    if (
      untouched &&
      !this.retried &&
      this.onReusedSocket &&
      (err.kind === FailureKind.Reset || err.kind === FailureKind.Protocol) &&
      IDEMPOTENT.has(this.req.method) &&
      !this.bodyBytesSent
    ) {
      // The classic stale keep-alive race: the server closed the socket as we reused it.
      this.retried = true;
      this.redispatch(this.pool, true);
      return;
    }
    this.fail(err);
  }

  private redispatch(pool: Pool, fresh: boolean): void {
    this.conn = null;
    this.phase = Phase.Waiting;
    this.pool = pool;
    pool.dispatch(this, fresh);
  }

  // ---- response writing -------------------------------------------------------------------

  private bodyless(h: ResponseHead): boolean {
    return this.noBody || h.status === 204 || h.status === 304 || h.bodyKind === BodyKind.None && h.status < 200;
  }

  private sendHead(): void {
    const h = this.resHead!;
    this.headSent = true;
    this.down.writeHead(h.status, h.reason, this.resHeaders!, h.contentLength, this.bodyless(h));
    const first = this.firstChunk;
    if (first !== null) {
      this.firstChunk = null;
      this.forward(first);
    }
  }

  private forward(chunk: Buffer): void {
    this.bytes += chunk.length;
    if (!this.down.write(chunk) && !this.upstreamPaused && this.conn !== null) {
      this.upstreamPaused = true;
      this.conn.pause();
    }
  }

  private fail(err: UpstreamError): void {
    this.error = err;
    const status = statusFor(err.kind);
    this.proxy.errorResponse(this.down, status, this.noBody);
    this.finish(status);
  }

  private finish(status: number): void {
    this.phase = Phase.Done;
    this.status = status;
    if (this.clientPaused) {
      this.clientPaused = false;
      if (!this.aborted) this.down.resumeBody();
    }
    const obs = this.proxy.observer;
    if (obs?.onExchangeEnd) {
      obs.onExchangeEnd({
        request: this.req,
        client: clientAddress(this.req.remoteAddress, this.req.headers, this.proxy.forwarding),
        status,
        bytes: this.bytes,
        upstream: this.conn !== null || this.resHead !== null ? this.pool.label : this.error ? this.pool.label : null,
        duration: performance.now() - this.started,
        error: this.error,
        aborted: this.aborted,
      });
    }
  }
}

class ProxyImpl implements Proxy {
  readonly options: ProxyOptions;
  readonly forwarding: CompiledForwarding;
  readonly observer: ProxyObserver | undefined;
  private readonly router: Router;
  private readonly upstreams = new Map<string, Upstream>();

  constructor(options: ProxyOptions, observer?: ProxyObserver) {
    this.options = options;
    this.observer = observer;
    this.forwarding = compileForwarding(options.forwarding);
    this.router = compileRoutes(options.routes);
    for (const u of options.upstreams) this.upstreams.set(u.name, new Upstream(u));
  }

  handle(req: ClientRequest, down: Downstream): Exchange {
    const match = this.router.match(req.host, req.url);
    const upstream = match === null ? undefined : this.upstreams.get(match.route.upstream);
    if (upstream === undefined) return this.refuse(req, down, 404);
    return new ProxyExchange(this, req, down, upstream, match!.target);
  }

  upgrade(req: ClientRequest, down: Downstream, hooks: UpgradeHooks): Exchange {
    const handshake = clientHandshake(req.method, req.headers);
    if (handshake === null) return this.handle(req, down);
    const match = this.router.match(req.host, req.url);
    const upstream = match === null ? undefined : this.upstreams.get(match.route.upstream);
    if (upstream === undefined) return this.refuse(req, down, 404);
    const limits = this.websocketLimits(upstream);
    return new ProxyExchange(this, req, down, upstream, match!.target, new UpgradeRequest(handshake, hooks, limits));
  }

  /** The WebSocket limits of an upstream: the proxy-wide ones with its own overrides. */
  websocketLimits(upstream: Upstream): UpstreamWebSocketOptions {
    const ws = this.options.websocket ?? websocketDefaults;
    const own = upstream.options.websocket;
    return {
      maxMessageSize: own?.maxMessageSize ?? ws.maxMessageSize,
      handshakeTimeout: own?.handshakeTimeout ?? ws.handshakeTimeout,
      maxBuffered: own?.maxBuffered ?? ws.maxBuffered,
      upstreamCompression: own?.upstreamCompression ?? ws.upstreamCompression,
    };
  }

  /** Answer without an upstream (no route); the exchange ignores whatever the client still sends. */
  refuse(req: ClientRequest, down: Downstream, status: number): Exchange {
    const started = this.observer ? performance.now() : 0;
    this.errorResponse(down, status, req.method === 'HEAD');
    this.observer?.onExchangeEnd?.({
      request: req,
      client: clientAddress(req.remoteAddress, req.headers, this.forwarding),
      status,
      bytes: 0,
      upstream: null,
      duration: performance.now() - started,
      error: null,
      aborted: false,
    });
    return DISCARD;
  }

  errorResponse(down: Downstream, status: number, bodyless: boolean): void {
    const text = STATUS_TEXT[status] ?? 'Error';
    down.respond(status, text, ERROR_HEADERS, bodyless ? null : Buffer.from(`${status} ${text}\n`), bodyless);
  }

  async close(): Promise<void> {
    for (const u of this.upstreams.values()) u.close();
  }
}

const ERROR_HEADERS = ['content-type', 'text/plain; charset=utf-8'];

const DISCARD: Exchange = {
  body() {},
  writable() {},
  abort() {},
};

/** Build a proxy from options (defaults filled in; see ProxyInit). */
export function createProxy(init: ProxyInit, observer?: ProxyObserver): Proxy {
  return new ProxyImpl(normalizeOptions(init), observer);
}
