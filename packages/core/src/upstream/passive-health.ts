/**
 * Passive health for one upstream in this thread: Envoy's outlier detection with nginx's
 * `max_fails`/`fail_timeout` as a mode. The exchange reports each attempt's outcome; a server that
 * fails `consecutiveFailures` times (in a row, or within `window`) is ejected for
 * `baseEjectionTime` x its ejection level, at most `maxEjectionTime`, and comes back by itself.
 *
 * Never more than `maxEjectedPercent` of the servers are out at once (at least one may be, when
 * there are two or more): past it the failing server stays in, as Envoy does, so a sick upstream
 * degrades instead of refusing everything. A lone server is never ejected (nginx ignores
 * `max_fails` for it): there is nowhere else to send its requests.
 */
import { clock, watch, unwatch, type Timed } from '../clock.js';
import type { PassiveHealthOptions } from '../config/options.js';
import type { Pool } from './pool.js';

export interface EjectionListener {
  ejected(server: Pool, until: number, failures: number, reason: string): void;
  returned(server: Pool): void;
}

/** The timer of one server's ejection. */
class Ejection implements Timed {
  deadline = 0;
  constructor(
    private readonly detector: PassiveHealth,
    readonly server: Pool,
  ) {}
  onDeadline(): void {
    this.detector.restore(this.server);
  }
}

export class PassiveHealth {
  private threshold: number;
  private readonly maxEjected: number;
  private readonly timers: Ejection[];
  private ejectedCount = 0;

  constructor(
    private readonly opts: PassiveHealthOptions,
    servers: readonly Pool[],
    private readonly listener: EjectionListener,
  ) {
    this.threshold = servers.length < 2 ? 0 : opts.consecutiveFailures;
    this.maxEjected = opts.maxEjectedPercent <= 0 ? 0 : Math.max(1, Math.floor((servers.length * opts.maxEjectedPercent) / 100));
    this.timers = servers.map((s) => new Ejection(this, s));
    // Pools a reload took over may be ejected already: their ejections run on, timed from here.
    for (const s of servers) {
      if (s.ejectedUntil === 0) continue;
      this.ejectedCount++;
      this.timers[s.index]!.deadline = s.ejectedUntil;
    }
    if (this.threshold > 0 || this.ejectedCount > 0) watch(this.timers);
  }

  /** Whether this upstream counts anything (off, or a lone server). */
  get enabled(): boolean {
    return this.threshold > 0;
  }

  /** The server answered (any status that is not a counted failure). */
  success(server: Pool): void {
    // In window mode (nginx's fail_timeout) successes do not reset the count; the window does.
    if (this.opts.window === 0) server.failures = 0;
  }

  /** An attempt on `server` failed: connect, TLS, reset, timeout, invalid response, or a counted 5xx. */
  failure(server: Pool, reason: string): void {
    if (this.threshold === 0 || server.ejectedUntil !== 0) return;
    const now = clock.now;
    if (this.opts.window > 0 && (server.failures === 0 || now - server.failingSince > this.opts.window)) {
      server.failures = 0;
      server.failingSince = now;
    }
    if (++server.failures < this.threshold) return;
    const failures = server.failures;
    server.failures = 0;
    const until = this.eject(server, now);
    if (until !== 0) {
      server.stats.ejections++;
      this.listener.ejected(server, until, failures, reason);
    }
  }

  /**
   * Eject `server` now; `until` when the decision was made elsewhere (another worker). Returns
   * the end of the ejection, or 0 when the cap on ejected servers kept it in.
   */
  eject(server: Pool, now: number, until = 0): number {
    if (server.ejectedUntil !== 0 || this.ejectedCount >= this.maxEjected) return 0;
    if (until === 0) {
      // A server quiet for max_ejection_time since its last ejection starts over at the base time.
      if (server.returnedAt !== 0 && now - server.returnedAt >= this.opts.maxEjectionTime) server.ejectionLevel = 0;
      server.ejectionLevel++;
      until = now + Math.min(this.opts.baseEjectionTime * server.ejectionLevel, this.opts.maxEjectionTime);
    }
    server.ejectedUntil = until;
    server.updateUsable();
    this.ejectedCount++;
    this.timers[server.index]!.deadline = until;
    return until;
  }

  /** The ejection time is over: the server takes requests again. */
  restore(server: Pool): void {
    if (server.ejectedUntil === 0) return;
    server.ejectedUntil = 0;
    server.returnedAt = clock.now;
    server.failures = 0;
    server.updateUsable();
    this.ejectedCount--;
    this.listener.returned(server);
  }

  /** Stop counting and timing (the upstream closed or a reload replaced it). */
  close(): void {
    this.threshold = 0;
    unwatch(this.timers);
  }
}
