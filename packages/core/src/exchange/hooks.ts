/**
 * The hook points of one request's life, named after Pingora's `ProxyHttp` phases. An embedder
 * passes an object with any of them to createProxy(); the Portcullis server uses the same ones
 * for its access log, and metrics, health and balancing policies plug in here.
 *
 *   route ─> upstreamPeer ─> upstreamRequestFilter ─> (connect | pooled socket) ─> send
 *     ─> upstreamResponse ─> responseFilter ─> stream body ─> logging
 *   failures: failToConnect (another server?) · errorWhileProxy (retry on a fresh socket?)
 *
 * Every hook is optional and costs nothing when absent. Hooks run on the hot path: they must not
 * throw (an exception escapes into the frontend's callback) and should not allocate per call
 * what they can allocate once. Arrays handed to a hook belong to that request and may be changed
 * in place; every other argument is read-only and valid only during the call, except the
 * ExchangeResult given to `logging`, which is valid until `logging` returns.
 */
import type { RouteOptions } from '../config/options.js';
import type { UpstreamError } from '../upstream/errors.js';
import type { ServerInfo, UpstreamInfo } from '../upstream/info.js';
import type { ClientRequest } from './contract.js';

/** What the proxy reports when an exchange ends, for access logs and metrics. */
export interface ExchangeResult {
  readonly request: ClientRequest;
  /** The client as the trust rules see it (the peer, or the rightmost untrusted XFF entry). */
  readonly client: string;
  /** The status sent to the client (0 when the client went away first). */
  readonly status: number;
  /** Response body bytes sent to the client. */
  readonly bytes: number;
  /** The route that matched, or null (404). */
  readonly route: RouteOptions | null;
  /** `host:port` of the server the request went to last, or null when none was chosen. */
  readonly upstream: string | null;
  /** The upstream the route chose, or null (no route). */
  readonly upstreamInfo: UpstreamInfo | null;
  /** The server the request went to last, or null when none was chosen. */
  readonly server: ServerInfo | null;
  /** Request body bytes received from the client. */
  readonly requestBytes: number;
  /** Milliseconds from handle() to the end. */
  readonly duration: number;
  /** Why it failed, when it did. */
  readonly error: UpstreamError | null;
  /** The client went away before the end. */
  readonly aborted: boolean;
  /** Attempts after the first: another server after a connect failure, or a stale-socket retry. */
  readonly retries: number;
}

/** The upstream's response head as `upstreamResponse` sees it. */
export interface UpstreamResponseInfo {
  readonly status: number;
  /** Flat [name, value, ...] in the upstream's spelling, before filtering. */
  readonly headers: readonly string[];
}

/** What `errorWhileProxy` is told about a failure before any response byte reached the client. */
export interface ProxyErrorInfo {
  /** The request went out on a keep-alive socket that had served before (it may have been stale). */
  readonly reusedSocket: boolean;
  /** The default decision: idempotent, no body byte sent, no response head seen, not yet retried. */
  readonly retryable: boolean;
}

export interface ProxyHooks {
  /**
   * upstream_peer: choose the server of `upstream` for this request. Return one of
   * `upstream.servers` (any, usable or not: the hook decides), or undefined for the default: the
   * upstream's `balance` policy among its usable servers (backups when no primary is usable).
   * Not called for retries (failToConnect and the retry rules choose those) nor for a stale-socket
   * retry (same server).
   */
  upstreamPeer?(req: ClientRequest, upstream: UpstreamInfo): ServerInfo | undefined;
  /**
   * upstream_request_filter: change the headers sent upstream (flat, lower-case names, may be
   * edited in place) before the request head is built. Forwarded headers and hop-by-hop rules
   * apply after it.
   */
  upstreamRequestFilter?(req: ClientRequest, headers: string[], server: ServerInfo): void;
  /**
   * fail_to_connect: connecting to `server` failed or took longer than connect_timeout (nothing
   * was sent). Return the server to try next, or null to fail the request. `next` is the
   * default: the next usable server after `server` in list order that this request has not tried
   * (primaries, then backups), within `retry.tries` and `retry.timeout`; null when there is none
   * or `retry.on` leaves out `error`.
   */
  failToConnect?(req: ClientRequest, server: ServerInfo, err: UpstreamError, next: ServerInfo | null): ServerInfo | null;
  /**
   * error_while_proxy: the request failed on a connected socket to `server` before the response
   * head arrived and before any request body byte was sent (later failures are never retried: a
   * body once sent cannot be sent again). Return true to send it again to the same server on
   * another socket; `info.retryable` is the default. Not called for connect failures (see
   * failToConnect) nor for a wait for a free socket that timed out (503).
   */
  errorWhileProxy?(req: ClientRequest, server: ServerInfo, err: UpstreamError, info: ProxyErrorInfo): boolean;
  /**
   * The response head arrived from `server`; `elapsed` is the time from handle() to it in ms (time
   * to first byte, for metrics; a 5xx here is what passive health checks count).
   */
  upstreamResponse?(req: ClientRequest, server: ServerInfo, head: UpstreamResponseInfo, elapsed: number): void;
  /**
   * response_filter: change the response headers sent to the client (flat, upstream spelling, may
   * be edited in place). Framing is the proxy's: never add content-length or transfer-encoding.
   */
  responseFilter?(req: ClientRequest, status: number, headers: string[]): void;
  /** logging: the exchange ended, successfully or not (always called exactly once). */
  logging?(result: ExchangeResult): void;
  /**
   * A server's health changed in this thread: passive health ejected it or let it back, or
   * setServerHealth() marked it. Not a per-request phase; for logs and for sharing ejections.
   */
  health?(upstream: UpstreamInfo, server: ServerInfo, change: HealthChange): void;
}

/** What the `health` hook is told. */
export type HealthChange =
  /** Passive health ejected it after `failures` failures, until `until` (ms since the epoch). */
  | { readonly kind: 'ejected'; readonly until: number; readonly failures: number; readonly reason: string }
  /** Its ejection time is over. */
  | { readonly kind: 'returned' }
  /** setServerHealth() marked it unhealthy or healthy. */
  | { readonly kind: 'unhealthy' }
  | { readonly kind: 'healthy' };
