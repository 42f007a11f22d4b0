/**
 * One proxied request, from a chosen route to the end of its response, in the phases of
 * hooks.ts. Request and response progress are two small state machines:
 *
 *   request (client -> upstream)    Queued ──socket ready──> Sending ──last body byte──> Sent
 *                                     ^  (bodiless requests go straight to Sent)
 *                                     └── failToConnect / errorWhileProxy: again, elsewhere or fresh
 *
 *   response (upstream -> client)   Awaiting ──head──> Held ──end of read──> Streaming ──> Done
 *                                                        └──── whole in one read ────────┘
 *   Every end (a complete response, a failure, an abort, a 101) is Done, reached in finish().
 *
 * A held head waits for the end of the socket read that brought it: a response that completes in
 * that read goes to the client in one respond() call, with no copy of its body.
 *
 * The exchange never touches a socket: the pool chooses a connection (upstream/pool.ts), the
 * connection owns the wire (upstream/connection.ts), HTTP/1 framing is http1/'s.
 */
import type { RetryCondition, RouteOptions } from '../config/options.js';
import { clientAddress, type CompiledForwarding } from '../headers/forwarded.js';
import { filterResponseHeaders } from '../headers/response-headers.js';
import { serializeRequestHead } from '../http1/request-head.js';
import { writeBodyChunk } from '../http1/request-writer.js';
import { BodyKind, type ResponseHead } from '../http1/response-parser.js';
import { clock } from '../clock.js';
import type { Upstream } from '../upstream/balancer.js';
import type { Connection } from '../upstream/connection.js';
import { FailureKind, statusFor, UpstreamError } from '../upstream/errors.js';
import type { Pool, PoolRequest } from '../upstream/pool.js';
import type { ServerInfo, UpstreamInfo } from '../upstream/info.js';
import type { UpgradeRequest } from '../websocket/upgrade.js';
import type { ClientRequest, Downstream, Exchange } from './contract.js';
import type { ExchangeResult, ProxyHooks } from './hooks.js';

/** What an exchange needs of the proxy that made it. */
export interface ExchangeHost {
  readonly hooks: ProxyHooks;
  readonly forwarding: CompiledForwarding;
  /** Take the time at the start: a hook reports durations. */
  readonly timed: boolean;
  /** The proxy's own answer; `detail` replaces the status line's text in the body. */
  errorResponse(down: Downstream, status: number, bodyless: boolean, detail?: string): void;
}

const enum RequestState {
  Queued,
  Sending,
  Sent,
}

const enum ResponseState {
  Awaiting,
  Held,
  Streaming,
  Done,
}

/** Requests whose repetition is harmless (RFC 9110 9.2.2), and those also safe to pipeline. */
const IDEMPOTENT = new Set(['GET', 'HEAD', 'OPTIONS', 'TRACE', 'PUT', 'DELETE']);
const PIPELINABLE = new Set(['GET', 'HEAD', 'OPTIONS']);

/** Request-body bytes held while no upstream socket takes them yet, before the client is paused. */
const BODY_BUFFER_LIMIT = 64 * 1024;

const EMPTY = Buffer.alloc(0);

export class ProxyExchange implements Exchange, PoolRequest, ExchangeResult {
  // ---- PoolRequest
  readonly noBody: boolean;
  readonly pipelinable: boolean;

  // ---- ExchangeResult (what `logging` reads; this object is the result, nothing is copied)
  readonly request: ClientRequest;
  readonly route: RouteOptions;
  status = 0;
  bytes = 0;
  duration = 0;
  error: UpstreamError | null = null;
  aborted = false;
  retries = 0;
  requestBytes = 0;

  private reqState = RequestState.Queued;
  private resState = ResponseState.Awaiting;
  /** The server of the current attempt; null only when none could be chosen (503). */
  private pool: Pool | null;
  private conn: Connection | null = null;
  private readonly started: number;
  /** When the first attempt began (coarse clock), for the retry time bound. */
  private readonly firstAttempt = clock.now;
  /** Built once; a retry sends the same head. */
  private readonly head: string;

  // Request body, client -> upstream.
  private queued: Buffer[] | null = null;
  private queuedBytes = 0;
  private bodyEnded: boolean;
  private bodyBytesSent = 0;
  private clientPaused = false;
  private onDrained: (() => void) | null = null;
  /** Servers tried for this request, a bit per server index below 31 (retries go elsewhere). */
  private tried = 0;
  private staleRetried = false;
  /** A 502/503/504 being read to its end and dropped: the request goes to this server next. */
  private retryTo: Pool | null = null;
  private reusedSocket = false;

