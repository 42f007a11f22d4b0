/**
 * Active health checks (HAProxy `check`, nginx plus `health_check`): each server of an upstream
 * with a `healthCheck` gets a GET of its `path` every `interval`, over a new connection (as
 * HAProxy does, so a check also proves the server still accepts connections), with the upstream's
 * own protocol and TLS settings. `fall` failures in a row take a server out, `rise` passes in a
 * row bring it back; each transition is reported once to the listener. Meant to run in one
 * process (the supervisor) that tells the workers; it keeps no process alive (every timer and
 * probe socket is unref'd) and nothing throws out of a timer.
 */
import http from 'node:http';
import https from 'node:https';
import { performance } from 'node:perf_hooks';
import type { HealthCheckOptions, ServerAddress, UpstreamOptions } from '../config/options.js';
import { formatHostPort } from '../headers/host.js';
import { describeTlsError } from '../upstream/tls-error.js';
import { sniName, tlsFor } from '../upstream/tls-options.js';

/** A server that changed state: `healthy` is the new state, `reason` why ("3 failed checks: …"). */
export interface HealthChange {
  upstream: string;
  /** Index of the server in the upstream's `servers`. */
  server: number;
  /** `host:port` of the server. */
  label: string;
  healthy: boolean;
  reason: string;
}

export type HealthChangeListener = (change: HealthChange) => void;

/** One server's check state, as a status page or metrics read it (a copy). */
export interface ServerHealthSnapshot {
  server: number;
  label: string;
  healthy: boolean;
  /** Passing checks in a row (0 after a failure). */
  consecutivePasses: number;
  /** Failing checks in a row (0 after a pass). */
  consecutiveFails: number;
  /** Status of the last probe's response; null if it got none. */
  lastStatus: number | null;
  /** Why the last probe failed ("status 500", "connect ECONNREFUSED", …); null if it passed. */
  lastError: string | null;
  /** When the last finished probe started (ms since the epoch); null before the first. */
  lastProbeAt: number | null;
  /** How long the last finished probe took (ms, connect to end of body). */
  lastLatencyMs: number | null;
  /** Probes finished since construction (counter). */
  probes: number;
  /** Of those, the failed ones (counter). */
  failures: number;
}

export interface UpstreamHealthSnapshot {
  upstream: string;
  servers: ServerHealthSnapshot[];
}

/** Body bytes read from a probe's response; past this the rest is dropped and the status decides. */
const MAX_BODY = 64 * 1024;
const USER_AGENT = 'portcullis-health-check';

/** Per server: its state and the timer or request in progress. */
class ServerCheck {
  readonly label: string;
  healthy = true;
  passes = 0;
  fails = 0;
  lastStatus: number | null = null;
  lastError: string | null = null;
  lastProbeAt: number | null = null;
  lastLatencyMs: number | null = null;
  probes = 0;
  failures = 0;
  /** The timer of the next probe, while one waits. */
  timer: NodeJS.Timeout | null = null;
  /** Cancels the probe in flight, while one runs. */
  cancel: (() => void) | null = null;

  constructor(
    readonly upstream: string,
    readonly index: number,
    readonly address: ServerAddress,
    readonly check: HealthCheckOptions,
    readonly requestOptions: https.RequestOptions,
    readonly secure: boolean,
  ) {
    this.label = formatHostPort(address.host, address.port);
  }
}

export class ActiveHealthChecks {
  private readonly checks: ServerCheck[] = [];
  private readonly upstreams: string[] = [];
  private readonly onChange: HealthChangeListener;
  private running = false;

  /**
   * `initial`: the state a server starts in (after a reload, what the checks before it found: a
   * failing server stays out until it passes `rise` times); undefined or no answer: healthy.
   */
  constructor(upstreams: readonly UpstreamOptions[], onChange: HealthChangeListener, initial?: (upstream: string, label: string) => boolean | undefined) {
    this.onChange = onChange;
    for (const u of upstreams) {
      const check = u.healthCheck;
      if (!check) continue;
      this.upstreams.push(u.name);
      const secure = u.protocol === 'https';
      const tlsOptions = secure ? tlsFor(u) : undefined;
      u.servers.forEach((s, i) => {
        const options: https.RequestOptions = {
          host: s.host,
          port: s.port,
          method: 'GET',
          path: check.path,
          agent: false,
          headers: { host: check.host ?? formatHostPort(s.host, s.port), 'user-agent': USER_AGENT, connection: 'close' },
        };
        if (tlsOptions) {
          Object.assign(options, tlsOptions);
          // As the proxy's pools: the configured name, else the host unless it is an IP literal.
          // '' (not undefined): node's https agent would otherwise take SNI from the Host header.
          options.servername = u.tls?.servername ?? sniName(s.host) ?? '';
        }
        const c = new ServerCheck(u.name, i, s, check, options, secure);
        c.healthy = initial?.(u.name, c.label) ?? true;
        this.checks.push(c);
      });
    }
  }

  /** Whether any upstream has checks (otherwise start() does nothing). */
  get enabled(): boolean {
    return this.checks.length > 0;
  }

  /**
   * Start probing: each server's first probe runs now or within the first interval (spread over
   * it, not all at once). Servers start healthy. A second call while running does nothing.
   */
  start(): void {
    if (this.running) return;
    this.running = true;
    const n = this.checks.length;
    this.checks.forEach((c, j) => this.schedule(c, Math.floor((c.check.interval * j) / n)));
  }

