/**
 * The bridge between our own counters and prom-client. The request path never touches
 * prom-client: it increments plain numbers and typed arrays. At scrape time each metric turns
 * them into the `{name, help, type, aggregator, values}` shape prom-client's registry takes from
 * a custom metric object (`get()`), which `getMetricsAsJSON()` passes through and
 * `AggregatorRegistry.aggregate()` merges across processes by each metric's aggregator.
 */
import type { Histogram } from '@portcullis/core';
import { Registry, type Aggregator, type Metric } from 'prom-client';

export type LabelSet = Record<string, string | number>;

export interface Sample {
  value: number;
  labels: LabelSet;
  /** For histograms: `<name>_bucket`, `<name>_sum`, `<name>_count`. */
  metricName?: string;
}

export type MetricKind = 'counter' | 'gauge' | 'histogram';

/** One metric as getMetricsAsJSON() gives it, and as it crosses the IPC channel. */
export interface MetricJson {
  name: string;
  help: string;
  type: MetricKind;
  aggregator: Aggregator;
  values: Sample[];
}

export interface MetricDef {
  name: string;
  help: string;
  type: MetricKind;
  /** How the supervisor merges the workers' values of one series: `sum` unless said otherwise. */
  aggregator?: Aggregator;
  /** Push this metric's samples (called once per scrape). */
  collect(out: Sample[]): void;
}

/** A registry whose metrics are read from our counters when scraped. */
export function registryOf(defs: readonly MetricDef[]): Registry {
  const registry = new Registry();
  for (const def of defs) {
    const aggregator = def.aggregator ?? 'sum';
    const metric = {
      name: def.name,
      help: def.help,
      type: def.type,
      aggregator,
      get(): MetricJson {
        const values: Sample[] = [];
        def.collect(values);
        return { name: def.name, help: def.help, type: def.type, aggregator, values };
      },
      reset(): void {},
    };
    // prom-client takes any object with a name and get() (its aggregate() builds the same kind).
    registry.registerMetric(metric as unknown as Metric);
  }
  return registry;
}

/**
 * The samples of one histogram series: cumulative `_bucket` samples (`le` as text, `+Inf` last),
 * `_sum` and `_count`. The core's Histogram counts per bucket, not cumulatively.
 */
export function pushHistogram(out: Sample[], name: string, h: Histogram, labels: LabelSet): void {
  let cumulative = 0;
  const bounds = h.bounds;
  for (let i = 0; i < bounds.length; i++) {
    cumulative += h.counts[i]!;
    out.push({ metricName: `${name}_bucket`, labels: { ...labels, le: String(bounds[i]) }, value: cumulative });
  }
  cumulative += h.counts[bounds.length]!;
  out.push({ metricName: `${name}_bucket`, labels: { ...labels, le: '+Inf' }, value: cumulative });
  out.push({ metricName: `${name}_sum`, labels, value: h.sum });
  out.push({ metricName: `${name}_count`, labels, value: h.count });
}