  // Response, upstream -> client.
  private resHead: ResponseHead | null = null;
  private resHeaders: string[] | null = null;
  private firstChunk: Buffer | null = null;
  private upstreamPaused = false;

  constructor(
    private readonly host: ExchangeHost,
    request: ClientRequest,
    private readonly down: Downstream,
    private readonly group: Upstream,
    route: RouteOptions,
    target: string,
    /** Set for a WebSocket handshake. */
    private readonly upgrade: UpgradeRequest | null,
  ) {
    this.request = request;
    this.route = route;
    this.started = host.timed ? performance.now() : 0;
    this.noBody = request.method === 'HEAD';
    this.bodyEnded = request.body === 'none';
    this.pipelinable = this.bodyEnded && upgrade === null && PIPELINABLE.has(request.method);
    const pool = (this.pool = this.upstreamPeer());
    if (pool === null) {
      this.head = '';
      this.unavailable();
      return;
    }
    this.assign(pool);
    this.head = this.upstreamRequest(target, pool);
    pool.dispatch(this);
  }

  // ---- phases before the wire -----------------------------------------------------------

  /** upstream_peer: the server this request goes to (by the hook, else the upstream's policy), or null when none may be used. */
  private upstreamPeer(): Pool | null {
    const choose = this.host.hooks.upstreamPeer;
    if (choose !== undefined) {
      const chosen = choose(this.request, this.group);
      if (chosen !== undefined) return this.poolOf(chosen) ?? this.group.pick(this.request);
    }
    return this.group.pick(this.request);
  }

  /** No server of the upstream may be used: 503, and the log line says why. */
  private unavailable(): void {
    this.error = new UpstreamError(FailureKind.NoServer, this.group.describeUnavailable());
    this.host.errorResponse(this.down, 503, this.noBody, `no server of upstream "${this.group.name}" is available`);
    this.finish(503);
  }

  /** This attempt goes to `pool`: it counts the request as active, and the retry rules as tried. */
  private assign(pool: Pool): void {
    this.pool = pool;
    pool.active++;
    if (pool.index < 31) this.tried |= 1 << pool.index;
  }

  /** upstream_request_filter, then the head as it goes on the wire. */
  private upstreamRequest(target: string, pool: Pool): string {
    const req = this.request;
    const headers = this.upgrade === null ? req.headers : this.upgrade.upstreamHeaders(req.headers);
    const filter = this.host.hooks.upstreamRequestFilter;
    if (filter !== undefined) filter(req, headers, pool);
    const o = this.group.options;
    return serializeRequestHead({
      method: req.method,
      target,
      headers,
      peer: req.remoteAddress,
      scheme: req.scheme,
      forwarding: this.host.forwarding,
      ...(o.hostHeader !== undefined ? { hostHeader: o.hostHeader } : {}),
      defaultHost: pool.label,
      upgrade: this.upgrade !== null,
      body: req.body,
      contentLength: req.contentLength,
    });
  }

  // ---- send: the connection is ready for this request ------------------------------------

  onWritable(conn: Connection): void {
    if (this.reqState !== RequestState.Queued || this.resState === ResponseState.Done) return;
    this.conn = conn;
    this.reusedSocket = conn.reused || conn.inflight.length > 1;
    if (this.reusedSocket) this.pool!.stats.reuses++;
    conn.write(this.head, this.request.headerEncoding);
    // An upgrade waits for its 101 for handshake_timeout rather than read_timeout.
    if (this.upgrade !== null) conn.deadline = clock.now + this.upgrade.limits.handshakeTimeout;
    if (this.request.body === 'none') {
      this.reqState = RequestState.Sent;
      return;
    }
    this.reqState = RequestState.Sending;
    const queued = this.queued;
    this.queued = null;
    this.queuedBytes = 0;
    if (queued === null || queued.length === 0) {
      if (this.bodyEnded) this.sendBody(EMPTY, true);
    } else {
      const last = queued.length - 1;
      for (let i = 0; i <= last; i++) this.sendBody(queued[i]!, this.bodyEnded && i === last);
    }
    if (this.clientPaused && this.reqState === RequestState.Sending) {
      // The client was paused while no socket took its body: it goes on once this socket can.
      if (conn.backedUp) conn.awaitDrain(this.drained());
      else this.resumeClient();
    }
  }

