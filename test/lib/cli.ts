/**
 * Starts the `portcullis` CLI (packages/server/dist/cli.js) as a child process, collects its pino
 * JSON lines, waits for `"msg":"ready"`, and stops it (and any worker it leaves behind) in
 * t.teardown.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { Test } from 'tap';
import { deferred, freePort, sleep, waitFor, within, withTimeout } from './util.js';

export const CLI_PATH = fileURLToPath(new URL('../../packages/server/dist/cli.js', import.meta.url));

export type LogLine = Record<string, unknown> & { msg?: string; pid?: number };

export interface Cli {
  proc: ChildProcess;
  pid: number;
  /** Port the CLI listens on (127.0.0.1). */
  port: number;
  /** Parsed JSON lines of stdout so far. */
  lines: LogLine[];
  /** Raw stdout and stderr so far. */
  stdout(): string;
  stderr(): string;
  /** Resolves with the first line (past or future) matching `pred`, or rejects after `ms`. */
  waitForLine(pred: (l: LogLine) => boolean, ms: number, what: string): Promise<LogLine>;
  /** Pids of the CLI's child processes right now (its workers). */
  children(): number[];
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  stop(): Promise<void>;
}

/** Direct children of `pid`, from /proc/<pid>/task/<tid>/children. */
export function childPids(pid: number): number[] {
  const out = new Set<number>();
  try {
    for (const tid of readdirSync(`/proc/${pid}/task`)) {
      try {
        const s = readFileSync(`/proc/${pid}/task/${tid}/children`, 'utf8').trim();
        for (const p of s.split(/\s+/)) if (p) out.add(Number(p));
      } catch {
        /* thread gone */
      }
    }
  } catch {
    /* process gone */
  }
  return [...out];
}

/** VmRSS of a process in bytes, or 0 if it is gone. */
export function rssBytes(pid: number): number {
  try {
    const m = /VmRSS:\s+(\d+)\s+kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) * 1024 : 0;
  } catch {
    return 0;
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

function isOurs(pid: number, parent: number): boolean {
  // still our CLI's child, or orphaned to init/subreaper after the CLI died, and running node
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const ppid = Number(/PPid:\s+(\d+)/.exec(status)?.[1]);
    const cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
    return (ppid === parent || ppid === 1 || ppid === process.pid) && /node/.test(cmd);
  } catch {
    return false;
  }
}

export interface StartCliOptions {
  /** Wait for the ready line (default true). */
  waitReady?: boolean;
  readyTimeout?: number;
  /** The port the args listen on, if the caller chose it. */
  port?: number;
}

/**
 * Spawns the CLI with `args`. If the args contain no `--listen` and no `--config`, a free port is
 * chosen and `--listen 127.0.0.1:PORT` added.
 */
export async function startCli(t: Test, args: string[], opts: StartCliOptions = {}): Promise<Cli> {
  let port = opts.port ?? 0;
  // Subcommands (`import`, `check`) take their own arguments and listen on nothing.
  const subcommand = args[0] === 'import' || args[0] === 'check';
  if (!subcommand && !args.includes('--listen') && !args.includes('--config')) {
    port = await freePort();
    args = ['--listen', `127.0.0.1:${port}`, ...args];
  } else if (!port) {
    const i = args.indexOf('--listen');
    if (i >= 0) port = Number(args[i + 1]!.split(':').pop());
  }
  const proc = spawn(process.execPath, [CLI_PATH, ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, NODE_OPTIONS: '' },
  });
  const pid = proc.pid ?? -1;
  const lines: LogLine[] = [];
  let out = '';
  let err = '';
  let partial = '';
  const lineWaiters = new Set<() => void>();
  proc.stdout!.setEncoding('utf8');
  proc.stderr!.setEncoding('utf8');
  proc.stdout!.on('data', (d: string) => {
    out += d;
    partial += d;
    const parts = partial.split('\n');
    partial = parts.pop() ?? '';
    for (const p of parts) {
      if (!p.trim()) continue;
      try {
        lines.push(JSON.parse(p) as LogLine);
      } catch {
        lines.push({ msg: '<non-json>', raw: p });
      }
    }
    for (const w of lineWaiters) w();
  });
  proc.stderr!.on('data', (d: string) => {
    err += d;
  });
  const exit = deferred<{ code: number | null; signal: NodeJS.Signals | null }>();
  proc.on('exit', (code, signal) => {
    exit.resolve({ code, signal });
    for (const w of lineWaiters) w();
  });
  proc.on('error', (e) => {
    err += String(e);
    exit.resolve({ code: -1, signal: null });
  });

  const everChildren = new Set<number>();
  const children = (): number[] => {
    const c = childPids(pid);
    for (const p of c) everChildren.add(p);
    return c;
  };
  let exitedFlag = false;
  void exit.promise.then(() => {
    exitedFlag = true;
  });

  const waitForLine = async (pred: (l: LogLine) => boolean, ms: number, what: string): Promise<LogLine> => {
    const found = lines.find(pred);
    if (found) return found;
    const d = deferred<LogLine>();
    const check = (): void => {
      const f = lines.find(pred);
      if (f) d.resolve(f);
      else if (exitedFlag) {
        d.reject(new Error(`CLI exited before ${what}; stdout: ${out.slice(-1500)}; stderr: ${err.slice(-1500)}`));
      }
    };
    lineWaiters.add(check);
    try {
      return await withTimeout(
        d.promise,
        ms,
        `${what}; stdout so far: ${out.slice(-1500)}; stderr so far: ${err.slice(-1500)}`,
      );
    } finally {
      lineWaiters.delete(check);
    }
  };

  let stopping: Promise<void> | undefined;
  const stop = (): Promise<void> =>
    (stopping ??= (async () => {
      children();
      if (!exitedFlag) {
        proc.kill('SIGTERM');
        const done = await within(exit.promise, 5000);
        if (!done) {
          children();
          proc.kill('SIGKILL');
          await within(exit.promise, 2000);
        }
      }
      // workers that outlived the CLI (they should not): give them a moment, then kill them
      const left = (): number[] => [...everChildren].filter((p) => alive(p) && isOurs(p, pid));
      if (left().length) await sleep(1000);
      for (const p of left()) {
        try {
          process.kill(p, 'SIGKILL');
        } catch {
          /* gone */
        }
      }
    })());
  t.teardown(stop);

  const cli: Cli = {
    proc,
    pid,
    port,
    lines,
    stdout: () => out,
    stderr: () => err,
    waitForLine,
    children,
    exited: exit.promise,
    stop,
  };
  if (opts.waitReady !== false) {
    await waitForLine((l) => l.msg === 'ready', opts.readyTimeout ?? 20_000, 'the "ready" log line');
    children();
  }
  return cli;
}

/** Runs the CLI to completion (bounded) and returns its exit and output. */
export async function runCli(
  t: Test,
  args: string[],
  ms = 15_000,
): Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string; timedOut: boolean }> {
  const cli = await startCli(t, args, { waitReady: false, port: -1 });
  const r = await within(cli.exited, ms);
  if (!r) {
    await cli.stop();
    return { code: null, signal: null, stdout: cli.stdout(), stderr: cli.stderr(), timedOut: true };
  }
  return { ...r, stdout: cli.stdout(), stderr: cli.stderr(), timedOut: false };
}

/** Distinct pids seen on access log lines. */
export function accessPids(cli: Cli): Set<number> {
  return new Set(cli.lines.filter((l) => l.msg === 'access').map((l) => Number(l.pid)));
}

export { waitFor };
