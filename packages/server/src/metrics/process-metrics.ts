/**
 * Per-worker process figures: the event loop's lag, measured by Node's own timer-based monitor
 * (perf_hooks.monitorEventLoopDelay, no work on the request path). Each scrape reads the window
 * since the previous one and starts a new window. The `worker` label is the worker's slot (0 … N-1),
 * not its pid, so that a series survives the worker's restarts.
 */
import { monitorEventLoopDelay, type IntervalHistogram } from 'node:perf_hooks';
import type { MetricDef } from './exposition.js';

/** The monitor's sampling interval (ms): lag shorter than this is not seen. */
const RESOLUTION_MS = 10;

export class EventLoopLag {
  private readonly histogram: IntervalHistogram;
  private p99 = 0;
  private max = 0;

  constructor(private readonly worker: number) {
    this.histogram = monitorEventLoopDelay({ resolution: RESOLUTION_MS });
    this.histogram.enable();
  }

  /** Read the window since the previous scrape (in seconds) and start the next one; once per scrape. */
  sample(): void {
    const h = this.histogram;
    // The monitor reports the timer's whole delay; the lag is what exceeds its interval.
    const lag = (ns: number): number => (h.count === 0 ? 0 : Math.max(0, ns / 1e9 - RESOLUTION_MS / 1000));
    this.p99 = lag(h.percentile(99));
    this.max = lag(h.max);
    h.reset();
  }

  definitions(): MetricDef[] {
    const labels = { worker: String(this.worker) };
    return [
      {
        name: 'portcullis_event_loop_lag_seconds',
        help: 'Event-loop lag of each worker (99th percentile since the previous scrape; resolution 10 ms), by worker slot.',
        type: 'gauge',
        aggregator: 'max',
        collect: (out) => out.push({ labels, value: this.p99 }),
      },
      {
        name: 'portcullis_event_loop_lag_max_seconds',
        help: 'Longest event-loop lag of each worker since the previous scrape, by worker slot.',
        type: 'gauge',
        aggregator: 'max',
        collect: (out) => out.push({ labels, value: this.max }),
      },
    ];
  }

  stop(): void {
    this.histogram.disable();
  }
}
