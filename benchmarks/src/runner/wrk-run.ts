// One wrk run (C, Debian's `wrk` package) as a child process, its text output parsed. wrk costs
// a fraction of autocannon's CPU per request, which matters on a 2-core machine: one autocannon
// thread takes about a core, more than the proxy under test, so it competes with the proxy and
// the origin and compresses every ratio between peers.
import { spawn } from 'node:child_process';
import { reapedChildrenCpuSeconds } from './cpu.js';
import type { LoadSample } from './load-sample.js';

export interface WrkTask {
  bin: string;
  url: string;
  connections: number;
  durationS: number;
  /** wrk threads (`-t`); each owns connections/threads connections. */
  threads: number;
  /** Seconds before wrk counts a request as timed out (its default, 2 s, is short on a busy machine). */
  timeoutS?: number;
}

export async function runWrk(task: WrkTask): Promise<LoadSample> {
  const args = [
    `-t${task.threads}`,
    `-c${task.connections}`,
    `-d${task.durationS}s`,
    `--timeout`,
    `${task.timeoutS ?? 10}s`,
    '--latency',
    task.url,
  ];
  const cpu0 = reapedChildrenCpuSeconds();
  const t0 = process.hrtime.bigint();
  const out = await new Promise<string>((resolve, reject) => {
    const p = spawn(task.bin, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let text = '';
    p.stdout.on('data', (c: Buffer) => (text += c.toString()));
    p.stderr.on('data', (c: Buffer) => (text += c.toString()));
    // wrk stops itself after -d; this only guards against a hang.
    const timer = setTimeout(() => p.kill('SIGKILL'), (task.durationS + 15) * 1000);
    p.once('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    p.once('close', (code, signal) => {
      clearTimeout(timer);
      if (code === 0) resolve(text);
      else reject(new Error(`wrk ${args.join(' ')} exited with ${code ?? signal}:\n${text}`));
    });
  });
  // 'close' comes after libuv reaped wrk, so its CPU is in our cutime/cstime by now.
  const wallS = Number(process.hrtime.bigint() - t0) / 1e9;
  const sample = parseWrk(out, task.durationS);
  sample.loadCores = (reapedChildrenCpuSeconds() - cpu0) / wallS;
  return sample;
}

/** wrk prints times as 812.00us, 1.23ms, 2.00s or 1.50m. */
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
 * The numbers of wrk 4.1's report:
 *
 *     Latency Distribution
 *        50%  745.00us
 *        99%    2.31ms
 *     412345 requests in 5.00s, 50.12MB read
 *     Socket errors: connect 0, read 12, write 0, timeout 0     (only when there were some)
 *     Non-2xx or 3xx responses: 7                                (only when there were some)
 *   Requests/sec:  82461.23
 *
 * Errors are every socket error and every response that is not 2xx/3xx, as autocannon's are;
 * `errorKinds` names them (`connect`, `read`, `write`, `timeout`, `non-2xx/3xx`).
 */
export function parseWrk(out: string, durationS: number): LoadSample {
  const rps = /Requests\/sec:\s+([\d.]+)/.exec(out);
  const total = /(\d+) requests in ([\d.]+)(us|ms|s|m|h)\b/.exec(out);
  if (!rps || !total) throw new Error(`wrk output not understood:\n${out}`);
  const pct = (p: string) => {
    const m = new RegExp(`^\\s+${p}%\\s+([\\d.]+)(us|ms|s|m|h)\\s*$`, 'm').exec(out);
    return m ? toMs(m[1]!, m[2]!) : NaN;
  };
  const errorKinds: Record<string, number> = {};
  const socket = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out);
  if (socket) {
    const names = ['connect', 'read', 'write', 'timeout'];
    names.forEach((k, i) => {
      const n = Number(socket[i + 1]);
      if (n > 0) errorKinds[k] = n;
    });
  }
  const bad = /Non-2xx or 3xx responses: (\d+)/.exec(out);
  if (bad && Number(bad[1]) > 0) errorKinds['non-2xx/3xx'] = Number(bad[1]);
  const measuredS = toMs(total[2]!, total[3]!) / 1e3;
  return {
    rps: Number(rps[1]),
    requests: Number(total[1]),
    durationS: Number.isFinite(measuredS) && measuredS > 0 ? measuredS : durationS,
    errors: Object.values(errorKinds).reduce((a, n) => a + n, 0),
    p50Ms: pct('50'),
    p99Ms: pct('99'),
    // HdrHistogram with microsecond resolution: as good as recording every latency.
    exactLatency: true,
    errorKinds,
    loadCores: NaN,
  };
}
