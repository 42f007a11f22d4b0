// Child processes started by a benchmark: spawned in their own process group so that a
// stop takes the whole tree (nginx master + worker, a cluster's workers), logged to a file in
// the run's temp dir, and always killed when the benchmark ends: normally, on an error, or on
// Ctrl-C / SIGTERM / SIGHUP.
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, type WriteStream } from 'node:fs';
import { join } from 'node:path';

export interface StartOptions {
  /** Short name, used for the log file and in messages. */
  name: string;
  command: string;
  args: string[];
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  /** Directory for `<name>.log` (stdout and stderr). */
  logDir: string;
  /** Called with each complete line the process prints on stdout or stderr. */
  onLine?: (line: string) => void;
  /**
   * 'discard': stdout goes to /dev/null (stderr is still captured). For a process that writes a
   * line per request (an access log): piped to us, every line would cost this process CPU, and
   * a file would cost the kernel writes a real deployment to /dev/null or journald would not.
   */
  stdout?: 'pipe' | 'discard';
}

export class ManagedProcess {
  readonly name: string;
  readonly child: ChildProcess;
  readonly logPath: string;
  /** Resolves with the exit code (or the signal name) once the process has exited. */
  readonly exited: Promise<number | string>;
  private exitedValue: number | string | undefined;
  private readonly tail: string[] = [];
  private readonly log: WriteStream;

  constructor(opts: StartOptions) {
    this.name = opts.name;
    this.logPath = join(opts.logDir, `${opts.name}.log`);
    this.log = createWriteStream(this.logPath);
    this.child = spawn(opts.command, opts.args, {
      cwd: opts.cwd,
      env: opts.env ?? process.env,
      stdio: ['ignore', opts.stdout === 'discard' ? 'ignore' : 'pipe', 'pipe'], // 'ignore' opens /dev/null
      detached: true, // own process group: stop() and the exit hook kill the whole tree
    });
    live.add(this);
    const onData = (pending: { s: string }) => (chunk: Buffer) => {
      this.log.write(chunk);
      pending.s += chunk.toString('utf8');
      let nl: number;
      while ((nl = pending.s.indexOf('\n')) !== -1) {
        const line = pending.s.slice(0, nl);
        pending.s = pending.s.slice(nl + 1);
        this.tail.push(line);
        if (this.tail.length > 40) this.tail.shift();
        opts.onLine?.(line);
      }
    };
    this.child.stdout?.on('data', onData({ s: '' }));
    this.child.stderr?.on('data', onData({ s: '' }));
    this.exited = new Promise((resolve) => {
      this.child.once('error', (err) => {
        this.tail.push(`spawn error: ${err.message}`);
        this.exitedValue = 'spawn-error';
        live.delete(this);
        resolve('spawn-error');
      });
      this.child.once('exit', (code, signal) => {
        this.exitedValue = code ?? signal ?? 'unknown';
        live.delete(this);
        this.log.end();
        resolve(this.exitedValue);
      });
    });
  }

  /** Our child's pid, which is also its process group id (detached). */
  get pgids(): number[] {
    return this.child.pid === undefined ? [] : [this.child.pid];
  }

  get hasExited(): boolean {
    return this.exitedValue !== undefined;
  }

  /** The last lines the process printed, for error messages. */
  lastLines(n = 15): string {
    return this.tail.slice(-n).join('\n');
  }

  /** SIGTERM to the process group, SIGKILL after `graceMs` if still alive. */
  async stop(graceMs = 3000): Promise<void> {
    if (this.hasExited) return;
    killGroup(this.child, 'SIGTERM');
    const timer = new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), graceMs).unref());
    if ((await Promise.race([this.exited, timer])) === 'timeout') {
      killGroup(this.child, 'SIGKILL');
      await Promise.race([this.exited, new Promise((r) => setTimeout(r, 1000).unref())]);
    }
    // The leader may exit before its children (cluster workers): sweep the group.
    killGroup(this.child, 'SIGKILL');
  }
}

const live = new Set<ManagedProcess>();

function killGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  if (child.pid === undefined) return;
  try {
    process.kill(-child.pid, signal); // the group we created with detached: true
  } catch {
    try {
      child.kill(signal);
    } catch {
      /* already gone */
    }
  }
}

export function startProcess(opts: StartOptions): ManagedProcess {
  installExitHooks();
  return new ManagedProcess(opts);
}

/** Stops every process still running (in parallel). */
export async function stopAll(): Promise<void> {
  await Promise.all([...live].map((p) => p.stop()));
}

let hooksInstalled = false;
const cleanups: Array<() => void> = [];

/** Registers a synchronous cleanup (e.g. removing a temp dir) run at process exit. */
export function onExit(fn: () => void): void {
  installExitHooks();
  cleanups.push(fn);
}

function installExitHooks(): void {
  if (hooksInstalled) return;
  hooksInstalled = true;
  // Last resort, synchronous: whatever is still alive when Node exits gets SIGKILL.
  process.on('exit', () => {
    for (const p of live) killGroup(p.child, 'SIGKILL');
    for (const fn of cleanups.splice(0)) {
      try {
        fn();
      } catch {
        /* best effort */
      }
    }
  });
  let stopping = false;
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.on(sig, () => {
      if (stopping) process.exit(130);
      stopping = true;
      process.stderr.write(`\n${sig}: stopping ${live.size} started process(es)...\n`);
      void stopAll().finally(() => process.exit(130));
    });
  }
}
