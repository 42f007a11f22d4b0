/**
 * The supervisor: forks the workers, restarts one that dies (with backoff, so a crash loop does
 * not spin), says "ready" once every worker listens, and stops them gracefully on SIGTERM/SIGINT.
 * It serves no traffic itself, so nothing a request does can take it down. With `admin`, it also
 * serves the admin endpoint (admin/), up before the first worker starts and closed after the last
 * one stopped, so that it answers throughout.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { resolve } from 'node:path';
import { readFileSync } from 'node:fs';
import { formatHostPort } from '@portcullis/core';
import { fileURLToPath } from 'node:url';
import { adminRoutes } from '../admin/endpoints.js';
import { Scraper } from '../admin/scrape.js';
import { startAdminServer, type AdminServer } from '../admin/server.js';
import { statusDocument } from '../admin/status.js';
import { withDemoOrigin, type ServerConfig } from '../config/index.js';
import { startDemoOrigin } from '../demo-origin.js';
import { flushLogger, type Logger } from '../log.js';
import { SupervisorMetrics } from '../metrics/supervisor-metrics.js';
import { SharedSockets } from './shared-sockets.js';
import { workerExecArgv } from './worker-flags.js';
import { CertificateStore, FileWatcher } from '../tls/store.js';
import type { FromWorker, ToWorker } from './messages.js';
import { HealthCoordinator } from './health.js';
import { ConfigReloader } from './config-reload.js';

const workerEntry = fileURLToPath(new URL('./worker-main.js', import.meta.url));
const MAX_BACKOFF = 5_000;
/** How long the supervisor waits for every worker to confirm a certificate reload. */
const RELOAD_ACK_TIMEOUT = 10_000;
/**
 * The fd workers write their log lines to: the supervisor's stdout. A worker's own fd 1 is the
 * supervisor's stderr, because uWS prints diagnostics with printf/cout (`domain()` announces every
 * SNI name it browses to), which must not end up between the JSON log lines.
 */
const WORKER_LOG_FD = 4;
/** A worker that lived this long was healthy: its next crash restarts it at once. */
const HEALTHY_AFTER = 10_000;

export interface RollingResult {
  ok: boolean;
  /** Workers replaced. */
  workers: number;
  ms: number;
}

/** The sha256 of a file's content, or null when it cannot be read (being replaced). */
function fileDigest(path: string): string | null {
  try {
    return createHash('sha256').update(readFileSync(path)).digest('hex');
  } catch {
    return null;
  }
}

/** Whether the kernel moves connections queued on a closing SO_REUSEPORT listener to another. */
function tcpMigrateReq(): boolean {
  try {
    return readFileSync('/proc/sys/net/ipv4/tcp_migrate_req', 'utf8').trim() === '1';
  } catch {
    return false;
  }
}

interface Slot {
  index: number;
  child: ChildProcess | null;
  startedAt: number;
  backoff: number;
  /** Its current process listens (false from its exit until its replacement listens). */
  ready: boolean;
  restarts: number;
}

