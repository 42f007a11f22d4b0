/** Messages between the supervisor and its worker processes (over the fork IPC channel). */
import type { ProxyOptions } from '@portcullis/core';
import type { ServerConfig } from '../config/index.js';
import type { WorkerStatus } from '../admin/status.js';
import type { MetricJson } from '../metrics/exposition.js';
import type { TlsMaterial } from '../tls/store.js';

/** A server's state as the supervisor knows it, for workers (re)starting and for changes. */
export interface ServerHealthUpdate {
  upstream: string;
  /** Index in the upstream's servers. */
  server: number;
  /** Active health checks: true when passing (or never run), false when failing. */
  healthy: boolean;
}

export interface EjectionUpdate {
  upstream: string;
  server: number;
  /** End of the ejection, ms since the epoch. */
  until: number;
}

export type ToWorker =
  /**
   * `tls`: the certificates of each TLS listener, checked by the supervisor. `unhealthy`: servers
   * active health checks hold down now; `ejected`: ejections still running, decided by other workers.
   */
  /** Sent with a bound socket (IPC handle) before 'start': listener `index`'s shared socket. */
  | { type: 'listen-socket'; index: number }
  | { type: 'start'; config: ServerConfig; tls: TlsMaterial; unhealthy: ServerHealthUpdate[]; ejected: EjectionUpdate[] }
  /** Active health checks changed a server's state. */
  | ({ type: 'health' } & ServerHealthUpdate)
  /** Another worker's passive health ejected a server: eject it here too. */
  | ({ type: 'eject' } & EjectionUpdate)
  | { type: 'stop' }
  /** A graceful stop began: answer every response with Connection: close (keep accepting). */
  | { type: 'drain' }
  /** A configuration reload: switch the proxy to these options (validated by the supervisor). */
  | { type: 'config'; generation: number; proxy: ProxyOptions; sendTimeout: number }
  /** Certificates were reloaded: serve new handshakes with these. */
  | { type: 'reload'; generation: number; tls: TlsMaterial }
  /** The admin endpoint wants this worker's metrics or status; answered with `scraped` and the same id. */
  | { type: 'scrape'; id: number; what: 'metrics' | 'status' };

/** A worker's answer to a `scrape`. */
export type ScrapeAnswer =
  /** Its registry's getMetricsAsJSON(): empty when metrics are off (no `admin` section). */
  | { type: 'scraped'; id: number; what: 'metrics'; metrics: MetricJson[] }
  | { type: 'scraped'; id: number; what: 'status'; status: WorkerStatus };

export type FromWorker =
  | { type: 'ready' }
  /** Passive health in this worker ejected a server; the supervisor tells the others. */
  | ({ type: 'ejected' } & EjectionUpdate)
  | { type: 'failed'; message: string }
  | { type: 'reloaded'; generation: number }
  | { type: 'config-applied'; generation: number; kept: number; drained: number }
  | { type: 'config-failed'; generation: number; message: string }
  | { type: 'reload-failed'; generation: number; message: string }
  | ScrapeAnswer;
