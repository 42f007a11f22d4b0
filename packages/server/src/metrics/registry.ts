/**
 * A worker's metrics: the counters the hooks feed (requests, response-head timing), the pools
 * read at scrape time, WebSockets, event-loop lag and requests in flight, all in one prom-client
 * registry that the worker serialises with getMetricsAsJSON() when the supervisor scrapes it.
 */
import type { ExchangeResult, Proxy, ServerInfo } from '@portcullis/core';
import type { Registry } from 'prom-client';
import { registryOf, type MetricJson } from './exposition.js';
import { PoolMetrics } from './pool-metrics.js';
import { EventLoopLag } from './process-metrics.js';
import { RequestMetrics } from './request-metrics.js';
import { http2Definitions } from './http2-metrics.js';
import { websocketDefinitions } from './websocket-metrics.js';

export interface WorkerMetricsOptions {
  /** The worker's proxy (null until created). */
  proxy: () => Proxy | null;
  /** Requests in flight in this worker now. */
  inflight: () => number;
  /** The worker's slot index (0 … workers-1), stable across restarts. */
  worker: number;
}

export class WorkerMetrics {
  readonly requests = new RequestMetrics();
  readonly pools: PoolMetrics;
  private readonly lag: EventLoopLag;
  private readonly registry: Registry;

  constructor(opts: WorkerMetricsOptions) {
    this.pools = new PoolMetrics(opts.proxy);
    this.lag = new EventLoopLag(opts.worker);
    this.registry = registryOf([
      ...this.requests.definitions(),
      {
        name: 'portcullis_http_requests_in_flight',
        help: 'Requests (and WebSocket handshakes) received and not yet finished.',
        type: 'gauge',
        collect: (out) => out.push({ labels: {}, value: opts.inflight() }),
      },
      ...this.pools.definitions(),
      ...websocketDefinitions(),
      ...http2Definitions(),
      ...this.lag.definitions(),
    ]);
  }

  /** The `logging` hook's share. */
  request(r: ExchangeResult): void {
    this.requests.record(r);
  }

  /** The `upstreamResponse` hook's share. */
  responseHead(server: ServerInfo, elapsedMs: number): void {
    this.pools.responseHead(server, elapsedMs);
  }

  /** Everything, in the form the supervisor aggregates. */
  async scrape(): Promise<MetricJson[]> {
    this.lag.sample();
    return (await this.registry.getMetricsAsJSON()) as unknown as MetricJson[];
  }

  stop(): void {
    this.lag.stop();
  }
}