/** The server package's version (package.json next to dist/). */
function packageVersion(): string {
  try {
    return (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;
  } catch {
    return 'unknown';
  }
}

/**
 * `reread`: the configuration read again from the same file and flags, for reloads; null when
 * there is no file (`--to`, the demo).
 */
export async function runSupervisor(initial: ServerConfig, log: Logger, reread: (() => ServerConfig) | null = null): Promise<void> {
  const startedAt = Date.now();
  let config = initial;
  let closeDemo: (() => void) | null = null;
  if (config.demo) {
    const demo = await startDemoOrigin();
    config = withDemoOrigin(config, { host: '127.0.0.1', port: demo.port });
    closeDemo = () => demo.server.close();
    log.info({ origin: `http://127.0.0.1:${demo.port}` }, 'demo origin started: requests are answered with what the origin received');
  }

  // Certificates are read and checked here, once, and handed to every worker.
  let certificates = new CertificateStore(config.listeners, log);
  try {
    certificates.loadAll();
  } catch (err) {
    log.fatal({ err: (err as Error).message }, 'cannot load the TLS certificates');
    flushLogger(log);
    closeDemo?.();
    setTimeout(() => process.exit(1), 20);
    return;
  }

  // The http2 listeners' sockets, bound here and shared by the workers (shared-sockets.ts).
  const shared = new SharedSockets();
  try {
    await shared.bind(config.listeners);
  } catch (err) {
    log.fatal({ err: (err as Error).message }, 'cannot listen');
    flushLogger(log);
    closeDemo?.();
    setTimeout(() => process.exit(1), 20);
    return;
  }

  const slots: Slot[] = [];
  let stopping = false;
  // Active health checks run here, once for all workers; ejections travel between workers.
  const health = new HealthCoordinator(config.proxy.upstreams, log, (msg: ToWorker, exceptPid?: number) => {
    for (const s of slots) if (s.child?.connected && s.child.pid !== exceptPid) s.child.send(msg);
  });
  let announced = false;
  let generation = 0;

  const readiness = (): { ready: true } | { ready: false; reason: string } => {
    if (stopping) return { ready: false, reason: 'stopping' };
    const waiting = slots.filter((s) => !s.ready);
    if (!announced) return { ready: false, reason: 'starting' };
    if (waiting.length > 0) return { ready: false, reason: `worker ${waiting.map((s) => s.index).join(', ')} restarting` };
    return { ready: true };
  };
  const version = packageVersion();
  let rollover: (next: ServerConfig) => Promise<string | null> = async () => 'not ready';
  const reloader = new ConfigReloader({
    rollover: (next) => rollover(next),
    reread,
    current: () => config,
    adopt: (next) => {
      config = next;
      health.reconfigure(next.proxy.upstreams);
    },
    workers: () => slots.flatMap((s) => (s.child?.connected && s.child.pid !== undefined ? [{ pid: s.child.pid, send: (m: ToWorker) => void s.child!.send(m) }] : [])),
    log,
    counted: (result) => metrics?.configReload(result),
  });
  const scraper = new Scraper();
  const metrics = config.admin
    ? new SupervisorMetrics({ version, config: () => config, tls: () => certificates.material, workers: config.workers, ready: () => readiness().ready, checks: () => health.snapshot() })
    : null;
  let admin: AdminServer | null = null;
  if (config.admin && metrics) {
    const settings = config.admin;
    try {
      admin = await startAdminServer(
        settings,
        adminRoutes({
          scrapeTimeout: settings.scrapeTimeout,
          scraper,
          targets: () => slots.map((s) => ({ slot: s.index, child: s.child })),
          metrics,
          readiness,
          reload: () => reloader.reload('POST /reload'),
          restartWorkers: () => rollingRestart('POST /workers/restart'),
          status: (answers, results) =>
            statusDocument({
              version,
              config,
              startedAt,
              ready: readiness().ready,
              stopping,
              lastReload: reloader.last,
              answers,
              tls: certificates.material,
              checks: health.snapshot(),
              workers: slots.map((s, i) => ({
                slot: s.index,
                pid: s.child?.pid ?? null,
                uptime: s.child ? Math.round((Date.now() - s.startedAt) / 1000) : null,
                restarts: s.restarts,
                ready: s.ready,
                answered: results[i] === 'answered',
              })),
            }),
        }),
        log,
      );
    } catch (err) {
      log.fatal({ admin: formatHostPort(settings.host, settings.port), err: (err as Error).message }, 'cannot listen for the admin endpoint');
      flushLogger(log);
      closeDemo?.();
      setTimeout(() => process.exit(1), 20);
      return;
    }
  }
  /** Workers yet to confirm each reload generation. */
  const awaiting = new Map<number, { pids: Set<number>; failed: number; timer: NodeJS.Timeout }>();
  const settle = (gen: number, pid: number, ok: boolean): void => {
    const wait = awaiting.get(gen);
    if (!wait || !wait.pids.delete(pid)) return;
    if (!ok) wait.failed++;
    if (wait.pids.size > 0) return;
    clearTimeout(wait.timer);
    awaiting.delete(gen);
    metrics?.certificateReload(wait.failed === 0 ? 'applied' : 'failed');
    if (wait.failed === 0) log.info({ generation: gen, workers: slots.length }, 'certificates reloaded');
    else log.error({ generation: gen, failed: wait.failed }, 'certificates reloaded, but some workers kept the previous ones (see their log lines)');
  };

  /** Old workers a rolling restart replaced: they drain and exit, and are not restarted. */
  const retiring = new Set<ChildProcess>();
  /** Resolves when a given worker says it listens. */
  const readyWaiters = new Map<ChildProcess, () => void>();

  const spawn = (slot: Slot): ChildProcess => {
    const child = fork(workerEntry, [], {
      execArgv: workerExecArgv(config),
      stdio: ['ignore', 2, 'inherit', 'ipc', 1],
      env: { ...process.env, PORTCULLIS_LOG_FD: String(WORKER_LOG_FD), PORTCULLIS_WORKER_INDEX: String(slot.index) },
    });
    slot.child = child;
    slot.startedAt = Date.now();
    slot.ready = false;
    child.on('message', (msg: FromWorker) => {
      if (scraper.onMessage(msg)) return;
      if (msg.type === 'ready') {
        slot.ready = true;
        readyWaiters.get(child)?.();
        if (!announced && slots.every((s) => s.ready)) {
          announced = true;
          // Scripts and tests wait for this line: it is written at any level but silent.
          const announce = log.level === 'silent' || log.isLevelEnabled('info') ? log : log.child({}, { level: 'info' });
          announce.info(
            { listen: config.listeners.map((l) => formatHostPort(l.host, l.port)), workers: config.workers, config: config.source },
            'ready',
          );
        } else if (announced) {
          log.info({ worker: child.pid }, 'worker replaced');
        }
      } else if (msg.type === 'config-applied' || msg.type === 'config-failed') {
        reloader.answered(child.pid ?? -1, msg.generation, msg.type === 'config-failed' ? msg.message : null, msg.type === 'config-applied' ? msg.kept : 0, msg.type === 'config-applied' ? msg.drained : 0);
      } else if (msg.type === 'ejected') {
        health.ejected(child.pid ?? -1, msg);
      } else if (msg.type === 'reloaded' || msg.type === 'reload-failed') {
        settle(msg.generation, child.pid ?? -1, msg.type === 'reloaded');
      } else if (msg.type === 'failed') {
        log.fatal({ worker: child.pid, err: msg.message }, 'worker could not start');
        if (!announced) void shutdown(1);
      }
    });
    child.on('exit', (code, signal) => {
      readyWaiters.get(child)?.();
      readyWaiters.delete(child);
      if (retiring.delete(child)) {
        log.info({ worker: child.pid, code, signal }, 'replaced worker exited');
        return;
      }
      if (slot.child !== child) return;
      slot.child = null;
      slot.ready = false;
      // Its replacement starts with the current certificates: it owes no reload confirmation.
      for (const gen of [...awaiting.keys()]) settle(gen, child.pid ?? -1, true);
      reloader.exited(child.pid ?? -1);
      if (stopping) return;
      const lived = Date.now() - slot.startedAt;
      slot.backoff = lived > HEALTHY_AFTER ? 0 : Math.min(MAX_BACKOFF, Math.max(100, slot.backoff * 2));
      log.error({ worker: child.pid, code, signal, restartIn: slot.backoff }, 'worker died; restarting it');
      setTimeout(() => {
        if (stopping) return;
        slot.restarts++;
        metrics?.workerRestarted(slot.index);
        spawn(slot);
      }, slot.backoff);
    });
    config.listeners.forEach((l, index) => {
      const handle = shared.handleOf(l);
      if (handle) child.send({ type: 'listen-socket', index } satisfies ToWorker, handle as never);
    });
    child.send({ type: 'start', config, tls: certificates.material, ...health.startState() } satisfies ToWorker);
    return child;
  };

  /**
   * Replace every worker, one slot at a time: the new process starts and listens (SO_REUSEPORT:
   * both share the port) before the old one drains (Connection: close), stops accepting and
   * finishes its requests. Connections queued on the old listener when it closes are moved to
   * the new one by the kernel when net.ipv4.tcp_migrate_req is 1, and reset otherwise.
   */
  let rolling: Promise<RollingResult> | null = null;
  /** `count`: only the first slots (those that existed before a reload added some). */
  const rollingRestart = (trigger: string, count = slots.length): Promise<RollingResult> => {
    if (rolling !== null) return rolling;
    const run = async (): Promise<RollingResult> => {
      const started = Date.now();
      if (!tcpMigrateReq()) {
        log.warn('net.ipv4.tcp_migrate_req is 0: connections queued on a replaced worker\'s listener as it closes are reset (sysctl -w net.ipv4.tcp_migrate_req=1 moves them to the new worker)');
      }
      log.info({ trigger, workers: slots.length }, 'rolling restart: replacing the workers one at a time');
      let replaced = 0;
      for (const slot of slots.slice(0, count)) {
        if (stopping) break;
        const old = slot.child;
        const listening = new Promise<void>((resolve) => {
          const fresh = spawn(slot);
          readyWaiters.set(fresh, resolve);
        });
        // The old process listens until the new one does: the slot stays ready throughout.
        if (old !== null) slot.ready = true;
        await listening;
        readyWaiters.delete(slot.child!);
        if (old === null || old.exitCode !== null) continue;
        retiring.add(old);
        const exited = new Promise<void>((resolve) => old.once('exit', () => resolve()));
        if (old.connected) {
          old.send({ type: 'drain' } satisfies ToWorker);
          old.send({ type: 'stop' } satisfies ToWorker);
        } else old.kill('SIGTERM');
        const killer = setTimeout(() => old.kill('SIGKILL'), config.shutdownTimeout + 2_000);
        await exited;
        clearTimeout(killer);
        replaced++;
      }
      const result: RollingResult = { ok: !stopping, workers: replaced, ms: Date.now() - started };
      log.info({ trigger, ...result }, 'rolling restart done');
      return result;
    };
    rolling = run().finally(() => (rolling = null));
    return rolling;
  };

  const shutdown = async (code: number): Promise<void> => {
    if (stopping) return;
    stopping = true;
    watcher?.close();
    configWatcher?.close();
    // From here /ready answers 503 and every response says Connection: close; the listeners keep
    // accepting for drain_delay, while load balancers take this process out of rotation.
    for (const s of slots) if (s.child?.connected) s.child.send({ type: 'drain' } satisfies ToWorker);
    if (config.drainDelay > 0) {
      log.info({ drainDelay: config.drainDelay }, 'draining: not ready, still accepting');
      await new Promise((r) => setTimeout(r, config.drainDelay));
    }
    health.stop();
    log.info({ timeout: config.shutdownTimeout }, 'stopping: finishing requests in flight');
    const exits = slots.map(
      (s) =>
        new Promise<void>((resolve) => {
          const child = s.child;
          if (child === null || child.exitCode !== null) return resolve();
          child.once('exit', () => resolve());
          if (child.connected) child.send({ type: 'stop' } satisfies ToWorker);
          else child.kill('SIGTERM');
          setTimeout(() => child.kill('SIGKILL'), config.shutdownTimeout + 2_000).unref();
        }),
    );
    await Promise.all(exits);
    shared.close();
    // Last: /ready said 503 from the moment the stop began, /live 200 until now.
    await admin?.close();
    closeDemo?.();
    log.info('stopped');
    flushLogger(log);
    setTimeout(() => process.exit(code), 20);
  };

  process.on('SIGTERM', () => void shutdown(0));
  process.on('SIGINT', () => void shutdown(0));
  /** Read the certificates again and, if any changed, switch every worker to them. */
  const reload = (trigger: string): void => {
    if (stopping || certificates.empty) return;
    if (!certificates.reload()) {
      metrics?.certificateReload('unchanged');
      log.info({ trigger }, 'certificates unchanged');
      return;
    }
    const gen = ++generation;
    const pids = new Set<number>();
    for (const s of slots) {
      if (s.child?.connected && s.child.pid !== undefined) {
        pids.add(s.child.pid);
        s.child.send({ type: 'reload', generation: gen, tls: certificates.material } satisfies ToWorker);
      }
    }
    const timer = setTimeout(() => {
      awaiting.delete(gen);
      metrics?.certificateReload('failed');
      log.error({ generation: gen, workers: [...pids] }, 'workers did not confirm the certificate reload in time');
    }, RELOAD_ACK_TIMEOUT);
    timer.unref();
    if (pids.size === 0) {
      clearTimeout(timer);
      metrics?.certificateReload('applied');
      log.info({ generation: gen, workers: 0 }, 'certificates reloaded');
      return;
    }
    awaiting.set(gen, { pids, failed: 0, timer });
  };
  const watch = (): FileWatcher | null =>
    certificates.watchedFiles().length > 0 ? new FileWatcher(certificates.watchedFiles(), () => reload('file change'), log) : null;
  let watcher = watch();

  // `watch: true`: the configuration file's changes reload it, when its content changed.
  const configWatcher =
    config.watch && reread !== null
      ? new FileWatcher([resolve(config.source)], () => {
          const digest = fileDigest(resolve(config.source));
          if (digest === null) return;
          if (digest === configDigest) {
            log.info({ config: config.source }, 'configuration file changed on disk but not its content: not reloaded');
            return;
          }
          configDigest = digest;
          void reloader.reload('file change');
        }, log)
      : null;
  let configDigest = config.watch ? fileDigest(resolve(config.source)) : null;

  /**
   * A reload changed what only new worker processes can take (listeners, the worker count,
   * logging): adopt it and replace the workers one at a time, as a rolling restart. Listeners'
   * certificates are loaded first; if they cannot be, nothing changes.
   */
  rollover = async (next: ServerConfig): Promise<string | null> => {
    if (JSON.stringify(next.listeners) !== JSON.stringify(config.listeners)) {
      // uWS listens with SO_REUSEPORT and node:http2 listeners on one shared socket without it: the
      // two cannot hold one port side by side while the workers are replaced one by one.
      const switched = next.listeners.find((l) => config.listeners.some((o) => o.host === l.host && o.port === l.port && !o.http2 !== !l.http2));
      if (switched) {
        return `listener ${formatHostPort(switched.host, switched.port)} would switch ${switched.http2 ? 'to' : 'from'} http2, which needs a restart (uWS and node:http2 cannot share the port during a rolling restart)`;
      }
      const store = new CertificateStore(next.listeners, log);
      try {
        store.loadAll();
      } catch (err) {
        return `the new listeners' certificates: ${(err as Error).message}`;
      }
      try {
        await shared.bind(next.listeners);
      } catch (err) {
        return `the new listeners: ${(err as Error).message}`;
      }
      certificates = store;
      watcher?.close();
      watcher = watch();
    }
    config = { ...config, listeners: next.listeners, workers: next.workers, logLevel: next.logLevel, accessLog: next.accessLog };
    // Fewer workers: the last slots drain and go. More: new slots start.
    while (slots.length > config.workers) {
      const slot = slots.pop()!;
      const child = slot.child;
      if (child === null || child.exitCode !== null) continue;
      retiring.add(child);
      const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
      child.send({ type: 'drain' } satisfies ToWorker);
      child.send({ type: 'stop' } satisfies ToWorker);
      await exited;
    }
    const existing = slots.length;
    while (slots.length < config.workers) {
      const slot: Slot = { index: slots.length, child: null, startedAt: 0, backoff: 0, ready: false, restarts: 0 };
      slots.push(slot);
      spawn(slot);
    }
    if (existing > 0) await rollingRestart('configuration reload', existing);
    // No worker uses the sockets of listeners that went any more.
    shared.keepOnly(config.listeners);
    return null;
  };

  process.on('SIGUSR2', () => void rollingRestart('SIGUSR2'));
  process.on('SIGHUP', () => {
    // As nginx: the configuration, then the certificates, read again.
    log.info('SIGHUP received: reloading the configuration and the certificates');
    if (reread !== null && !stopping) void reloader.reload('SIGHUP');
    reload('SIGHUP');
  });

  for (let i = 0; i < config.workers; i++) {
    const slot: Slot = { index: i, child: null, startedAt: 0, backoff: 0, ready: false, restarts: 0 };
    slots.push(slot);
    spawn(slot);
  }
  health.start();
}
