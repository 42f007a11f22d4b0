/**
 * Read-only views of an upstream and its servers, for hooks (balancing policies, health, metrics)
 * and status pages. The pool and the upstream implement them directly: reading one allocates
 * nothing. Everything here is per thread (per worker process in the server).
 */
import type { BalancePolicy, ServerAddress } from '../config/options.js';
import type { Histogram } from '../stats/histogram.js';

/**
 * Where a server stands: `up`; `ejected` by passive health until `ejectedUntil`; `unhealthy` by
 * active health checks (until they pass `rise` times); `down` by configuration.
 */
export type HealthState = 'up' | 'ejected' | 'unhealthy' | 'down';

/** Counters of one server in this thread, read at scrape time. */
export interface ServerStats {
  /** Sockets opened (connection attempts). */
  connects: number;
  /** Requests sent on a socket that had carried one before. */
  reuses: number;
  /** Failures by FailureKind (upstream/errors.ts), indexed by the enum's value. */
  readonly errors: Float64Array;
  /** Seconds from starting a connection to its being usable (TCP, and TLS for https). */
  readonly connectTime: Histogram;
  /** Times this server was ejected by passive health. */
  ejections: number;
}

export interface ServerInfo {
  readonly address: ServerAddress;
  /** `host:port` (IPv6 in brackets). */
  readonly label: string;
  /** Position in the upstream's `servers`. */
  readonly index: number;
  /** Relative share of requests (1 unless configured). */
  readonly weight: number;
  /** Used only while no primary server is usable. */
  readonly backup: boolean;
  readonly health: HealthState;
  /** `health === 'up'`: the balancer may choose it. */
  readonly usable: boolean;
  /** End of the current ejection (ms since the epoch), or 0. */
  readonly ejectedUntil: number;
  /** Requests assigned to this server and not yet finished, in this thread. */
  readonly active: number;
  /** Open sockets to this server in this thread (connecting, idle and busy). */
  readonly open: number;
  /** Of those, sockets still connecting. */
  readonly connecting: number;
  /** Of those, idle keep-alive sockets. */
  readonly idle: number;
  /** Requests waiting for a free socket (all `max_connections` busy). */
  readonly pending: number;
  readonly stats: ServerStats;
}

export interface UpstreamInfo {
  readonly name: string;
  readonly balance: BalancePolicy;
  readonly servers: readonly ServerInfo[];
}
