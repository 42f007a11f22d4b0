// One h2load run (nghttp2's HTTP/2 load generator, Debian's nghttp2-client) as a child process,
// its text output parsed. h2load is to HTTP/2 what wrk is to HTTP/1.1 here: C, one thread, many
// streams per connection for a fraction of the CPU a Node client would need, so that on 2 cores
// it takes little from the proxy under test and the origin.
import { spawn } from 'node:child_process';
import { reapedChildrenCpuSeconds } from './cpu.js';
import { findBinary } from './tools.js';

/** The h2load binary (BENCH_H2LOAD_BIN overrides, `none` hides it), or null when not installed. */
export function h2loadBinary(): string | null {
  return findBinary('h2load');
}

export interface H2loadTask {
  bin: string;
  url: string;
  /** Client connections (`-c`). */
  connections: number;
  /** Concurrent streams per connection (`-m`). */
  streams: number;
  /** Measured seconds (`-D`). */
  durationS: number;
  /** Seconds of load before the measured window (`--warm-up-time`), in the same connections. */
  warmupS: number;
  /**
   * Called when h2load says its measured window starts and ends: h2load prints both lines as
   * they happen, so a caller reads the peer's CPU time exactly around the requests h2load counts
   * (the warm-up's requests and the connections' handshakes excluded).
   */
  onWindow?: (edge: 'start' | 'end') => void;
}

export interface H2loadSample {
  /** h2load's `req/s`: responses done in the measured window over its length. */
  rps: number;
  /** Responses done (any status) in the measured window. */
  requests: number;
  /** Responses with a 2xx or 3xx status. */
  succeeded: number;
  durationS: number;
  /** Everything that is not a 2xx/3xx response: non-2xx/3xx, failed, errored and timed-out streams. */
  errors: number;
  /**
   * Errors by kind: `non-2xx/3xx`, `failed` (other than a status), `errored`, `timeout`,
   * `protocol <alpn>`, and `stalled connections` (1) when a connection's req/s fell below a
   * quarter of the mean: h2load does not reconnect after a GOAWAY, so a peer that closes
   * connections (nginx's keepalive_requests) silently leaves fewer of them loaded.
   */
  errorKinds: Record<string, number>;
  statusCodes: { '2xx': number; '3xx': number; '4xx': number; '5xx': number };
  /** The ALPN protocol h2load negotiated (`h2`), or `none`. */
  protocol: string;
  /** The TLS cipher suite the peer chose (its CPU per byte differs between suites). */
  cipher: string;
  /** Mean time per request, ms (h2load gives min, max, mean and sd; no percentiles). */
  meanMs: number;
  maxMs: number;
  /** Bytes h2load received over the whole run, warm-up included (h2load's `traffic: ... total`). */
  trafficBytes: number;
  /** Per-connection req/s in the window, lowest and mean (equal when every stream is served alike). */
  minClientRps: number;
  meanClientRps: number;
  /** h2load's own CPU over its run, in cores. */
  loadCores: number;
  /** Wall seconds between h2load's window lines (NaN if it printed none). */
  windowS: number;
}

export function h2loadArgs(task: H2loadTask): string[] {
  // -t1: one thread; a second would only take CPU from the proxy and the origin (as wrk -t1).
  return ['-t1', `-c${task.connections}`, `-m${task.streams}`, '-D', `${task.durationS}`, '--warm-up-time', `${task.warmupS}`, task.url];
}

export async function runH2load(task: H2loadTask): Promise<H2loadSample> {
  const args = h2loadArgs(task);
  const cpu0 = reapedChildrenCpuSeconds();
  const t0 = process.hrtime.bigint();
  let windowStart: bigint | undefined;
  let windowEnd: bigint | undefined;
  const onLine = (line: string): void => {
    if (windowStart === undefined && line.startsWith('Main benchmark duration is started')) {
      task.onWindow?.('start');
      windowStart = process.hrtime.bigint();
    } else if (windowStart !== undefined && windowEnd === undefined && line.startsWith('Main benchmark duration is over')) {
      task.onWindow?.('end');
      windowEnd = process.hrtime.bigint();
    }
  };
  const out = await new Promise<string>((resolve, reject) => {
    const p = spawn(task.bin, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let text = '';
    let pending = '';
    p.stdout.on('data', (c: Buffer) => {
      const s = c.toString();
      text += s;
      pending += s;
      let nl: number;
      while ((nl = pending.indexOf('\n')) !== -1) {
        onLine(pending.slice(0, nl));
        pending = pending.slice(nl + 1);
      }
    });
    p.stderr.on('data', (c: Buffer) => (text += c.toString()));
    // h2load stops itself after the warm-up and -D; this only guards against a hang.
    const timer = setTimeout(() => p.kill('SIGKILL'), (task.warmupS + task.durationS + 20) * 1000);
    p.once('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    p.once('close', (code, signal) => {
      clearTimeout(timer);
      if (code === 0) resolve(text);
      else reject(new Error(`h2load ${args.join(' ')} exited with ${code ?? signal}:\n${tail(text)}`));
    });
  });
  // 'close' comes after libuv reaped h2load, so its CPU is in our cutime/cstime by now.
  const wallS = Number(process.hrtime.bigint() - t0) / 1e9;
  const sample = parseH2load(out, task.durationS);
  sample.loadCores = (reapedChildrenCpuSeconds() - cpu0) / wallS;
  sample.windowS = windowStart !== undefined && windowEnd !== undefined ? Number(windowEnd - windowStart) / 1e9 : NaN;
  return sample;
}

