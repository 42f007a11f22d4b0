/**
 * The contract between a frontend (uWS, node:http, …) and the core: the frontend copies the
 * client's request into a ClientRequest, implements Downstream for the response, and feeds
 * request-body chunks, writability and aborts into the Exchange the core hands back.
 */
import type { ProxyInit } from '../config/normalize.js';
import type { ProxyOptions } from '../config/options.js';
import type { UpstreamInfo } from '../upstream/info.js';
import type { UpgradeHooks } from '../websocket/upgrade.js';

export interface ClientRequest {
  /** As received, case-sensitive. */
  method: string;
  /** Origin-form target: path and query as received. */
  url: string;
  /** Flat [name, value, ...]; names lower-case; repeated headers as separate entries, in order. */
  headers: string[];
  /** The Host header (first), or undefined. */
  host: string | undefined;
  /** Peer address of the client socket (IPv4-mapped IPv6 already unwrapped). */
  remoteAddress: string;
  /** Scheme of the client connection. */
  scheme: 'http' | 'https';
  /** How the client's body is framed; the frontend has already refused ambiguous framing. */
  body: 'none' | 'length' | 'chunked';
  /** Body size when body is 'length'. */
  contentLength: number;
  /** Encoding the frontend decoded header strings with; used to write them upstream unchanged. */
  headerEncoding: 'latin1' | 'utf8';
}

export interface Downstream {
  /**
   * Send the whole response at once (a proxy-generated answer, or an upstream response that
   * arrived complete in one read). `body` is only valid during the call.
   */
  respond(status: number, reason: string, headers: string[], body: Buffer | null, bodyless: boolean): void;
  /**
   * Start a streamed response. `contentLength` is the body size, or -1 when unknown (the frontend
   * then chooses chunked framing). `bodyless` for HEAD/204/304: nothing may follow the head.
   */
  writeHead(status: number, reason: string, headers: string[], contentLength: number, bodyless: boolean): void;
  /**
   * A body chunk, valid only during the call (it lies in the upstream socket's read buffer, which
   * the next read reuses: a frontend that keeps it copies it). Returns false when the client is
   * backed up: the core stops reading the upstream until the frontend calls `exchange.writable()`.
   */
  write(chunk: Buffer): boolean;
  /** The response ended cleanly. */
  end(): void;
  /** End the client's connection abnormally (the upstream died mid-body): never a clean end. */
  destroy(): void;
  /** Stop and restart reading the client's request body (the upstream is backed up). */
  pauseBody(): void;
  resumeBody(): void;
}

/** What the core hands back to the frontend for one request. */
export interface Exchange {
  /** A request-body chunk the exchange may keep (the frontend copies views it does not own). */
  body(chunk: Buffer, last: boolean): void;
  /** The client can take more response bytes. */
  writable(): void;
  /** The client went away: cancel the upstream request; its socket is never reused. */
  abort(): void;
}

/**
 * A proxy as frontends see it: they hand it requests and feed the Exchange it returns. The
 * adapters (node/, the server's uWS frontend) depend on this contract only, never on the
 * implementation in proxy.ts.
 */
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
  /**
   * The frontend answered `req` by itself (a refused head: 400, 414, 431, before any routing):
   * reported to the `logging` hook like every other request, with no route, so access logs and
   * metrics count it.
   */
  refused(req: ClientRequest, status: number): void;
  /** The upstreams and their servers' state in this thread, for status pages and metrics. */
  readonly upstreams: readonly UpstreamInfo[];
  /**
   * An active health check (run elsewhere: the server's supervisor) found a server healthy or not.
   * Returns false when there is no such upstream or server.
   */
  setServerHealth(upstream: string, server: number, healthy: boolean): boolean;
  /**
   * Eject a server until `until` (ms since the epoch), as passive health decided in another
   * thread or process; the upstream's cap on ejected servers still applies. The `health` hook is
   * not called for it. Returns false when it was not ejected.
   */
  ejectServer(upstream: string, server: number, until: number): boolean;
  /**
   * Switch to a new configuration between two requests (routes, upstreams, forwarding, limits):
   * requests in flight finish on the one they started with; a server whose address and connection
   * settings did not change keeps its pool (keep-alive sockets) and its health; the pools of
   * servers removed or changed drain (idle sockets close now, busy ones after their response).
   * @throws ProxyConfigError when `init` is invalid; the running configuration then stays.
   */
  reload(init: ProxyInit): ReloadSummary;
  /** Stop taking new upstream sockets; idle ones close now, busy ones after their response. */
  close(): Promise<void>;
}

/** What a reload did. */
export interface ReloadSummary {
  upstreams: number;
  /** Servers whose pools (sockets, health) the new configuration took over. */
  serversKept: number;
  /** Pools of servers removed or changed, now draining. */
  serversDrained: number;
}
