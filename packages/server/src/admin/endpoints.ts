/**
 * What each admin path answers, given the supervisor's state. /metrics and /status ask the
 * workers (admin/scrape.ts) and merge their answers: metrics with prom-client's cluster
 * aggregation (each metric by its own aggregator), status per server (admin/status.ts).
 */
import { AggregatorRegistry } from 'prom-client';
import type { SupervisorMetrics } from '../metrics/supervisor-metrics.js';
import type { MetricJson } from '../metrics/exposition.js';
import type { Scraper, ScrapeResult, ScrapeTarget } from './scrape.js';
import { json, text, type AdminRoutes } from './server.js';
import type { WorkerStatus } from './status.js';
import type { ConfigReloadResult } from '../cluster/config-reload.js';
import type { RollingResult } from '../cluster/supervisor.js';

export interface AdminContext {
  /** How long to wait for the workers' answers (ms). */
  scrapeTimeout: number;
  scraper: Scraper;
  /** Every worker slot, running or not. */
  targets(): ScrapeTarget[];
  metrics: SupervisorMetrics;
  /** Ready: every worker listens and no graceful stop has begun; else why not. */
  readiness(): { ready: true } | { ready: false; reason: string };
  /** The /status document from the workers that answered. */
  status(answers: WorkerStatus[], results: ScrapeResult[]): Record<string, unknown>;
  /** Read the configuration file again and switch the workers to it (as SIGHUP does). */
  reload(): Promise<ConfigReloadResult>;
  /** Replace every worker, one at a time (as SIGUSR2 does). */
  restartWorkers(): Promise<RollingResult>;
}

export function adminRoutes(ctx: AdminContext): AdminRoutes {
  return {
    '/live': { GET: () => text(200, 'live\n') },
    '/ready': {
      GET: () => {
        const r = ctx.readiness();
        return r.ready ? text(200, 'ready\n') : text(503, `not ready: ${r.reason}\n`);
      },
    },
    '/metrics': {
      GET: async () => {
        const scraped = await ctx.scraper.gather(ctx.targets(), 'metrics', ctx.scrapeTimeout);
        const sets: MetricJson[][] = [];
        for (const a of scraped.answers) if (a !== null) sets.push(a.metrics);
        sets.push(await ctx.metrics.scrape(scraped.results));
        const registry = AggregatorRegistry.aggregate(sets);
        return { status: 200, contentType: registry.contentType, body: await registry.metrics() };
      },
    },
    '/reload': {
      POST: async () => {
        const r = await ctx.reload();
        // 422: the file as it is now cannot be served; the running configuration stays.
        return json(r.ok ? 200 : 422, r);
      },
    },
    '/workers/restart': {
      POST: async () => {
        const r = await ctx.restartWorkers();
        return json(r.ok ? 200 : 503, r);
      },
    },
    '/status': {
      GET: async () => {
        const scraped = await ctx.scraper.gather(ctx.targets(), 'status', ctx.scrapeTimeout);
        const answers: WorkerStatus[] = [];
        for (const a of scraped.answers) if (a !== null) answers.push(a.status);
        return json(200, ctx.status(answers, scraped.results));
      },
    },
  };
}
