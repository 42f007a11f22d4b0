/**
 * The server's configuration as one plain, validated, typed object. It is built once at start
 * (from a YAML file, the command line, or both) and handed to the supervisor and the workers;
 * nothing downstream ever looks at raw YAML or argv.
 */
import type { ProxyOptions } from '@portcullis/core';

/**
 * One address the server accepts client connections on: plain HTTP, TLS (`tls`), or a plain
 * listener that only redirects to https (`redirectHttps`). Plain listeners have neither field.
 */
export interface ListenerConfig {
  /** Interface to bind: an IPv4 address, an IPv6 address without brackets, or a host name. */
  host: string;
  /** TCP port, 1-65535. */
  port: number;
  /** Terminate TLS here (nginx `listen 443 ssl`). */
  tls?: ListenerTlsConfig;
  /** Answer every request with a redirect to https (nginx `return 301 https://$host$request_uri`). */
  redirectHttps?: RedirectConfig;
  /**
   * Offer HTTP/2 by ALPN beside HTTP/1.1 (nginx `listen 443 ssl http2`): the listener is then
   * served by node:http2 instead of uWS. TLS listeners only.
   */
  http2?: Http2Config;
}

/** HTTP/2 settings and protections of a listener with `http2`. */
export interface Http2Config {
  /** SETTINGS_MAX_CONCURRENT_STREAMS: streams a client may have open at once on one connection. */
  maxConcurrentStreams: number;
  /** SETTINGS_INITIAL_WINDOW_SIZE: request-body bytes a stream may send before the proxy reads them. */
  initialWindowSize: number;
  /** SETTINGS_MAX_HEADER_LIST_SIZE: the largest header block accepted (uncompressed bytes). */
  maxHeaderListSize: number;
  /** A connection with no open stream for this long is closed with GOAWAY (ms). */
  idleTimeout: number;
  /** The rapid-reset guard (Envoy's premature-reset rule); null: off. */
  prematureResets: { totalStreams: number; minStreamLifetime: number } | null;
}

export const http2Defaults: Http2Config = {
  // nginx's http2_max_concurrent_streams.
  maxConcurrentStreams: 128,
  // RFC 9113's initial value: a larger window lets one upload run ahead of a slow upstream.
  initialWindowSize: 65_535,
  maxHeaderListSize: 65_536,
  // nginx's keepalive_timeout, which also governs idle HTTP/2 connections since 1.19.7.
  idleTimeout: 75_000,
  prematureResets: { totalStreams: 500, minStreamLifetime: 1_000 },
};

/** One certificate of a TLS listener: PEM files, read at start and again on every reload. */
export interface CertificateFiles {
  /** Absolute path of the PEM certificate chain, leaf first (nginx `ssl_certificate`). */
  certFile: string;
  /** Absolute path of the PEM private key (nginx `ssl_certificate_key`). */
  keyFile: string;
  /** SNI names served with it (exact or `*.domain`), lower-cased; null: the certificate's own DNS names. */
  names: string[] | null;
}

export const tlsVersions = ['TLSv1.2', 'TLSv1.3'] as const;
export type TlsVersion = (typeof tlsVersions)[number];

export interface HstsConfig {
  /** Seconds browsers remember to use https only. */
  maxAge: number;
  includeSubDomains: boolean;
  preload: boolean;
}

export interface ListenerTlsConfig {
  certificates: CertificateFiles[];
  /** Index in `certificates` of the one served to clients that send no or an unknown SNI name. */
  defaultCertificate: number;
  /** Oldest protocol version accepted. */
  minVersion: TlsVersion;
  /** OpenSSL-style cipher list for TLS 1.2; null: the built-in default. */
  ciphers: string | null;
  /** Strict-Transport-Security on every response; null: none. */
  hsts: HstsConfig | null;
  /** Reload the certificates when their files change (SIGHUP always reloads). */
  watch: boolean;
}

export const redirectStatuses = [301, 302, 307, 308] as const;

export interface RedirectConfig {
  /** The https port clients are sent to; 443 is left out of the Location. */
  port: number;
  /** 301 (default), 302, 307 or 308. */
  status: (typeof redirectStatuses)[number];
}

/** Defaults of the listener TLS settings. */
export const tlsDefaults = {
  minVersion: 'TLSv1.2' as TlsVersion,
  /**
   * Forward-secret AEAD suites only, ECDSA and RSA certificates (Mozilla "intermediate" without the
   * DHE suites, which uWS's TLS library, BoringSSL, does not have). TLS 1.3 suites are fixed by it.
   */
  ciphers:
    'ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:' +
    'ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305',
  hsts: { maxAge: 63_072_000, includeSubDomains: false, preload: false } as HstsConfig,
  watch: true,
};

/**
 * The admin endpoint (`admin:`), served by the supervisor: /metrics, /live, /ready, /status.
 * Off unless configured (the built-in demo turns it on at 127.0.0.1:9901).
 */
export interface AdminConfig {
  /** Interface to bind (loopback unless a token is set). */
  host: string;
  port: number;
  /** Bearer token every request must carry (`Authorization: Bearer …`), read from `token_file`; null: none. */
  token: string | null;
  /** Absolute path of the token file, or null. */
  tokenFile: string | null;
  /** How long (ms) /metrics and /status wait for the workers' answers; a late worker is reported, not waited for. */
  scrapeTimeout: number;
}

export const adminDefaults = {
  /** Where the demo (and `--admin` without an address) serves it. */
  host: '127.0.0.1',
  port: 9901,
  scrapeTimeout: 1_000,
};

export const logLevels = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof logLevels)[number];

export interface ServerConfig {
  /** The config file path as given, or "command line". Used in log lines and errors. */
  source: string;
  listeners: ListenerConfig[];
  /** Worker processes; default: os.availableParallelism(). */
  workers: number;
  /** pino level; default info. */
  logLevel: LogLevel;
  /** One log line per request; default true. */
  accessLog: boolean;
  /**
   * True when started with neither --to nor --config: the supervisor starts a built-in demo
   * origin and fills in the servers of the upstream named {@link demoUpstreamName}.
   */
  demo: boolean;
  proxy: ProxyOptions;
  /** How long (ms) a graceful stop waits for requests in flight; default 10000. */
  shutdownTimeout: number;
  /**
   * How long (ms) after SIGTERM the listeners keep accepting while /ready answers 503, so load
   * balancers stop sending first; default 0.
   */
  drainDelay: number;
  /** Reload when the configuration file changes (a Kubernetes ConfigMap's symlink swap too); default false. */
  watch: boolean;
  /** How long (ms) a client may take no bytes of a response before it is closed; default 60000. */
  sendTimeout: number;
  /** The admin endpoint, or null (off, the default). */
  admin: AdminConfig | null;
}

/** Name of the single upstream in demo mode; its `servers` list is empty until filled at start. */
export const demoUpstreamName = 'demo';

/** Name of the single upstream built from `--to` flags. */
export const commandLineUpstreamName = 'default';

/** Listener used when none is given. */
export const defaultListener: ListenerConfig = { host: '127.0.0.1', port: 8080 };

/** Defaults of the server-level settings (the proxy's live in @portcullis/core). */
export const serverDefaults = {
  logLevel: 'info' as LogLevel,
  accessLog: true,
  shutdownTimeout: 10_000,
  drainDelay: 0,
  watch: false,
  sendTimeout: 60_000,
};
