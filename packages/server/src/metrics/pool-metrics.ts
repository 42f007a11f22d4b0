/**
 * Upstream servers as one worker sees them. Only the time to the response head is counted per
 * request (the `upstreamResponse` hook, one histogram observation); everything else is read from
 * the core's live state at scrape time: the pools (`ServerInfo`: open, connecting, idle, pending),
 * their counters (`ServerStats`: connections, reuses, errors by kind, ejections, connect time) and
 * each server's health.
 */
import { Histogram, type Proxy, type ServerInfo, type UpstreamInfo } from '@portcullis/core';
import { pushHistogram, type MetricDef, type Sample } from './exposition.js';
import { FAILURE_KIND_LABELS } from './labels.js';

class ServerTiming {
  readonly header = new Histogram();
  constructor(
    readonly upstream: string,
    readonly server: string,
  ) {}
}

export class PoolMetrics {
  private readonly timings = new Map<ServerInfo, ServerTiming>();
  private lastServer: ServerInfo | null = null;
  private lastTiming: ServerTiming | null = null;

  /** `proxy` is read at scrape time (and to name a server the first time it answers). */
  constructor(private readonly proxy: () => Proxy | null) {}

  /** The response head came from `server` after `elapsedMs` (the `upstreamResponse` hook). */
  responseHead(server: ServerInfo, elapsedMs: number): void {
    const t = server === this.lastServer ? this.lastTiming : this.timingOf(server);
    if (t === null) return;
    t.header.observe(elapsedMs / 1000);
  }

  private timingOf(server: ServerInfo): ServerTiming | null {
    let t = this.timings.get(server);
    if (t === undefined) {
      const upstream = this.upstreams().find((u) => u.servers.includes(server));
      if (upstream === undefined) return null;
      t = new ServerTiming(upstream.name, server.label);
      this.timings.set(server, t);
    }
    this.lastServer = server;
    this.lastTiming = t;
    return t;
  }

  private upstreams(): readonly UpstreamInfo[] {
    return this.proxy()?.upstreams ?? [];
  }

  /** Push one sample per server of every upstream. */
  private each(out: Sample[], fn: (s: ServerInfo, labels: { upstream: string; server: string }) => void): void {
    for (const u of this.upstreams()) for (const s of u.servers) fn(s, { upstream: u.name, server: s.label });
  }

  definitions(): MetricDef[] {
    return [
      {
        name: 'portcullis_upstream_response_header_seconds',
        help: 'Time from the request head to the upstream response head (time to first byte), by upstream and server.',
        type: 'histogram',
        collect: (out) => {
          for (const t of this.timings.values()) pushHistogram(out, 'portcullis_upstream_response_header_seconds', t.header, { upstream: t.upstream, server: t.server });
        },
      },
      {
        name: 'portcullis_upstream_connect_seconds',
        help: 'Time to open a connection to the server (TCP, and TLS for https upstreams), by upstream and server.',
        type: 'histogram',
        collect: (out) => this.each(out, (s, l) => pushHistogram(out, 'portcullis_upstream_connect_seconds', s.stats.connectTime, l)),
      },
      {
        name: 'portcullis_upstream_connections',
        help: 'Open connections to each server, by state: connecting, idle (keep-alive, unused) and busy (carrying requests).',
        type: 'gauge',
        collect: (out) =>
          this.each(out, (s, l) => {
            const connecting = s.connecting;
            const idle = s.idle;
            out.push({ labels: { ...l, state: 'connecting' }, value: connecting });
            out.push({ labels: { ...l, state: 'idle' }, value: idle });
            out.push({ labels: { ...l, state: 'busy' }, value: Math.max(0, s.open - idle - connecting) });
          }),
      },
      {
        name: 'portcullis_upstream_pending_requests',
        help: 'Requests waiting for a connection to the server because max_connections are busy.',
        type: 'gauge',
        collect: (out) => this.each(out, (s, l) => out.push({ labels: l, value: s.pending })),
      },
      {
        name: 'portcullis_upstream_connections_total',
        help: 'Connections opened (connection attempts) to each server.',
        type: 'counter',
        collect: (out) => this.each(out, (s, l) => out.push({ labels: l, value: s.stats.connects })),
      },
      {
        name: 'portcullis_upstream_connection_reuses_total',
        help: 'Requests sent on a keep-alive connection that had carried a request before.',
        type: 'counter',
        collect: (out) => this.each(out, (s, l) => out.push({ labels: l, value: s.stats.reuses })),
      },
      {
        name: 'portcullis_upstream_errors_total',
        help: 'Failed exchanges with each server, by kind: refused, connect_timeout, reset, read_timeout, invalid_response, queue_timeout, send_timeout, tls, no_server.',
        type: 'counter',
        collect: (out) =>
          this.each(out, (s, l) => {
            const errors = s.stats.errors;
            const n = Math.min(errors.length, FAILURE_KIND_LABELS.length);
            for (let k = 0; k < n; k++) out.push({ labels: { ...l, kind: FAILURE_KIND_LABELS[k]! }, value: errors[k]! });
          }),
      },
      {
        name: 'portcullis_upstream_server_up',
        help: 'Whether the server may be chosen (1) or is ejected, failing health checks or down (0); the minimum over workers, so 0 if any worker holds it down.',
        type: 'gauge',
        aggregator: 'min',
        collect: (out) => this.each(out, (s, l) => out.push({ labels: l, value: s.usable ? 1 : 0 })),
      },
      {
        name: 'portcullis_upstream_ejections_total',
        help: 'Times passive health ejected the server (counted in the worker that decided it).',
        type: 'counter',
        collect: (out) => this.each(out, (s, l) => out.push({ labels: l, value: s.stats.ejections })),
      },
    ];
  }
}