  /** A request-body chunk from the frontend. */
  body(chunk: Buffer, last: boolean): void {
    if (this.resState === ResponseState.Done) return;
    this.requestBytes += chunk.length;
    if (last) this.bodyEnded = true;
    if (this.reqState === RequestState.Queued) {
      if (chunk.length > 0) {
        (this.queued ??= []).push(chunk);
        this.queuedBytes += chunk.length;
        if (this.queuedBytes > BODY_BUFFER_LIMIT) this.pauseClient();
      }
      return;
    }
    if (this.reqState === RequestState.Sending) this.sendBody(chunk, last);
  }

  private sendBody(chunk: Buffer, last: boolean): void {
    const conn = this.conn!;
    const ok = writeBodyChunk(conn, this.request.body === 'chunked', chunk, last);
    this.bodyBytesSent += chunk.length;
    conn.touch();
    if (last) {
      this.reqState = RequestState.Sent;
      return;
    }
    if (!ok) {
      this.pauseClient();
      conn.awaitDrain(this.drained());
    }
  }

  private drained(): () => void {
    return (this.onDrained ??= () => {
      if (this.resState !== ResponseState.Done) this.resumeClient();
    });
  }

  private pauseClient(): void {
    if (this.clientPaused) return;
    this.clientPaused = true;
    this.down.pauseBody();
  }

  private resumeClient(): void {
    if (!this.clientPaused) return;
    this.clientPaused = false;
    this.down.resumeBody();
  }

  // ---- the response ---------------------------------------------------------------------

  onHead(head: ResponseHead, conn: Connection): void {
    if (this.resState === ResponseState.Done) return;
    const pool = this.pool!;
    const seen = this.host.hooks.upstreamResponse;
    if (seen !== undefined) seen(this.request, pool, head, performance.now() - this.started);
    const status = head.status;
    const passive = this.group.passive;
    if (status >= 500 && this.group.options.passiveHealth.count5xx) passive.failure(pool, `${status} response`);
    else passive.success(pool);
    if (status >= 502 && status <= 504 && this.retryOnStatus(status)) return;
    // From here on a failure is the upstream's answer going wrong, never a stale socket to retry.
    this.resHead = head;
    if (status === 101) {
      this.switched(head, conn);
      return;
    }
    this.resState = ResponseState.Held;
    this.status = head.status;
    this.resHeaders = this.responseFilter(head);
  }

  /** A 101: the upstream took the upgrade, and its socket leaves the pool for the frontend. */
  private switched(head: ResponseHead, conn: Connection): void {
    if (this.upgrade === null) {
      conn.destroy(new UpstreamError(FailureKind.Protocol, 'upstream switched protocols on a request that asked for no upgrade'));
      return;
    }
    const problem = this.upgrade.switched(head, conn, this.pool!.label);
    if (problem !== null) {
      conn.destroy(new UpstreamError(FailureKind.Protocol, `invalid WebSocket handshake from upstream: ${problem}`));
      return;
    }
    this.finish(101);
  }

  /**
   * response_filter: the headers the client gets. The one place that decides a HEAD answer's
   * Content-Length: it still says how big the body would be (RFC 9110 9.3.2), and the frontends
   * add no length to a bodiless response.
   */
  private responseFilter(head: ResponseHead): string[] {
    const headers = filterResponseHeaders(head.headers);
    if (!head.ascii && this.request.headerEncoding === 'utf8') {
      // The head was decoded as latin1 (byte-exact); this frontend encodes strings as UTF-8.
      for (let i = 1; i < headers.length; i += 2) headers[i] = Buffer.from(headers[i]!, 'latin1').toString('utf8');
    }
    if (this.noBody && head.contentLength >= 0 && head.status !== 204 && head.status !== 304) {
      headers.push('content-length', String(head.contentLength));
    }
    const filter = this.host.hooks.responseFilter;
    if (filter !== undefined) filter(this.request, head.status, headers);
    return headers;
  }

  onBody(chunk: Buffer): void {
    if (this.resState === ResponseState.Done || this.retryTo !== null) return;
    if (this.resState === ResponseState.Held) {
      if (this.firstChunk === null) {
        // Hold it: if the response completes in this same read, it goes out in one piece.
        this.firstChunk = chunk;
        return;
      }
      this.sendHead();
    }
    this.forward(chunk);
  }

