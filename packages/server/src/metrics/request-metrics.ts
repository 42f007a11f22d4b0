/**
 * Per-request counters of one worker, fed by the `logging` hook: requests by route, upstream,
 * method and code, their duration by code class, body bytes both ways and retries. The hook does
 * a few array increments and one histogram observation; everything it touches is allocated the
 * first time a route or status code is seen, and labels are only built at scrape time.
 */
import { Histogram, type ExchangeResult, type RouteOptions } from '@portcullis/core';
import { pushHistogram, type MetricDef, type Sample } from './exposition.js';
import { classIndex, classLabel, codeLabel, METHOD_COUNT, methodIndex, METHODS, routeLabel } from './labels.js';

/** Status codes are three digits: an array indexed by status (0 for an abandoned request). */
const STATUS_SLOTS = 1000;
const CLASSES = 10;

/** The counters of one route (all of its requests go to one upstream). */
class RouteCounters {
  /** Per status, requests per method index (allocated at the first request with that status). */
  readonly byStatus: (Float64Array | undefined)[] = new Array<Float64Array | undefined>(STATUS_SLOTS).fill(undefined);
  /** Duration per code class index (1xx … 5xx allocated now, others when first seen). */
  readonly duration: (Histogram | undefined)[] = new Array<Histogram | undefined>(CLASSES).fill(undefined);
  requestBytes = 0;
  responseBytes = 0;
  retries = 0;

  constructor(
    readonly route: string,
    readonly upstream: string,
  ) {
    for (let c = 1; c <= 5; c++) this.duration[c] = new Histogram();
  }
}

export class RequestMetrics {
  /** Requests no route took (the proxy's 404): route="" upstream="". */
  private readonly unrouted = new RouteCounters('', '');
  /**
   * By route object, and by label: a reload brings new route objects, and a route with the same
   * label goes on counting where it was (counters never go back); the old objects are dropped.
   */
  private readonly byRoute = new WeakMap<RouteOptions, RouteCounters>();
  private readonly byLabel = new Map<string, RouteCounters>();
  /** The route of the previous request: most traffic repeats it, and this skips the Map. */
  private lastRoute: RouteOptions | null = null;
  private lastCounters: RouteCounters = this.unrouted;

  /** Count one finished exchange (the `logging` hook). Allocates nothing after warm-up. */
  record(r: ExchangeResult): void {
    const route = r.route;
    let c: RouteCounters;
    if (route === null) c = this.unrouted;
    else if (route === this.lastRoute) c = this.lastCounters;
    else c = this.countersOf(route);
    const status = r.status < STATUS_SLOTS && r.status >= 0 ? r.status : 0;
    let row = c.byStatus[status];
    if (row === undefined) row = c.byStatus[status] = new Float64Array(METHOD_COUNT);
    row[methodIndex(r.request.method)]++;
    const cls = classIndex(status);
    let h = c.duration[cls];
    if (h === undefined) h = c.duration[cls] = new Histogram();
    h.observe(r.duration / 1000);
    c.requestBytes += r.requestBytes;
    c.responseBytes += r.bytes;
    c.retries += r.retries;
  }

  private countersOf(route: RouteOptions): RouteCounters {
    let c = this.byRoute.get(route);
    if (c === undefined) {
      const label = routeLabel(route);
      const key = `${label}\n${route.upstream}`;
      c = this.byLabel.get(key);
      if (c === undefined) this.byLabel.set(key, (c = new RouteCounters(label, route.upstream)));
      this.byRoute.set(route, c);
    }
    this.lastRoute = route;
    this.lastCounters = c;
    return c;
  }

  private *all(): Iterable<RouteCounters> {
    yield this.unrouted;
    yield* this.byLabel.values();
  }

  definitions(): MetricDef[] {
    return [
      {
        name: 'portcullis_http_requests_total',
        help: 'Requests finished, by route, upstream, method (OTHER for non-standard ones) and status code (499: the client went away first).',
        type: 'counter',
        collect: (out) => {
          for (const c of this.all()) {
            // Status 0 and a real 499 share the label: sum them into one series.
            const merged = new Map<string, Float64Array>();
            c.byStatus.forEach((row, status) => {
              if (row === undefined) return;
              const code = codeLabel(status);
              const into = merged.get(code);
              if (into === undefined) merged.set(code, row.slice());
              else for (let m = 0; m < METHOD_COUNT; m++) into[m]! += row[m]!;
            });
            for (const [code, row] of merged) {
              for (let m = 0; m < METHOD_COUNT; m++) {
                if (row[m] === 0) continue;
                out.push({ labels: { route: c.route, upstream: c.upstream, method: METHODS[m]!, code }, value: row[m]! });
              }
            }
          }
        },
      },
      {
        name: 'portcullis_http_request_duration_seconds',
        help: 'Time from the request head to the end of the response, by route, upstream and code class.',
        type: 'histogram',
        collect: (out) => {
          for (const c of this.all()) {
            c.duration.forEach((h, cls) => {
              if (h === undefined || h.count === 0) return;
              pushHistogram(out, 'portcullis_http_request_duration_seconds', h, { route: c.route, upstream: c.upstream, code_class: classLabel(cls) });
            });
          }
        },
      },
      {
        name: 'portcullis_http_request_bytes_total',
        help: 'Request body bytes received from clients, by route and upstream.',
        type: 'counter',
        collect: (out) => this.pushTotals(out, (c) => c.requestBytes),
      },
      {
        name: 'portcullis_http_response_bytes_total',
        help: 'Response body bytes sent to clients, by route and upstream.',
        type: 'counter',
        collect: (out) => this.pushTotals(out, (c) => c.responseBytes),
      },
      {
        name: 'portcullis_upstream_retries_total',
        help: 'Attempts after the first (another server after a failure, or a fresh socket after a stale keep-alive one), by upstream.',
        type: 'counter',
        collect: (out) => {
          const byUpstream = new Map<string, number>();
          for (const c of this.byLabel.values()) byUpstream.set(c.upstream, (byUpstream.get(c.upstream) ?? 0) + c.retries);
          for (const [upstream, value] of byUpstream) out.push({ labels: { upstream }, value });
        },
      },
    ];
  }

  private pushTotals(out: Sample[], value: (c: RouteCounters) => number): void {
    for (const c of this.all()) {
      if (c === this.unrouted && c.byStatus.every((r) => r === undefined)) continue;
      out.push({ labels: { route: c.route, upstream: c.upstream }, value: value(c) });
    }
  }
}
