/**
 * One worker process: its own uWS app per listener on the shared port (Linux SO_REUSEPORT spreads
 * connections across workers), its own upstream pools, its own access log, its own metrics (when
 * the admin endpoint is on; the supervisor scrapes them over IPC). Workers are processes, not
 * threads: an abort inside uWS takes down the whole process, and must not take the others.
 */
import { createProxy, type ExchangeResult, type Proxy, type ProxyHooks, type ProxyOptions } from '@portcullis/core';
import { workerStatus } from '../admin/status.js';
import type { ServerConfig } from '../config/index.js';
import { setSendTimeout, startDraining } from '../frontend/downstream.js';
import type { SharedHandle } from '../frontend/h2-listener.js';
import { addressOf, closeAll, listen, reloadCertificates, stopAccepting, type Listening } from '../frontend/listener.js';
import { loadUws } from '../frontend/uws.js';
import { closeWebSockets } from '../frontend/websocket.js';
import { AccessLog } from '../access-log.js';
import { createLogger, flushLogger, logFd } from '../log.js';
import { WorkerMetrics } from '../metrics/registry.js';
import type { TlsMaterial } from '../tls/store.js';
import type { FromWorker, ToWorker } from './messages.js';

function send(msg: FromWorker): void {
  process.send?.(msg);
}

/** What a scrape reads; set once the proxy exists. */
let scrapeSource: { proxy: Proxy; metrics: WorkerMetrics | null; inflight: () => number } | null = null;

/** Answer the admin endpoint's scrape (at once, also while starting: then with nothing yet). */
function answerScrape(msg: Extract<ToWorker, { type: 'scrape' }>): void {
  const src = scrapeSource;
  if (msg.what === 'status') {
    send({ type: 'scraped', id: msg.id, what: 'status', status: src ? workerStatus(src.proxy, src.inflight()) : { upstreams: [], inflight: 0 } });
    return;
  }
  const metrics = src?.metrics;
  if (!metrics) {
    send({ type: 'scraped', id: msg.id, what: 'metrics', metrics: [] });
    return;
  }
  metrics.scrape().then(
    (m) => send({ type: 'scraped', id: msg.id, what: 'metrics', metrics: m }),
    () => send({ type: 'scraped', id: msg.id, what: 'metrics', metrics: [] }),
  );
}

/** The http2 listeners' sockets the supervisor sent, by listener index (they arrive before 'start'). */
const sharedSockets = new Map<number, SharedHandle>();

export function runWorker(): void {
  process.on('message', (msg: ToWorker, handle?: SharedHandle) => {
    if (msg.type === 'listen-socket' && handle) sharedSockets.set(msg.index, handle);
    else if (msg.type === 'scrape') answerScrape(msg);
    else if (msg.type === 'start') start(msg).catch((err: unknown) => {
      send({ type: 'failed', message: err instanceof Error ? err.message : String(err) });
      process.exitCode = 1;
      process.disconnect?.();
    });
  });
}

