/**
 * Health across the process tree, kept by the supervisor:
 * - active health checks run here, once for all workers (one probe per interval per server),
 *   and each change goes to every worker;
 * - an ejection decided by one worker's passive health goes to the others, so a dead server
 *   stops getting traffic from every worker after N failures seen by any one of them (as Envoy's
 *   outlier detection, which decides per cluster, not per thread);
 * - a worker that starts or restarts is told what holds now.
 */
import { ActiveHealthChecks, formatHostPort, type UpstreamHealthSnapshot, type UpstreamOptions } from '@portcullis/core';
import type { Logger } from '../log.js';
import type { EjectionUpdate, ServerHealthUpdate, ToWorker } from './messages.js';

export type Broadcast = (msg: ToWorker, exceptPid?: number) => void;

export class HealthCoordinator {
  private checks: ActiveHealthChecks;
  /** Ejections still running, by `upstream/server`. */
  private readonly ejections = new Map<string, EjectionUpdate>();
  private running = false;

  constructor(
    private upstreams: readonly UpstreamOptions[],
    private readonly log: Logger,
    private readonly broadcast: Broadcast,
  ) {
    this.checks = this.build(upstreams);
  }

  private build(upstreams: readonly UpstreamOptions[], initial?: (upstream: string, label: string) => boolean | undefined): ActiveHealthChecks {
    const { log, broadcast } = this;
    return new ActiveHealthChecks(
      upstreams,
      (change) => {
        const where = { upstream: change.upstream, server: change.label, reason: change.reason };
        if (change.healthy) log.info(where, 'server passes its health checks again: back in rotation');
        else log.warn(where, 'server fails its health checks: out of rotation');
        broadcast({ type: 'health', upstream: change.upstream, server: change.server, healthy: change.healthy });
      },
      initial,
    );
  }

  /**
   * A reload changed the upstreams: checks start over on the new list, each server where its
   * checks left it (by upstream and address), and every worker is told every server's state
   * (servers may have moved in their lists; upstreams may have lost their checks).
   */
  reconfigure(upstreams: readonly UpstreamOptions[]): void {
    const was = new Map<string, boolean>();
    for (const u of this.checks.snapshot()) for (const s of u.servers) was.set(`${u.upstream}\n${s.label}`, s.healthy);
    this.checks.stop();
    this.upstreams = upstreams;
    this.checks = this.build(upstreams, (u, label) => was.get(`${u}\n${label}`));
    // Indexes may have moved: running ejections stay in the workers' kept pools, not here.
    this.ejections.clear();
    for (const u of upstreams) {
      u.servers.forEach((_, i) => this.broadcast({ type: 'health', upstream: u.name, server: i, healthy: this.checks.isHealthy(u.name, i) }));
    }
    if (this.running && this.checks.enabled) this.checks.start();
  }

  start(): void {
    this.running = true;
    if (this.checks.enabled) this.checks.start();
  }

  stop(): void {
    this.running = false;
    this.checks.stop();
  }

  /** What a starting worker must apply before it serves. */
  startState(): { unhealthy: ServerHealthUpdate[]; ejected: EjectionUpdate[] } {
    const unhealthy: ServerHealthUpdate[] = [];
    for (const u of this.checks.snapshot()) {
      for (const s of u.servers) if (!s.healthy) unhealthy.push({ upstream: u.upstream, server: s.server, healthy: false });
    }
    const now = Date.now();
    const ejected: EjectionUpdate[] = [];
    for (const [key, e] of this.ejections) {
      if (e.until > now) ejected.push(e);
      else this.ejections.delete(key);
    }
    return { unhealthy, ejected };
  }

  /** Worker `pid` ejected a server: the other workers eject it until the same time. */
  ejected(pid: number, update: EjectionUpdate): void {
    const label = this.labelOf(update.upstream, update.server);
    this.log.warn({ upstream: update.upstream, server: label, until: new Date(update.until).toISOString(), worker: pid }, 'server ejected by passive health in every worker');
    const ejection: EjectionUpdate = { upstream: update.upstream, server: update.server, until: update.until };
    this.ejections.set(`${update.upstream}/${update.server}`, ejection);
    this.broadcast({ type: 'eject', ...ejection }, pid);
  }

  /** Active check state for /status. */
  snapshot(): UpstreamHealthSnapshot[] {
    return this.checks.snapshot();
  }

  private labelOf(upstream: string, server: number): string {
    const s = this.upstreams.find((u) => u.name === upstream)?.servers[server];
    return s === undefined ? `#${server}` : formatHostPort(s.host, s.port);
  }
}
