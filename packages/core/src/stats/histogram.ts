/**
 * A fixed-bucket histogram that observes without allocating: one bucket search and three
 * additions. Metrics read it at scrape time (bounds in seconds, counts per bucket, not cumulative).
 */

/** Latency buckets in seconds, from 0.5 ms to a minute (Prometheus' defaults, widened both ways). */
export const LATENCY_BUCKETS: readonly number[] = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];

export class Histogram {
  /** Upper bounds (inclusive), ascending; a last implicit bucket takes the rest (+Inf). */
  readonly bounds: readonly number[];
  /** Observations per bucket: counts[i] for bounds[i - 1] < v <= bounds[i]; the last is +Inf. */
  readonly counts: Float64Array;
  sum = 0;
  count = 0;

  constructor(bounds: readonly number[] = LATENCY_BUCKETS) {
    this.bounds = bounds;
    this.counts = new Float64Array(bounds.length + 1);
  }

  observe(value: number): void {
    const b = this.bounds;
    let i = 0;
    while (i < b.length && value > b[i]!) i++;
    this.counts[i]!++;
    this.sum += value;
    this.count++;
  }
}
