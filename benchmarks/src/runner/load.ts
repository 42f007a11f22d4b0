// Load generation with autocannon, in one of three shapes (measured against each other by
// `pnpm --filter @portcullis/benchmarks run calibrate-load`; see keepalive.ts for the choice),
// or with wrk:
//   single   one autocannon run in the benchmark's main thread
//   workers  autocannon's own `workers` option (its worker threads, its merged histogram)
//   piscina  a piscina pool of N threads, each running autocannon with connections/N
//   wrk      Debian's wrk (C) as a child process, `-t<threads>`
import { Piscina } from 'piscina';
import { runAutocannon, type AutocannonOutcome, type AutocannonTask } from './autocannon-run.js';
import { findBinary } from './tools.js';
import type { LoadSample } from './load-sample.js';
import { runWrk } from './wrk-run.js';

export type { LoadSample } from './load-sample.js';

export const loadModes = ['single', 'workers', 'piscina', 'wrk'] as const;
export type LoadMode = (typeof loadModes)[number];

/** The wrk binary (BENCH_WRK_BIN overrides, `none` hides it), or null when not installed. */
export function wrkBinary(): string | null {
  return findBinary('wrk');
}

export interface LoadGeneratorOptions {
  mode: LoadMode;
  /** Threads for `workers` and `piscina`. */
  threads: number;
  /** Record every latency for sub-ms percentiles (not available in `workers` mode). */
  recordLatencies?: boolean;
}

/** A LoadGenerator's `wrk` mode without wrk installed. */
export class NoWrk extends Error {}

export class LoadGenerator {
  readonly mode: LoadMode;
  readonly threads: number;
  private readonly record: boolean;
  private pool: Piscina<AutocannonTask, AutocannonOutcome> | null = null;
  private readonly wrk: string | null = null;

  constructor(opts: LoadGeneratorOptions) {
    this.mode = opts.mode;
    this.threads = opts.mode === 'single' ? 1 : Math.max(1, opts.threads);
    if (this.mode === 'wrk') {
      this.wrk = wrkBinary();
      if (!this.wrk) throw new NoWrk('wrk is not installed (apt-get install -y wrk)');
    }
    this.record = opts.recordLatencies !== false;
    if (this.mode === 'piscina') {
      this.pool = new Piscina({
        filename: new URL('./load-worker.js', import.meta.url).href,
        minThreads: this.threads,
        maxThreads: this.threads,
        idleTimeout: 60 * 60 * 1000,
      });
    }
  }

  describe(): string {
    const lat = this.mode === 'workers' || !this.record ? "autocannon's histogram (1 ms steps)" : 'every response recorded (sub-ms)';
    switch (this.mode) {
      case 'single':
        return `autocannon in the benchmark's main thread; latency: ${lat}`;
      case 'workers':
        return `autocannon with workers: ${this.threads}; latency: ${lat}`;
      case 'piscina':
        return `piscina pool of ${this.threads} threads, one autocannon run each with connections split; latency: ${lat}`;
      case 'wrk':
        return `wrk -t${this.threads} --latency (${this.wrk}), a child process; latency: wrk's HdrHistogram (µs steps)`;
    }
  }

  async run(url: string, connections: number, durationS: number): Promise<LoadSample> {
    // wrk's CPU is its own process's (runWrk measures it); ours is idle meanwhile.
    if (this.mode === 'wrk') return runWrk({ bin: this.wrk!, url, connections, durationS, threads: this.threads });
    const cpu = process.cpuUsage(); // the whole process: main thread and every worker thread
    const t0 = process.hrtime.bigint();
    const sample = await this.runOnce(url, connections, durationS);
    const used = process.cpuUsage(cpu);
    const wallS = Number(process.hrtime.bigint() - t0) / 1e9;
    sample.loadCores = (used.user + used.system) / 1e6 / wallS;
    return sample;
  }

  private async runOnce(url: string, connections: number, durationS: number): Promise<LoadSample> {
    if (this.mode === 'single') {
      return toSample([await runAutocannon({ url, connections, durationS, recordLatencies: this.record })]);
    }
    if (this.mode === 'workers') {
      return toSample([await runAutocannon({ url, connections, durationS, workers: this.threads, recordLatencies: false })]);
    }
    const pool = this.pool!;
    const parts = splitEvenly(connections, this.threads);
    const outcomes = await Promise.all(
      parts.map((c) => pool.run({ url, connections: c, durationS, recordLatencies: this.record })),
    );
    return toSample(outcomes);
  }

  async close(): Promise<void> {
    await this.pool?.destroy();
    this.pool = null;
  }
}

/** 50 over 3 → [17, 17, 16]; parts of 0 are dropped. */
export function splitEvenly(total: number, parts: number): number[] {
  const out: number[] = [];
  for (let i = 0; i < parts; i++) out.push(Math.floor(total / parts) + (i < total % parts ? 1 : 0));
  return out.filter((n) => n > 0);
}

function toSample(outs: AutocannonOutcome[]): LoadSample {
  const errorKinds: Record<string, number> = {};
  for (const o of outs) for (const [k, v] of Object.entries(o.errorKinds)) errorKinds[k] = (errorKinds[k] ?? 0) + v;
  const requests = outs.reduce((a, o) => a + o.requests, 0);
  // Concurrent runs of the same length: their rates add up.
  const rps = outs.reduce((a, o) => a + o.requests / o.durationS, 0);
  const durationS = Math.max(...outs.map((o) => o.durationS));
  const errors = outs.reduce((a, o) => a + o.errors + o.timeouts + o.non2xx, 0);
  const total = outs.reduce((a, o) => a + o.latencies.length, 0);
  if (total > 0 && outs.every((o) => o.latencies.length > 0 || o.requests === 0)) {
    const all = new Float64Array(total);
    let off = 0;
    for (const o of outs) {
      all.set(o.latencies, off);
      off += o.latencies.length;
    }
    all.sort();
    return {
      rps,
      requests,
      durationS,
      errors,
      p50Ms: quantile(all, 0.5),
      p99Ms: quantile(all, 0.99),
      exactLatency: true,
      errorKinds,
      loadCores: NaN,
    };
  }
  // autocannon's percentiles; over several runs, the worst one (no histogram to merge).
  return {
    rps,
    requests,
    durationS,
    errors,
    p50Ms: Math.max(...outs.map((o) => o.p50Ms)),
    p99Ms: Math.max(...outs.map((o) => o.p99Ms)),
    exactLatency: false,
    errorKinds,
    loadCores: NaN,
  };
}

/** Nearest-rank quantile of sorted values. */
function quantile(sorted: Float64Array, q: number): number {
  if (sorted.length === 0) return NaN;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1));
  return sorted[i]!;
}