async function start(msg: Extract<ToWorker, { type: 'start' }>): Promise<void> {
  const { config, tls } = msg;
  const log = createLogger(config.logLevel, 'worker');
  const uws = loadUws();
  let inflight = 0;
  const accessLog = config.accessLog && log.isLevelEnabled('info') ? new AccessLog({ fd: logFd() }) : null;
  // Metrics are counted only with the admin endpoint on; without it the hooks are the access log's.
  let created: Proxy | null = null;
  const metrics = config.admin ? new WorkerMetrics({ proxy: () => created, inflight: () => inflight, worker: Number(process.env['PORTCULLIS_WORKER_INDEX']) || 0 }) : null;
  const hooks: ProxyHooks = {
    logging(r: ExchangeResult) {
      inflight--;
      metrics?.request(r);
      if (r.error !== null) log.warn({ upstream: r.upstream, err: r.error.message, path: r.request.url }, 'upstream error');
      accessLog?.write(r);
    },
  };
  if (metrics !== null) hooks.upstreamResponse = (_req, server, _head, elapsed) => metrics.responseHead(server, elapsed);
  hooks.health = (upstream, server, change) => {
    const where = { upstream: upstream.name, server: server.label };
    if (change.kind === 'ejected') {
      log.warn({ ...where, failures: change.failures, reason: change.reason, until: new Date(change.until).toISOString() }, 'server ejected by passive health');
      // The supervisor has every other worker eject it too (cluster/health.ts).
      send({ type: 'ejected', upstream: upstream.name, server: server.index, until: change.until });
    } else if (change.kind === 'returned') {
      log.info(where, 'server back in rotation after its ejection');
    }
    // 'healthy'/'unhealthy' come from the supervisor's active checks, which log them once.
  };
  const proxy = createProxy(config.proxy, hooks);
  created = proxy;
  // What holds already, from checks and other workers' ejections, before the first request.
  for (const u of msg.unhealthy) proxy.setServerHealth(u.upstream, u.server, u.healthy);
  for (const e of msg.ejected) proxy.ejectServer(e.upstream, e.server, e.until);
  // Changes from now on; listening before the first await, so none sent while we start is lost.
  process.on('message', (m: ToWorker) => {
    if (m.type === 'health') proxy.setServerHealth(m.upstream, m.server, m.healthy);
    else if (m.type === 'eject') proxy.ejectServer(m.upstream, m.server, m.until);
  });
  scrapeSource = { proxy, metrics, inflight: () => inflight };
  // The frontends' view of the proxy: the same, counting requests in flight for a graceful stop.
  const counted: Proxy = {
    // Getters: a reload swaps the options and upstreams underneath.
    get options() {
      return proxy.options;
    },
    handle(req, down) {
      inflight++;
      return proxy.handle(req, down);
    },
    upgrade(req, down, hooks) {
      inflight++;
      return proxy.upgrade(req, down, hooks);
    },
    refused(req, status) {
      inflight++;
      proxy.refused(req, status);
    },
    get upstreams() {
      return proxy.upstreams;
    },
    reload: (init) => proxy.reload(init),
    setServerHealth: (upstream, server, healthy) => proxy.setServerHealth(upstream, server, healthy),
    ejectServer: (upstream, server, until) => proxy.ejectServer(upstream, server, until),
    close: () => proxy.close(),
  };

  setSendTimeout(config.sendTimeout);
  const listening: Listening[] = [];
  for (const [i, l] of config.listeners.entries()) listening.push(await listen(uws, l, counted, log, tls[i] ?? undefined, sharedSockets.get(i)));
  send({ type: 'ready' });
  log.debug({ listeners: config.listeners }, 'worker listening');

  let stopping = false;
  const stop = (): void => {
    if (stopping) return;
    stopping = true;
    startDraining();
    // Stop accepting, let requests in flight finish (bounded), then close what is left.
    for (const l of listening) stopAccepting(uws, l);
    // WebSockets do not end by themselves: clients are told the server is going away (1001).
    closeWebSockets(counted);
    const deadline = Date.now() + config.shutdownTimeout;
    const wait = setInterval(() => {
      if (inflight > 0 && Date.now() < deadline) return;
      clearInterval(wait);
      for (const l of listening) closeAll(l);
      void proxy.close();
      flushLogger(log);
      accessLog?.flush();
      setTimeout(() => process.exit(0), 50);
    }, 20);
  };
  process.on('message', (msg: ToWorker) => {
    if (msg.type === 'stop') stop();
    else if (msg.type === 'drain') startDraining();
    else if (msg.type === 'config' && !stopping) applyConfig(msg.generation, msg.proxy, msg.sendTimeout);
    else if (msg.type === 'reload' && !stopping) void reload(msg.generation, msg.tls);
  });

  /** A configuration reload: the next request runs on it; those in flight finish on theirs. */
  const applyConfig = (generation: number, options: ProxyOptions, sendTimeout: number): void => {
    try {
      const summary = proxy.reload(options);
      setSendTimeout(sendTimeout);
      log.debug({ generation, ...summary }, 'configuration reloaded');
      send({ type: 'config-applied', generation, kept: summary.serversKept, drained: summary.serversDrained });
    } catch (err) {
      send({ type: 'config-failed', generation, message: err instanceof Error ? err.message : String(err) });
    }
  };

  /** New handshakes get the reloaded certificates; a listener that cannot switch keeps its old ones. */
  let reloading = Promise.resolve();
  const reload = (generation: number, material: TlsMaterial): Promise<void> =>
    (reloading = reloading.then(async () => {
      const failures: string[] = [];
      for (const [i, l] of listening.entries()) {
        const certificates = material[i];
        if (!l.config.tls || !certificates || certificates.every((c, j) => c.digest === l.digests[j])) continue;
        try {
          await reloadCertificates(uws, l, certificates);
          log.info({ listener: addressOf(l.config), fingerprints: certificates.map((c) => c.fingerprint) }, 'new TLS handshakes use the reloaded certificates');
        } catch (err) {
          const message = `${addressOf(l.config)}: ${err instanceof Error ? err.message : String(err)}`;
          log.error({ listener: addressOf(l.config), err: message }, 'cannot switch to the reloaded certificates; keeping the ones in use');
          failures.push(message);
        }
      }
      send(failures.length ? { type: 'reload-failed', generation, message: failures.join('; ') } : { type: 'reloaded', generation });
    }));
  process.on('SIGTERM', stop);
  // The supervisor is gone (killed): do not linger as an orphan holding the port.
  process.on('disconnect', stop);
  process.on('SIGINT', () => {
    // Ctrl-C reaches the whole process group; the supervisor decides how to stop.
  });
}
