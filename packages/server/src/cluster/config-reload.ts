/**
 * Configuration reload in the supervisor (SIGHUP, `POST /reload`): read the file again, validate
 * all of it, and only then have every worker switch its proxy between two requests (no
 * connection is touched: see Proxy.reload). On any error the running configuration stays, and the
 * error (file, line, key, fix) is logged, counted and kept for /status.
 *
 * What a worker cannot switch in place (listeners, the worker count, the admin endpoint, logging)
 * is reported as waiting for a restart, not applied.
 */
import { normalizeOptions, ProxyConfigError, formatProblem } from '@portcullis/core';
import { ConfigError, type ServerConfig } from '../config/index.js';
import type { Logger } from '../log.js';
import type { ToWorker } from './messages.js';

/** How long the supervisor waits for every worker to confirm a configuration switch. */
const ACK_TIMEOUT = 10_000;

export type ConfigReloadResult =
  | { ok: true; generation: number; workers: number; kept: number; drained: number; needsRestart: string[] }
  | { ok: false; error: string };

export interface LastReload {
  at: string;
  trigger: string;
  ok: boolean;
  error: string | null;
  needsRestart: string[];
}

export interface ConfigReloaderDeps {
  /** Read and validate the configuration again (the same file and flags as at start). */
  reread: (() => ServerConfig) | null;
  current(): ServerConfig;
  /** Adopt `next` as the running configuration (new workers start with it). */
  adopt(next: ServerConfig): void;
  /** Workers to switch, with their pids. */
  workers(): Array<{ pid: number; send(msg: ToWorker): void }>;
  log: Logger;
  counted(result: 'success' | 'failure'): void;
  /**
   * Apply what only new worker processes take (listeners, worker count, logging) by a rolling
   * restart; null when done, else why not.
   */
  rollover(next: ServerConfig): Promise<string | null>;
}

interface Waiting {
  pids: Set<number>;
  failures: string[];
  kept: number;
  drained: number;
  done: () => void;
}

export class ConfigReloader {
  private generation = 0;
  private readonly waiting = new Map<number, Waiting>();
  /** One reload at a time: a second waits for the first. */
  private chain: Promise<unknown> = Promise.resolve();
  last: LastReload | null = null;

  constructor(private readonly deps: ConfigReloaderDeps) {}

  reload(trigger: string): Promise<ConfigReloadResult> {
    const run = this.chain.then(() => this.run(trigger));
    this.chain = run.catch(() => undefined);
    return run;
  }

  /** A worker's answer to a `config` message. */
  answered(pid: number, generation: number, failure: string | null, kept = 0, drained = 0): void {
    const w = this.waiting.get(generation);
    if (w === undefined || !w.pids.delete(pid)) return;
    if (failure !== null) w.failures.push(`worker ${pid}: ${failure}`);
    w.kept = Math.max(w.kept, kept);
    w.drained = Math.max(w.drained, drained);
    if (w.pids.size === 0) w.done();
  }

  /** A worker exited: it owes no answer (its replacement starts with the adopted configuration). */
  exited(pid: number): void {
    for (const gen of [...this.waiting.keys()]) this.answered(pid, gen, null);
  }

  private async run(trigger: string): Promise<ConfigReloadResult> {
    const { deps } = this;
    const fail = (error: string): ConfigReloadResult => {
      deps.counted('failure');
      this.last = { at: new Date().toISOString(), trigger, ok: false, error, needsRestart: [] };
      deps.log.error({ trigger, err: error }, 'configuration reload failed; the running configuration stays');
      return { ok: false, error };
    };
    if (deps.reread === null) return fail('there is no configuration file to read again (started with --to or the demo)');
    let next: ServerConfig;
    try {
      next = deps.reread();
      // What the workers will run, checked here first so that no worker is left behind.
      normalizeOptions(next.proxy);
    } catch (err) {
      if (err instanceof ConfigError) return fail(err.message);
      if (err instanceof ProxyConfigError) return fail(err.problems.map(formatProblem).join('; '));
      return fail(err instanceof Error ? err.message : String(err));
    }
    const current = deps.current();
    const changed = restartOnly(current, next);
    const adopted: ServerConfig = { ...current, proxy: next.proxy, sendTimeout: next.sendTimeout, drainDelay: next.drainDelay, shutdownTimeout: next.shutdownTimeout };
    const generation = ++this.generation;
    const workers = deps.workers();
    const w: Waiting = { pids: new Set(workers.map((x) => x.pid)), failures: [], kept: 0, drained: 0, done: () => {} };
    const answered = new Promise<void>((resolve) => (w.done = resolve));
    this.waiting.set(generation, w);
    for (const x of workers) x.send({ type: 'config', generation, proxy: next.proxy, sendTimeout: next.sendTimeout });
    if (w.pids.size === 0) w.done();
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<void>((resolve) => (timer = setTimeout(resolve, ACK_TIMEOUT)));
    await Promise.race([answered, timedOut]);
    clearTimeout(timer);
    this.waiting.delete(generation);
    for (const pid of w.pids) w.failures.push(`worker ${pid}: no answer within ${ACK_TIMEOUT / 1000} s`);
    // Adopted even if a worker failed: the others switched, and a replaced worker starts with it.
    deps.adopt(adopted);
    if (w.failures.length > 0) return fail(`some workers kept the previous configuration: ${w.failures.join('; ')}`);
    // Listeners, the worker count and logging: new worker processes, one at a time.
    if (changed.some((k) => k === 'listen' || k === 'workers' || k === 'log')) {
      const problem = await deps.rollover(next);
      if (problem !== null) return fail(`routes and upstreams switched, but not the listeners: ${problem}`);
    }
    // The admin endpoint is the supervisor's own: it changes with a restart of the process.
    const needsRestart = changed.filter((k) => k === 'admin');
    deps.counted('success');
    this.last = { at: new Date().toISOString(), trigger, ok: true, error: null, needsRestart };
    const summary = { generation, workers: workers.length, kept: w.kept, drained: w.drained, needsRestart };
    deps.log.info({ trigger, ...summary }, 'configuration reloaded');
    if (needsRestart.length > 0) {
      deps.log.warn({ keys: needsRestart }, 'configuration reloaded, but these settings take effect only after a restart');
    }
    return { ok: true, ...summary };
  }
}

/** Top-level settings that differ and that a reload does not apply (they need a restart). */
function restartOnly(a: ServerConfig, b: ServerConfig): string[] {
  const keys: string[] = [];
  const same = (x: unknown, y: unknown): boolean => JSON.stringify(x) === JSON.stringify(y);
  if (!same(a.listeners, b.listeners)) keys.push('listen');
  if (a.workers !== b.workers) keys.push('workers');
  if (!same(a.admin, b.admin)) keys.push('admin');
  if (a.logLevel !== b.logLevel || a.accessLog !== b.accessLog) keys.push('log');
  return keys;
}
