/**
 * Read-only views of an upstream and its servers, for hooks (balancing policies, health, metrics)
 * and status pages. The pool and the upstream implement them directly: reading one allocates
 * nothing.
 */
import type { ServerAddress } from '../config/options.js';

export interface ServerInfo {
  readonly address: ServerAddress;
  /** `host:port` (IPv6 in brackets). */
  readonly label: string;
  /** Position in the upstream's `servers`. */
  readonly index: number;
  /** Open sockets to this server in this thread (connecting, idle and busy). */
  readonly open: number;
  /** Of those, idle keep-alive sockets. */
  readonly idle: number;
  /** Requests waiting for a free socket (all `max_connections` busy). */
  readonly pending: number;
}

export interface UpstreamInfo {
  readonly name: string;
  readonly servers: readonly ServerInfo[];
}