/** h2load prints times as 80us, 7.15ms, 1.00s (and m, h for long ones). */
function toMs(value: string, unit: string): number {
  const v = Number(value);
  switch (unit) {
    case 'us':
      return v / 1e3;
    case 'ms':
      return v;
    case 's':
      return v * 1e3;
    case 'm':
      return v * 60e3;
    case 'h':
      return v * 3600e3;
    default:
      return NaN;
  }
}

/**
 * The numbers of h2load 1.52's report:
 *
 *   Cipher: TLS_AES_256_GCM_SHA384
 *   Application protocol: h2                  (absent when ALPN agreed on none)
 *   finished in 4.01s, 39120.00 req/s, 1.53MB/s
 *   requests: 117360 total, 117360 started, 117360 done, 117242 succeeded, 118 failed, 0 errored, 0 timeout
 *   status codes: 117242 2xx, 0 3xx, 0 4xx, 118 5xx
 *   traffic: 4.59MB (4812312) total, 466.92KB (478129) headers (space savings 95.38%), 3.03MB (3181120) data
 *                        min         max         mean         sd        +/- sd
 *   time for request:      389us     18.16ms      3.25ms      1.57ms    91.25%
 *   req/s           :    4873.16     4910.78     4888.64       12.19    62.50%     (per connection)
 *
 * `finished in` and `traffic` count the warm-up too; `req/s` and the counts are the measured window's. A
 * `failed` request is one whose status is not 2xx/3xx or whose stream ended without a response;
 * `errored` ones hit a protocol or connection error; `timeout` ones a timeout. h2load exits 0
 * when it could not connect at all: that is a run with 0 done, which the caller rejects.
 */
export function parseH2load(out: string, durationS: number): H2loadSample {
  const finished = /finished in [\d.]+\w+, ([\d.]+) req\/s/.exec(out);
  const req = /requests: (\d+) total, (\d+) started, (\d+) done, (\d+) succeeded, (\d+) failed, (\d+) errored, (\d+) timeout/.exec(out);
  const codes = /status codes: (\d+) 2xx, (\d+) 3xx, (\d+) 4xx, (\d+) 5xx/.exec(out);
  if (!finished || !req || !codes) throw new Error(`h2load output not understood:\n${tail(out)}`);
  const [done, succeeded, failed, errored, timeout] = [3, 4, 5, 6, 7].map((i) => Number(req[i]));
  const statusCodes = { '2xx': Number(codes[1]), '3xx': Number(codes[2]), '4xx': Number(codes[3]), '5xx': Number(codes[4]) };
  const protocol = /Application protocol: (\S+)/.exec(out)?.[1] ?? 'none';
  const cipher = /Cipher: (\S+)/.exec(out)?.[1] ?? 'unknown';
  const trafficBytes = Number(/traffic: \S+ \((\d+)\) total/.exec(out)?.[1] ?? NaN);
  const clients = /^req\/s\s+:\s+([\d.]+)\s+([\d.]+)\s+([\d.]+)/m.exec(out);
  const minClientRps = clients ? Number(clients[1]) : NaN;
  const meanClientRps = clients ? Number(clients[3]) : NaN;
  const time = /time for request:\s+([\d.]+)(us|ms|s|m|h)\s+([\d.]+)(us|ms|s|m|h)\s+([\d.]+)(us|ms|s|m|h)/.exec(out);

  const errorKinds: Record<string, number> = {};
  const bad = statusCodes['4xx'] + statusCodes['5xx'];
  if (bad > 0) errorKinds['non-2xx/3xx'] = bad;
  // h2load counts a non-2xx/3xx response as failed too: only the rest are failures of their own.
  if (failed! - bad > 0) errorKinds.failed = failed! - bad;
  if (errored! > 0) errorKinds.errored = errored!;
  if (timeout! > 0) errorKinds.timeout = timeout!;
  if (protocol !== 'h2' && done! > 0) errorKinds[`protocol ${protocol}`] = done!;
  if (done! > 0 && minClientRps < meanClientRps / 4) errorKinds['stalled connections'] = 1;
  return {
    rps: Number(finished[1]),
    requests: done!,
    succeeded: succeeded!,
    durationS,
    errors: Object.values(errorKinds).reduce((a, n) => a + n, 0),
    errorKinds,
    statusCodes,
    protocol,
    cipher,
    trafficBytes,
    minClientRps,
    meanClientRps,
    meanMs: time ? toMs(time[5]!, time[6]!) : NaN,
    maxMs: time ? toMs(time[3]!, time[4]!) : NaN,
    loadCores: NaN,
    windowS: NaN,
  };
}

/** The last lines of a long output, for an error message. */
function tail(text: string, n = 30): string {
  return text.split('\n').filter((l) => !l.startsWith('progress:')).slice(-n).join('\n');
}
