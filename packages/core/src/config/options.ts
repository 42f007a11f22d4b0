/**
 * The proxy's configuration as plain typed objects. Everything here is parsed and validated once
 * (by the server's config loader or by an embedding app) and never looked at raw on the hot path.
 */

/** One origin server of an upstream. */
export interface ServerAddress {
  host: string;
  port: number;
  /** Relative share of requests (nginx `weight`), 1 to 1000; default 1. */
  weight?: number;
  /** Used only while no primary server is usable (nginx `backup`); default false. */
  backup?: boolean;
  /** Kept out of rotation by the operator (nginx `down`); default false. */
  down?: boolean;
}

/** How an upstream chooses a server for each request (`upstreams.<name>.balance`). */
export type BalancePolicy = 'round_robin' | 'least_request' | 'random' | 'hash';

/** What the `hash` policy hashes: the same key goes to the same server while it is usable. */
export type HashKey =
  | { kind: 'client_ip' }
  | { kind: 'header'; name: string }
  | { kind: 'cookie'; name: string }
  | { kind: 'uri' };

/**
 * Passive health (Envoy's outlier detection, nginx's `max_fails`/`fail_timeout`): a server that
 * fails `consecutiveFailures` times in a row is ejected for `baseEjectionTime` x the number of its
 * ejections (at most `maxEjectionTime`), never more than `maxEjectedPercent` of an upstream's
 * servers at once.
 */
export interface PassiveHealthOptions {
  /** Failures in a row that eject a server; 0 turns passive health off. */
  consecutiveFailures: number;
  /** 5xx responses count as failures (connect failures, resets and timeouts always do). */
  count5xx: boolean;
  /**
   * 0: failures must be consecutive (a success resets the count). Otherwise failures are counted
   * within this many ms of the first one, successes or not (nginx `fail_timeout`).
   */
  window: number;
  /** Ejection time (ms) of a first ejection; the nth lasts n times as long. */
  baseEjectionTime: number;
  /** Longest ejection (ms). */
  maxEjectionTime: number;
  /** At most this percentage of the upstream's servers are ejected at once (rounded down, at least 1 when there are 2 or more). */
  maxEjectedPercent: number;
}

/** Active health checks: one probe per interval per server for the whole process tree. */
export interface HealthCheckOptions {
  /** Request target of the probe (GET). */
  path: string;
  /** Time (ms) between two probes of a server. */
  interval: number;
  /** A probe without a complete response within this many ms failed. */
  timeout: number;
  /** Statuses that pass, as inclusive ranges ([[200, 399]]: any 2xx or 3xx). */
  expectStatus: Array<[number, number]>;
  /** Passing probes in a row that bring a server back. */
  rise: number;
  /** Failing probes in a row that take a server out. */
  fall: number;
  /** Host header of the probe; default: the server's `host:port`. */
  host?: string;
}

/** Conditions under which a request goes to another server (nginx `proxy_next_upstream`). */
export type RetryCondition = 'error' | 'timeout' | 'http_502' | 'http_503' | 'http_504';

export interface RetryOptions {
  /**
   * `error`: could not connect (any method: nothing was sent), or, for idempotent requests of
   * which no body byte was sent, the connection broke before the response head (reset, invalid
   * response), as nginx's `error`. The others apply only to those requests too: `timeout` (no
   * response head within read_timeout), `http_50x` (the upstream answered so; the answer is dropped).
   */
  on: RetryCondition[];
  /** Most attempts in all (the first included); 0: each usable server once. */
  tries: number;
  /** No new attempt starts this many ms after the first began; 0: no limit. */
  timeout: number;
}

export interface UpstreamTlsOptions {
  /** Name sent in SNI and checked against the certificate; default: the server's host. */
  servername?: string;
  /** Verify the upstream certificate (default true). */
  verify: boolean;
  /** PEM CA bundle used instead of the system CAs. */
  ca?: string | Buffer;
  /** Client certificate and key for mTLS to the upstream. */
  cert?: string | Buffer;
  key?: string | Buffer;
}

/** A named group of servers and how Portcullis talks to them (nginx `upstream` + `proxy_*`). */
export interface UpstreamOptions {
  name: string;
  servers: ServerAddress[];
  /** `http` or `https` to the upstream. */
  protocol: 'http' | 'https';
  tls?: UpstreamTlsOptions;
  /** Idle keep-alive sockets kept per server and worker (nginx `keepalive`). */
  keepalive: number;
  /** Cap on open sockets per server and worker; requests past it wait in a queue. */
  maxConnections: number;
  /** Retire an idle socket after this long (ms), or earlier if the server announces less. */
  idleTimeout: number;
  /** Close a socket after it served this many requests (nginx `keepalive_requests`). */
  maxRequestsPerSocket: number;
  /** Give up connecting after this long (ms): 502. */
  connectTimeout: number;
  /** Longest wait (ms) for the response head, and between two reads of its body: 504. */
  readTimeout: number;
  /** Longest wait (ms) between two successful writes of the request body: 504. */
  sendTimeout: number;
  /** Requests in flight per socket (HTTP/1.1 pipelining, idempotent bodiless requests only). */
  pipelining: number;
  /** Host header sent upstream instead of the client's (default: keep the client's). */
  hostHeader?: string;
  /** WebSocket limits for this upstream, overriding the proxy-wide ones. */
  websocket?: Partial<UpstreamWebSocketOptions>;
  /** How a server is chosen; default smooth weighted round robin. */
  balance: BalancePolicy;
  /** The key of the `hash` policy (required with it). */
  hashKey?: HashKey;
  /** Outlier detection; on by default. */
  passiveHealth: PassiveHealthOptions;
  /** Active health checks; off unless given. */
  healthCheck?: HealthCheckOptions;
  /** When a failed attempt goes to another server. */
  retry: RetryOptions;
}

