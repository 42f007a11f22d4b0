/**
 * What only the supervisor knows: worker restarts, certificate reloads, the certificates' expiry,
 * client connections per listener (from the kernel's tables), how the workers answered the scrape,
 * and build information. Merged with the workers' metrics at every scrape.
 */
import { formatHostPort, type UpstreamHealthSnapshot } from '@portcullis/core';
import type { Registry } from 'prom-client';
import type { ServerConfig } from '../config/index.js';
import type { TlsMaterial } from '../tls/store.js';
import type { ScrapeResult } from '../admin/scrape.js';
import { DownstreamConnections } from './downstream-connections.js';
import { registryOf, type MetricJson } from './exposition.js';

/** How a certificate reload ended: `applied` (every worker switched), `unchanged` (same files), `failed` (a worker kept the old ones or did not confirm in time). */
export type ReloadResult = 'applied' | 'unchanged' | 'failed';

export interface SupervisorMetricsContext {
  version: string;
  config: () => ServerConfig;
  tls: () => TlsMaterial;
  workers: number;
  ready: () => boolean;
  /** The active health checks' state (cluster/health.ts). */
  checks: () => UpstreamHealthSnapshot[];
}

export class SupervisorMetrics {
  private readonly restarts: number[];
  private readonly certificateReloads = new Map<ReloadResult, number>([
    ['applied', 0],
    ['unchanged', 0],
    ['failed', 0],
  ]);
  private lastScrape: ScrapeResult[] = [];
  private readonly configReloads = new Map<'success' | 'failure', number>([
    ['success', 0],
    ['failure', 0],
  ]);
  private readonly downstream: DownstreamConnections;
  private readonly registry: Registry;

  constructor(private readonly ctx: SupervisorMetricsContext) {
    this.restarts = Array<number>(ctx.workers).fill(0);
    this.downstream = new DownstreamConnections(ctx.config().listeners);
    this.registry = registryOf([
      {
        name: 'portcullis_build_info',
        help: 'Always 1; the labels say which Portcullis and which Node.js run.',
        type: 'gauge',
        collect: (out) => out.push({ labels: { version: ctx.version, node_version: process.version }, value: 1 }),
      },
      {
        name: 'portcullis_ready',
        help: '1 when every worker listens and no graceful stop has begun (as GET /ready answers 200), else 0.',
        type: 'gauge',
        collect: (out) => out.push({ labels: {}, value: ctx.ready() ? 1 : 0 }),
      },
      {
        name: 'portcullis_worker_restarts_total',
        help: 'Worker processes restarted after they died, by worker slot.',
        type: 'counter',
        collect: (out) => this.restarts.forEach((value, worker) => out.push({ labels: { worker: String(worker) }, value })),
      },
      {
        name: 'portcullis_scrape_workers',
        help: 'Workers in this scrape by how they took part: answered, late (asked, no answer within admin.scrape_timeout: their metrics are missing) or down (not running: being restarted).',
        type: 'gauge',
        collect: (out) => {
          for (const result of ['answered', 'late', 'down'] as const) out.push({ labels: { result }, value: this.lastScrape.filter((r) => r === result).length });
        },
      },
      {
        name: 'portcullis_downstream_connections',
        help: 'Established client connections per listener, counted from /proc/net/tcp and /proc/net/tcp6 at scrape time (uWS 20.30 reports no HTTP connection events).',
        type: 'gauge',
        collect: (out) => {
          for (const [listener, value] of this.downstream.current()) out.push({ labels: { listener }, value });
        },
      },
      {
        name: 'portcullis_tls_certificate_not_after_seconds',
        help: 'End of validity (Unix seconds) of each certificate a TLS listener serves, by listener, certificate file and names.',
        type: 'gauge',
        collect: (out) => {
          const listeners = ctx.config().listeners;
          ctx.tls().forEach((certs, i) => {
            const l = listeners[i];
            if (!certs || !l) return;
            for (const c of certs) {
              out.push({ labels: { listener: formatHostPort(l.host, l.port), cert_file: c.certFile, names: c.names.join(',') }, value: Date.parse(c.notAfter) / 1000 });
            }
          });
        },
      },
      {
        name: 'portcullis_health_checks_total',
        help: 'Active health check probes by upstream, server and result (pass, fail); one probe per interval per server for the whole process tree.',
        type: 'counter',
        collect: (out) => {
          for (const u of ctx.checks()) {
            for (const s of u.servers) {
              out.push({ labels: { upstream: u.upstream, server: s.label, result: 'pass' }, value: s.probes - s.failures });
              out.push({ labels: { upstream: u.upstream, server: s.label, result: 'fail' }, value: s.failures });
            }
          }
        },
      },
      {
        name: 'portcullis_config_reloads_total',
        help: 'Configuration reloads (SIGHUP or POST /reload) by result: success (every worker switched), failure (the file was invalid, or a worker kept the previous configuration).',
        type: 'counter',
        collect: (out) => {
          for (const [result, value] of this.configReloads) out.push({ labels: { result }, value });
        },
      },
      {
        name: 'portcullis_certificate_reloads_total',
        help: 'Certificate reloads (SIGHUP or a file change) by result: applied, unchanged, failed.',
        type: 'counter',
        collect: (out) => {
          for (const [result, value] of this.certificateReloads) out.push({ labels: { result }, value });
        },
      },
    ]);
  }

  workerRestarted(slot: number): void {
    if (slot < this.restarts.length) this.restarts[slot]!++;
  }

  configReload(result: 'success' | 'failure'): void {
    this.configReloads.set(result, this.configReloads.get(result)! + 1);
  }

  certificateReload(result: ReloadResult): void {
    this.certificateReloads.set(result, this.certificateReloads.get(result)! + 1);
  }

  /** The supervisor's own metrics, after the workers answered `results`. */
  async scrape(results: ScrapeResult[]): Promise<MetricJson[]> {
    await this.downstream.refresh();
    // getMetricsAsJSON() reads every metric synchronously before its first await.
    this.lastScrape = results;
    return (await this.registry.getMetricsAsJSON()) as unknown as MetricJson[];
  }
}
