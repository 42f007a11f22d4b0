/**
 * The supervisor: forks the workers, restarts one that dies (with backoff, so a crash loop does
 * not spin), says "ready" once every worker listens, and stops them gracefully on SIGTERM/SIGINT.
 * It serves no traffic itself, so nothing a request does can take it down.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { withDemoOrigin, type ServerConfig } from '../config/index.js';
import { startDemoOrigin } from '../demo-origin.js';
import { flushLogger, type Logger } from '../log.js';
import type { FromWorker, ToWorker } from './messages.js';

const workerEntry = fileURLToPath(new URL('./worker-main.js', import.meta.url));
const MAX_BACKOFF = 5_000;
/** A worker that lived this long was healthy: its next crash restarts it at once. */
const HEALTHY_AFTER = 10_000;

interface Slot {
  index: number;
  child: ChildProcess | null;
  startedAt: number;
  backoff: number;
  ready: boolean;
}

export async function runSupervisor(initial: ServerConfig, log: Logger): Promise<void> {
  let config = initial;
  let closeDemo: (() => void) | null = null;
  if (config.demo) {
    const demo = await startDemoOrigin();
    config = withDemoOrigin(config, { host: '127.0.0.1', port: demo.port });
    closeDemo = () => demo.server.close();
    log.info({ origin: `http://127.0.0.1:${demo.port}` }, 'demo origin started: requests are answered with what the origin received');
  }

  const slots: Slot[] = [];
  let stopping = false;
  let announced = false;

  const spawn = (slot: Slot): void => {
    const child = fork(workerEntry, [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    slot.child = child;
    slot.startedAt = Date.now();
    slot.ready = false;
    child.on('message', (msg: FromWorker) => {
      if (msg.type === 'ready') {
        slot.ready = true;
        if (!announced && slots.every((s) => s.ready)) {
          announced = true;
          log.info(
            { listen: config.listeners.map((l) => `${l.host.includes(':') ? `[${l.host}]` : l.host}:${l.port}`), workers: config.workers, config: config.source },
            'ready',
          );
        } else if (announced) {
          log.info({ worker: child.pid }, 'worker replaced');
        }
      } else if (msg.type === 'failed') {
        log.fatal({ worker: child.pid, err: msg.message }, 'worker could not start');
        if (!announced) void shutdown(1);
      }
    });
    child.on('exit', (code, signal) => {
      slot.child = null;
      if (stopping) return;
      const lived = Date.now() - slot.startedAt;
      slot.backoff = lived > HEALTHY_AFTER ? 0 : Math.min(MAX_BACKOFF, Math.max(100, slot.backoff * 2));
      log.error({ worker: child.pid, code, signal, restartIn: slot.backoff }, 'worker died; restarting it');
      setTimeout(() => {
        if (!stopping) spawn(slot);
      }, slot.backoff);
    });
    child.send({ type: 'start', config } satisfies ToWorker);
  };

  const shutdown = async (code: number): Promise<void> => {
    if (stopping) return;
    stopping = true;
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
    closeDemo?.();
    log.info('stopped');
    flushLogger(log);
    setTimeout(() => process.exit(code), 20);
  };

  process.on('SIGTERM', () => void shutdown(0));
  process.on('SIGINT', () => void shutdown(0));
  process.on('SIGHUP', () => {
    // Reload hook (certificates come with TLS); for now, say it was heard.
    log.info('SIGHUP received');
  });

  for (let i = 0; i < config.workers; i++) {
    const slot: Slot = { index: i, child: null, startedAt: 0, backoff: 0, ready: false };
    slots.push(slot);
    spawn(slot);
  }
}
