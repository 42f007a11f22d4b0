/**
 * pino, set up once per process. Log lines are JSON on stdout; writes are asynchronous (pino's
 * SonicBoom batches them while one is in flight), so the request path only pays for building the
 * line, never for the syscall. Each process writes whole lines under PIPE_BUF, so the lines of
 * several workers sharing one stdout do not interleave. The access log, one line per request, has
 * its own cheaper writer (access-log.ts) on the same fd.
 */
import { pino, type Logger } from 'pino';
import type { LogLevel } from './config/index.js';

export type { Logger };

/** The fd log lines go to: the supervisor's stdout, which workers get on another fd (see cluster/supervisor.ts). */
export function logFd(): number {
  return Number(process.env['PORTCULLIS_LOG_FD']) || 1;
}

export function createLogger(level: LogLevel, role: string): Logger {
  return pino(
    {
      level,
      base: { pid: process.pid, role },
      timestamp: pino.stdTimeFunctions.isoTime,
    },
    pino.destination({ dest: logFd(), sync: false }),
  );
}

/** Flush buffered lines before the process exits. */
export function flushLogger(log: Logger): void {
  try {
    log.flush();
  } catch {
    // Nothing left to write to.
  }
}