  /** The socket read that fed this exchange is fully parsed: a held head (and chunk) goes out. */
  onReadEnd(): void {
    if (this.resState === ResponseState.Held) this.sendHead();
  }

  onComplete(): void {
    if (this.resState === ResponseState.Done) return;
    const retryTo = this.retryTo;
    if (retryTo !== null) {
      // The dropped 5xx is read to its end, so its socket goes back to the pool; now the next server.
      this.retryTo = null;
      if (this.reqState !== RequestState.Sent) this.conn?.retire();
      this.again(retryTo, false);
      return;
    }
    if (this.upstreamPaused) {
      // The whole response is read: the socket goes back to the pool (or on to the next
      // pipelined response) reading, whatever this client's backlog.
      this.upstreamPaused = false;
      this.conn?.resume();
    }
    if (this.resState === ResponseState.Held) {
      const h = this.resHead!;
      const body = this.firstChunk;
      this.firstChunk = null;
      if (body !== null) this.bytes += body.length;
      this.down.respond(h.status, h.reason, this.resHeaders!, body, this.bodyless(h));
    } else {
      this.down.end();
    }
    if (this.reqState !== RequestState.Sent && this.conn !== null) {
      // The upstream answered before reading the whole body (a 413, an early 401): the rest of
      // the body would reach it as the next request, so this socket is never reused.
      this.conn.retire();
    }
    this.finish(this.status);
  }

  private bodyless(h: ResponseHead): boolean {
    return this.noBody || h.status === 204 || h.status === 304 || (h.bodyKind === BodyKind.None && h.status < 200);
  }

