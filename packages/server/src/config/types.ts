/**
 * The server's configuration as one plain, validated, typed object. It is built once at start
 * (from a YAML file, the command line, or both) and handed to the supervisor and the workers;
 * nothing downstream ever looks at raw YAML or argv.
 */
import type { ProxyOptions } from '@portcullis/core';

/**
 * One address the server accepts client connections on.
 * Kept an object (not a "host:port" string) so that TLS and redirect settings can be added as
 * optional fields later without changing the shape of plain listeners.
 */
export interface ListenerConfig {
  /** Interface to bind: an IPv4 address, an IPv6 address without brackets, or a host name. */
  host: string;
  /** TCP port, 1-65535. */
  port: number;
}

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
};