/** Which requests go to which upstream (nginx `server_name` + `location`). */
export interface RouteOptions {
  /** Label in metrics; default: the first host (or `*`) and the path prefix. */
  name?: string;
  /** Host names (exact or `*.domain.tld`); empty matches any host. */
  hosts: string[];
  /** Path prefix; the longest matching prefix wins. */
  pathPrefix: string;
  /** Remove the prefix before passing the path upstream. */
  stripPrefix: boolean;
  /** Name of the upstream. */
  upstream: string;
}

export interface ForwardingOptions {
  /** CIDRs of proxies whose X-Forwarded-* headers are believed (empty by default). */
  trustedProxies: string[];
  /** Add an RFC 7239 `Forwarded` header too. */
  forwarded: boolean;
  /** Add a `Via` header with this pseudonym (false: none). */
  via: string | false;
}

/** The WebSocket limits that may differ per upstream (they concern the upstream leg). */
export interface UpstreamWebSocketOptions {
  /** Largest message (bytes, after reassembly) relayed either way; larger ones close with 1009. */
  maxMessageSize: number;
  /** Longest wait (ms) for the upstream's answer to the upgrade request: 504. */
  handshakeTimeout: number;
  /** Client-to-upstream bytes held while the upstream socket is backed up; past it the client gets 1013. */
  maxBuffered: number;
  /** Offer permessage-deflate to the upstream (relay only; each message compressed on its own). */
  upstreamCompression: boolean;
}

/** permessage-deflate on the client hop: none, one shared compressor, or one per connection. */
export type WebSocketCompression = 'off' | 'shared' | 'dedicated';

export interface WebSocketOptions extends UpstreamWebSocketOptions {
  /**
   * A connection silent this long (ms) is pinged, and closed if still silent after as long
   * again (per hop). 0 disables pings and the timeout.
   */
  idleTimeout: number;
  /** Compression offered to clients (the upstream hop has its own: upstreamCompression). */
  compression: WebSocketCompression;
}

/**
 * How large a request head the frontends accept (nginx `large_client_header_buffers 4 8k`, Apache
 * `LimitRequestFields 100`). Checked on the head as the frontend received it, before the core sees
 * it; past a limit the client gets 414 or 431 and the connection is closed.
 */
export interface RequestLimits {
  /** Longest request-target (path and query), in characters: 414 past it. */
  maxUrlLength: number;
  /** Longest header field line (`name: value`), in characters: 431 past it. */
  maxHeaderSize: number;
  /** Most characters in all header field lines together: 431 past it. */
  maxHeadersSize: number;
  /** Most header field lines: 431 past it. */
  maxHeaders: number;
}

export interface ProxyOptions {
  upstreams: UpstreamOptions[];
  routes: RouteOptions[];
  forwarding: ForwardingOptions;
  /** WebSocket limits and timers; absent means {@link websocketDefaults}. */
  websocket?: WebSocketOptions;
  /** Request head limits; absent means {@link limitDefaults}. */
  limits?: RequestLimits;
}

export const passiveHealthDefaults: PassiveHealthOptions = {
  consecutiveFailures: 5,
  count5xx: true,
  window: 0,
  baseEjectionTime: 30_000,
  maxEjectionTime: 300_000,
  maxEjectedPercent: 50,
};

export const healthCheckDefaults: HealthCheckOptions = {
  path: '/',
  interval: 5_000,
  timeout: 2_000,
  expectStatus: [[200, 399]],
  rise: 2,
  fall: 3,
};

export const retryDefaults: RetryOptions = {
  on: ['error'],
  tries: 0,
  timeout: 0,
};

export const upstreamDefaults: Omit<UpstreamOptions, 'name' | 'servers' | 'protocol'> = {
  keepalive: 10,
  maxConnections: 1024,
  idleTimeout: 4_000,
  maxRequestsPerSocket: 1000,
  connectTimeout: 5_000,
  readTimeout: 60_000,
  sendTimeout: 60_000,
  pipelining: 1,
  balance: 'round_robin',
  passiveHealth: passiveHealthDefaults,
  retry: retryDefaults,
};

export const forwardingDefaults: ForwardingOptions = {
  trustedProxies: [],
  forwarded: false,
  via: false,
};

export const websocketDefaults: WebSocketOptions = {
  maxMessageSize: 16 * 1024 * 1024,
  handshakeTimeout: 10_000,
  maxBuffered: 4 * 1024 * 1024,
  upstreamCompression: false,
  idleTimeout: 120_000,
  compression: 'off',
};

export const limitDefaults: RequestLimits = {
  maxUrlLength: 8 * 1024,
  maxHeaderSize: 8 * 1024,
  maxHeadersSize: 32 * 1024,
  maxHeaders: 100,
};