  /** Stop: cancel every timer and destroy every probe in flight (its socket closes). State is kept. */
  stop(): void {
    this.running = false;
    for (const c of this.checks) {
      if (c.timer) clearTimeout(c.timer);
      c.timer = null;
      const cancel = c.cancel;
      c.cancel = null;
      cancel?.();
    }
  }

  /** Whether a server is healthy (true for one that is not checked). */
  isHealthy(upstream: string, server: number): boolean {
    for (const c of this.checks) if (c.upstream === upstream && c.index === server) return c.healthy;
    return true;
  }

  /** The state of every checked server, by upstream (copies). */
  snapshot(): UpstreamHealthSnapshot[] {
    return this.upstreams.map((name) => ({
      upstream: name,
      servers: this.checks
        .filter((c) => c.upstream === name)
        .map((c) => ({
          server: c.index,
          label: c.label,
          healthy: c.healthy,
          consecutivePasses: c.passes,
          consecutiveFails: c.fails,
          lastStatus: c.lastStatus,
          lastError: c.lastError,
          lastProbeAt: c.lastProbeAt,
          lastLatencyMs: c.lastLatencyMs,
          probes: c.probes,
          failures: c.failures,
        })),
    }));
  }

  private schedule(c: ServerCheck, delay: number): void {
    if (!this.running) return;
    c.timer = setTimeout(() => {
      c.timer = null;
      try {
        this.probe(c);
      } catch (e) {
        // http.request throws synchronously only on bad options (an invalid path or header);
        // count it as a failed probe rather than stop checking.
        this.finish(c, Date.now(), performance.now(), null, `probe not sent: ${(e as Error).message}`);
      }
    }, delay);
    c.timer.unref();
  }

  private probe(c: ServerCheck): void {
    const startedAt = Date.now();
    const t0 = performance.now();
    const timeout = c.check.timeout;
    let settled = false;
    let status: number | null = null;
    let timer: NodeJS.Timeout | null = null;

    const done = (error: string | null): void => {
      if (settled) return;
      settled = true;
      if (timer) clearTimeout(timer);
      c.cancel = null;
      // Release the socket now rather than wait for the server's close (Connection: close).
      req.destroy();
      this.finish(c, startedAt, t0, status, error);
    };

    const req = (c.secure ? https : http).request(c.requestOptions, (res) => {
      status = res.statusCode ?? 0;
      let bytes = 0;
      res.on('data', (chunk: Buffer) => {
        bytes += chunk.length;
        if (bytes > MAX_BODY) done(null);
      });
      res.on('end', () => done(null));
      res.on('error', (e) => done(describe(e)));
      res.on('aborted', () => done('response body cut short'));
    });
    // Nor does a probe in flight keep the process alive (its timeout is unref'd too).
    req.on('socket', (socket) => socket.unref());
    req.on('error', (e) => done(describe(e)));
    req.on('close', () => done(status === null ? 'connection closed without a response' : 'response body cut short'));
    req.end();

    timer = setTimeout(() => done(`timeout after ${timeout} ms${status === null ? '' : ' (reading the body)'}`), timeout);
    timer.unref();
    c.cancel = () => {
      settled = true;
      if (timer) clearTimeout(timer);
      req.destroy();
    };
  }

  private finish(c: ServerCheck, startedAt: number, t0: number, status: number | null, error: string | null): void {
    if (!this.running) return;
    const latency = performance.now() - t0;
    c.probes++;
    c.lastProbeAt = startedAt;
    c.lastLatencyMs = Math.round(latency * 10) / 10;
    c.lastStatus = status;
    if (error === null && status !== null && !statusPasses(status, c.check.expectStatus)) error = `status ${status}`;
    c.lastError = error;
    if (error === null) {
      c.passes++;
      c.fails = 0;
      if (!c.healthy && c.passes >= c.check.rise) this.transition(c, true, `${c.passes} passed check${c.passes === 1 ? '' : 's'}`);
    } else {
      c.failures++;
      c.fails++;
      c.passes = 0;
      if (c.healthy && c.fails >= c.check.fall) this.transition(c, false, `${c.fails} failed check${c.fails === 1 ? '' : 's'}: ${error}`);
    }
    // One probe per interval: the next one starts an interval after this one started (at once
    // if this one took longer), never while this one runs.
    this.schedule(c, Math.max(0, c.check.interval - latency));
  }

  private transition(c: ServerCheck, healthy: boolean, reason: string): void {
    c.healthy = healthy;
    try {
      this.onChange({ upstream: c.upstream, server: c.index, label: c.label, healthy, reason });
    } catch (e) {
      // A failing listener must not stop the checks, nor throw out of a timer.
      process.emitWarning(`health check listener threw: ${(e as Error)?.message ?? e}`, 'PortcullisHealthCheck');
    }
  }
}

/** Whether `status` is within one of the inclusive ranges. */
export function statusPasses(status: number, ranges: ReadonlyArray<readonly [number, number]>): boolean {
  for (const [lo, hi] of ranges) if (status >= lo && status <= hi) return true;
  return false;
}

/** A probe's failure in a few words: "connect ECONNREFUSED", the TLS reason, "read ECONNRESET". */
function describe(e: NodeJS.ErrnoException): string {
  const tlsReason = describeTlsError(e);
  if (tlsReason) return tlsReason;
  if (e.code && e.syscall) return `${e.syscall} ${e.code}`;
  if (e.code === 'ECONNRESET') return 'connection reset';
  return e.message || String(e);
}
