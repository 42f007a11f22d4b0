/** What one load run measured, whichever generator ran it (autocannon or wrk). */
export interface LoadSample {
  /** Completed responses per second over the measured run. */
  rps: number;
  p50Ms: number;
  p99Ms: number;
  requests: number;
  durationS: number;
  /** Connection errors + timeouts + non-2xx responses. */
  errors: number;
  /** True when percentiles come from every latency (sub-ms); false: autocannon's 1 ms buckets. */
  exactLatency: boolean;
  /** Errors by kind (error code or `HTTP <status>`). */
  errorKinds: Record<string, number>;
  /** CPU the load generator used, in cores (1 = one core busy the whole run); NaN if unknown. */
  loadCores: number;
}
