// One autocannon run, in the thread that calls it (the main thread, or a piscina worker).
// Latencies are recorded from autocannon's per-response event as floats, so percentiles have
// sub-millisecond resolution (autocannon's own histogram has 1 ms steps).
import autocannon from 'autocannon';

export interface AutocannonTask {
  url: string;
  connections: number;
  durationS: number;
  /** autocannon's own worker threads (0: none, the calling thread does the work). */
  workers?: number;
  /** Record every latency (not possible with autocannon's `workers`). */
  recordLatencies?: boolean;
}

export interface AutocannonOutcome {
  requests: number;
  durationS: number;
  errors: number;
  timeouts: number;
  non2xx: number;
  /** Every response's latency in ms when recorded, else empty. */
  latencies: Float64Array;
  /** autocannon's own percentiles (1 ms resolution), used when latencies were not recorded. */
  p50Ms: number;
  p99Ms: number;
  /** Request errors by code (ECONNRESET, ...) and non-2xx statuses by status code. */
  errorKinds: Record<string, number>;
}

export async function runAutocannon(task: AutocannonTask): Promise<AutocannonOutcome> {
  const record = task.recordLatencies !== false && !task.workers;
  let lat = new Float64Array(record ? 1 << 20 : 0);
  let n = 0;
  const opts: autocannon.Options = {
    url: task.url,
    connections: task.connections,
    duration: task.durationS,
    pipelining: 1,
    timeout: 10,
  };
  if (task.workers) opts.workers = task.workers;
  // Without a callback autocannon returns its tracker, an EventEmitter that is also a thenable.
  const instance = autocannon(opts) as unknown as autocannon.Instance & PromiseLike<autocannon.Result>;
  const errorKinds: Record<string, number> = {};
  const count = (k: string) => (errorKinds[k] = (errorKinds[k] ?? 0) + 1);
  instance.on('reqError', (err: NodeJS.ErrnoException) => count(err.code ?? err.message));
  instance.on('response', (_client: unknown, status: number) => {
    if (status < 200 || status > 299) count(`HTTP ${status}`);
  });
  if (record) {
    instance.on('response', (_client: unknown, _status: number, _bytes: number, ms: number) => {
      if (n === lat.length) {
        const bigger = new Float64Array(lat.length * 2);
        bigger.set(lat);
        lat = bigger;
      }
      lat[n++] = ms;
    });
  }
  const r = await instance;
  // In a worker thread (piscina) autocannon skips its aggregation and hands back the raw result:
  // counters only, histograms encoded.
  const raw = r as unknown as RawResult;
  const aggregated = typeof r.requests === 'object' && r.requests !== null;
  return {
    requests: aggregated ? r.requests.total : raw.totalCompletedRequests,
    durationS: r.duration,
    errors: r.errors,
    timeouts: r.timeouts,
    non2xx: r.non2xx,
    latencies: lat.slice(0, n),
    p50Ms: aggregated ? r.latency.p50 : NaN,
    p99Ms: aggregated ? r.latency.p99 : NaN,
    errorKinds,
  };
}

interface RawResult {
  totalCompletedRequests: number;
}
