/**
 * `GET /status`: what each worker sees of its upstreams (snapshotted in the worker, sent over
 * IPC), merged per server by the supervisor: pool figures summed over workers, the worst health
 * any worker holds, the latest ejection end. Servers are listed from the configuration, so a
 * server every worker failed to report still appears (health `unknown`).
 */
import type { HealthState, Proxy, ServerHealthSnapshot, UpstreamHealthSnapshot } from '@portcullis/core';
import type { ServerConfig } from '../config/index.js';
import type { TlsMaterial } from '../tls/store.js';
import type { LastReload } from '../cluster/config-reload.js';
import { formatHostPort } from '@portcullis/core';

/** One server as one worker sees it. */
export interface WorkerServerStatus {
  server: string;
  index: number;
  weight: number;
  backup: boolean;
  health: HealthState;
  /** End of the current ejection (ms since the epoch), or 0. */
  ejectedUntil: number;
  active: number;
  open: number;
  connecting: number;
  idle: number;
  pending: number;
  ejections: number;
}

export interface WorkerUpstreamStatus {
  name: string;
  balance: string;
  servers: WorkerServerStatus[];
}

/** A worker's answer to a status scrape. */
export interface WorkerStatus {
  upstreams: WorkerUpstreamStatus[];
  inflight: number;
}

/** In the worker: a snapshot of its upstreams' live state. */
export function workerStatus(proxy: Proxy, inflight: number): WorkerStatus {
  return {
    inflight,
    upstreams: proxy.upstreams.map((u) => ({
      name: u.name,
      balance: u.balance,
      servers: u.servers.map((s) => ({
        server: s.label,
        index: s.index,
        weight: s.weight,
        backup: s.backup,
        health: s.health,
        ejectedUntil: s.ejectedUntil,
        active: s.active,
        open: s.open,
        connecting: s.connecting,
        idle: s.idle,
        pending: s.pending,
        ejections: s.stats.ejections,
      })),
    })),
  };
}

/** Worst first wins: a server any worker holds down is reported down. */
const HEALTH_ORDER: readonly string[] = ['up', 'ejected', 'unhealthy', 'down'];

export interface WorkerSlotStatus {
  slot: number;
  pid: number | null;
  /** Seconds since this worker process started (null while none runs). */
  uptime: number | null;
  restarts: number;
  ready: boolean;
  /** Answered this status request within the scrape timeout. */
  answered: boolean;
}

export interface StatusContext {
  version: string;
  config: ServerConfig;
  startedAt: number;
  ready: boolean;
  stopping: boolean;
  /** The last configuration reload, or null when there was none. */
  lastReload: LastReload | null;
  workers: WorkerSlotStatus[];
  /** The answers of the workers that answered in time. */
  answers: WorkerStatus[];
  tls: TlsMaterial;
  /** The active health checks' state, for upstreams that have them. */
  checks: UpstreamHealthSnapshot[];
}

function iso(ms: number): string | null {
  return ms > 0 ? new Date(ms).toISOString() : null;
}

/** The active health check of one server, when its upstream has them. */
function checkOf(s: ServerHealthSnapshot | undefined): { check?: Record<string, unknown> } {
  if (s === undefined) return {};
  return {
    check: {
      healthy: s.healthy,
      consecutivePasses: s.consecutivePasses,
      consecutiveFails: s.consecutiveFails,
      lastStatus: s.lastStatus,
      lastError: s.lastError,
      lastProbeAt: s.lastProbeAt === null ? null : iso(s.lastProbeAt),
      lastLatencyMs: s.lastLatencyMs,
      probes: s.probes,
      failures: s.failures,
    },
  };
}

/** In the supervisor: the /status document. */
export function statusDocument(ctx: StatusContext): Record<string, unknown> {
  const now = Date.now();
  const upstreams = ctx.config.proxy.upstreams.map((u) => {
    const checked = ctx.checks.find((c) => c.upstream === u.name);
    const seen = ctx.answers.map((a) => a.upstreams.find((w) => w.name === u.name)).filter((w) => w !== undefined);
    return {
      name: u.name,
      balance: seen[0]?.balance ?? u.balance,
      servers: u.servers.map((address, index) => {
        const views = seen.map((w) => w.servers[index]).filter((s) => s !== undefined);
        const sum = (f: (s: WorkerServerStatus) => number): number => views.reduce((n, s) => n + f(s), 0);
        const health = views.length === 0 ? 'unknown' : views.map((s) => s.health).reduce((a, b) => (HEALTH_ORDER.indexOf(b) > HEALTH_ORDER.indexOf(a) ? b : a));
        const open = sum((s) => s.open);
        const idle = sum((s) => s.idle);
        const connecting = sum((s) => s.connecting);
        return {
          server: views[0]?.server ?? formatHostPort(address.host, address.port),
          index,
          weight: views[0]?.weight ?? address.weight ?? 1,
          backup: views[0]?.backup ?? address.backup ?? false,
          health,
          ejectedUntil: iso(Math.max(0, ...views.map((s) => s.ejectedUntil))),
          ejections: sum((s) => s.ejections),
          active: sum((s) => s.active),
          pool: { open, connecting, idle, busy: Math.max(0, open - idle - connecting) },
          queue: sum((s) => s.pending),
          workersReporting: views.length,
          ...checkOf(checked?.servers[index]),
        };
      }),
    };
  });
  const certificates: Record<string, unknown>[] = [];
  ctx.tls.forEach((certs, i) => {
    const l = ctx.config.listeners[i];
    if (!certs || !l) return;
    for (const c of certs) {
      certificates.push({ listener: formatHostPort(l.host, l.port), certFile: c.certFile, names: c.names, notAfter: c.notAfter, subject: c.subject, fingerprint: c.fingerprint });
    }
  });
  return {
    version: ctx.version,
    node: process.version,
    config: ctx.config.source,
    pid: process.pid,
    uptime: Math.round((now - ctx.startedAt) / 1000),
    ready: ctx.ready,
    stopping: ctx.stopping,
    lastReload: ctx.lastReload,
    listeners: ctx.config.listeners.map((l) => ({ listen: formatHostPort(l.host, l.port), tls: !!l.tls, redirect: !!l.redirectHttps })),
    workers: ctx.workers,
    inflight: ctx.answers.reduce((n, a) => n + a.inflight, 0),
    upstreams,
    certificates,
  };
}