  private sendHead(): void {
    const h = this.resHead!;
    this.resState = ResponseState.Streaming;
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

  /** The client can take more: read the upstream again. */
  writable(): void {
    if (this.upstreamPaused && this.conn !== null) {
      this.upstreamPaused = false;
      this.conn.resume();
    }
  }

  // ---- failures -------------------------------------------------------------------------

  onFailure(err: UpstreamError): void {
    if (this.resState === ResponseState.Done) return;
    const pool = this.pool!;
    const kind = err.kind;
    pool.stats.errors[kind]!++;
    const retryTo = this.retryTo;
    if (retryTo !== null) {
      // The 5xx being dropped broke off: the request goes on to the next server all the same.
      this.retryTo = null;
      this.again(retryTo, false);
      return;
    }
    // The server's fault, for passive health: not our own queue, and not the stale keep-alive
    // race (a reused socket the server had just closed), which says nothing about the server.
    if (kind !== FailureKind.QueueTimeout && !(this.resHead === null && this.staleRetryable(err))) {
      this.group.passive.failure(pool, err.message);
    }
    if (this.resState === ResponseState.Streaming) {
      // Part of the response is with the client: the only honest signal left is an abnormal end.
      this.error = err;
      this.down.destroy();
      this.finish(this.status);
      return;
    }
    const connectFailed = kind === FailureKind.Connect || kind === FailureKind.ConnectTimeout || kind === FailureKind.Tls;
    if (connectFailed && this.resHead === null && this.failToConnect(err)) return;
    if (this.errorWhileProxy(err)) return;
    if (this.resHead === null && !connectFailed && this.nextUpstream(err)) return;
    this.error = err;
    const status = statusFor(err.kind);
    this.host.errorResponse(this.down, status, this.noBody);
    this.finish(status);
  }

  /**
   * fail_to_connect: the server refused, was unreachable or did not accept within connect_timeout
   * (nginx's `proxy_next_upstream error timeout`). Nothing reached it, so any method may go to
   * another one; the head built for the first server goes unchanged.
   */
  private failToConnect(err: UpstreamError): boolean {
    const next = this.group.options.retry.on.includes('error') ? this.nextServer() : null;
    const decide = this.host.hooks.failToConnect;
    const chosen = decide === undefined ? next : decide(this.request, this.pool!, err, next);
    const pool = chosen === null ? null : this.poolOf(chosen);
    if (pool === null) return false;
    this.again(pool, false);
    return true;
  }

  /**
   * The next server for a retry (nginx `proxy_next_upstream_tries` and `_timeout`): one not tried
   * yet, while attempts and time are left; null otherwise.
   */
  private nextServer(): Pool | null {
    const r = this.group.options.retry;
    if (r.tries > 0 && this.retries + 1 >= r.tries) return null;
    if (r.timeout > 0 && clock.now - this.firstAttempt >= r.timeout) return null;
    return this.group.next(this.pool!, this.tried);
  }

  /**
   * Where a request goes after `condition` (one of `retry.on`), or null: only idempotent requests
   * of which no body byte went out, since a body once sent cannot be sent again.
   */
  private retryElsewhere(condition: RetryCondition): Pool | null {
    if (this.bodyBytesSent > 0 || !IDEMPOTENT.has(this.request.method)) return null;
    return this.group.options.retry.on.includes(condition) ? this.nextServer() : null;
  }

  /** A failure before the response head: a timeout, or (`error`) a broken connection. */
  private nextUpstream(err: UpstreamError): boolean {
    const kind = err.kind;
    const condition = kind === FailureKind.ReadTimeout ? 'timeout' : kind === FailureKind.Reset || kind === FailureKind.Protocol ? 'error' : null;
    const next = condition === null ? null : this.retryElsewhere(condition);
    if (next === null) return false;
    this.again(next, false);
    return true;
  }

  /** A 502/503/504 the request may be retried past: read it to its end, drop it, try the next server. */
  private retryOnStatus(status: number): boolean {
    if (this.upgrade !== null) return false;
    this.retryTo = this.retryElsewhere(status === 502 ? 'http_502' : status === 503 ? 'http_503' : 'http_504');
    return this.retryTo !== null;
  }

  /**
   * error_while_proxy: by default, the classic stale keep-alive race (the server closed a reused
   * socket as we wrote to it) is retried once on a fresh socket, for idempotent requests whose
   * body, if any, has not started. A body once sent can never be sent again.
   */
  private errorWhileProxy(err: UpstreamError): boolean {
    if (this.resHead !== null || this.bodyBytesSent > 0 || this.conn === null) return false;
    const retryable = this.staleRetryable(err);
    const decide = this.host.hooks.errorWhileProxy;
    const retry = decide === undefined ? retryable : decide(this.request, this.pool!, err, { reusedSocket: this.reusedSocket, retryable });
    if (!retry) return false;
    this.staleRetried = true;
    this.again(this.pool!, true);
    return true;
  }

  /** The stale keep-alive race, retried once on a fresh socket to the same server. */
  private staleRetryable(err: UpstreamError): boolean {
    return (
      !this.staleRetried &&
      this.reusedSocket &&
      this.bodyBytesSent === 0 &&
      this.conn !== null &&
      (err.kind === FailureKind.Reset || err.kind === FailureKind.Protocol) &&
      IDEMPOTENT.has(this.request.method)
    );
  }

  private again(pool: Pool, fresh: boolean): void {
    this.retries++;
    this.conn = null;
    this.reqState = RequestState.Queued;
    this.pool!.active--;
    this.assign(pool);
    pool.dispatch(this, fresh);
  }

  /** The pool of this upstream behind a ServerInfo a hook returned (hooks may only pick those). */
  private poolOf(server: ServerInfo): Pool | null {
    const pool = this.group.servers[server.index];
    return pool === server ? pool : null;
  }

  /** The client went away: cancel the upstream request; its socket is never reused. */
  abort(): void {
    if (this.resState === ResponseState.Done) return;
    this.aborted = true;
    const conn = this.conn;
    this.finish(0);
    // Half a request or half a response is on that socket.
    if (conn !== null) conn.destroy(new UpstreamError(FailureKind.Reset, 'client aborted'));
    else this.pool?.cancel(this);
  }

  // ---- logging --------------------------------------------------------------------------

  private finish(status: number): void {
    this.resState = ResponseState.Done;
    this.status = status;
    if (this.pool !== null) this.pool.active--;
    if (this.clientPaused) {
      this.clientPaused = false;
      if (!this.aborted) this.down.resumeBody();
    }
    const logging = this.host.hooks.logging;
    if (logging !== undefined) {
      this.duration = performance.now() - this.started;
      logging(this);
    }
  }

  get client(): string {
    return clientAddress(this.request.remoteAddress, this.request.headers, this.host.forwarding);
  }

  /** `host:port` of the server the request went to last. */
  get upstream(): string | null {
    return this.pool === null ? null : this.pool.label;
  }

  get server(): ServerInfo | null {
    return this.pool;
  }

  get upstreamInfo(): UpstreamInfo {
    return this.group;
  }
}
