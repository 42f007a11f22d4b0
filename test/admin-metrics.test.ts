/**
 * GET /metrics of the admin endpoint, as Prometheus reads it: a known set of requests through two
 * workers (several methods, bodies both ways, 404s from the proxy, 502s from a dead upstream, a
 * WebSocket), then the scrape parsed with parse-prometheus-text-format and checked: requests by
 * route, method and code summed over both workers, bytes both ways, a duration histogram whose
 * count is the requests sent and whose buckets are cumulative, pool gauges and counters, errors by
 * kind, client connections per listener, WebSocket counters, and the supervisor's own metrics.
 */
import http from 'node:http';
import { createRequire } from 'node:module';
import t from 'tap';
import { accessPids } from './lib/cli.js';
import { request } from './lib/client.js';
import { startOrigin } from './lib/origins.js';
import { startCliWithConfig } from './lib/tls.js';
import { freePort, waitFor, withTimeout } from './lib/util.js';
import { connect, startWsOrigin } from './lib/ws.js';

const T = { timeout: 30_000 };

interface Family {
  name: string;
  type: string;
  metrics: Array<{ value?: string; labels?: Record<string, string> }>;
}
// The package has no type declarations.
const parse = createRequire(import.meta.url)('parse-prometheus-text-format') as (text: string) => Family[];

interface Sample {
  labels: Record<string, string>;
  value: number;
}

/**
 * One scrape, parsed. parse-prometheus-text-format flattens a histogram's series into one object
 * without their labels, so the samples are read with histogram families declared untyped (each
 * of `_bucket`, `_sum` and `_count` is then a family of its own, labels intact); the declared
 * types come from a parse of the text as served.
 */
class Scrape {
  readonly types = new Map<string, string>();
  private readonly samples = new Map<string, Sample[]>();

  constructor(readonly text: string) {
    for (const f of parse(text)) this.types.set(f.name, f.type);
    for (const f of parse(text.replace(/^# TYPE (\S+) histogram$/gm, '# TYPE $1 untyped'))) {
      // Each histogram series opens new `_bucket`, `_sum` and `_count` families: gather them.
      const into = this.samples.get(f.name) ?? [];
      for (const m of f.metrics) into.push({ labels: m.labels ?? {}, value: Number(m.value) });
      this.samples.set(f.name, into);
    }
  }

  get(name: string, match: Record<string, string> = {}): Sample[] {
    return (this.samples.get(name) ?? []).filter((s) => Object.entries(match).every(([k, v]) => s.labels[k] === v));
  }

  sum(name: string, match: Record<string, string> = {}): number {
    return this.get(name, match).reduce((n, s) => n + s.value, 0);
  }

  /** The one sample of `name` matching `match` (fails the test if there is not exactly one). */
  one(name: string, match: Record<string, string> = {}): number {
    const found = this.get(name, match);
    if (found.length !== 1) throw new Error(`${name} ${JSON.stringify(match)}: ${found.length} samples`);
    return found[0]!.value;
  }
}

async function scrape(adminPort: number): Promise<Scrape> {
  const res = await request({ port: adminPort, path: '/metrics', timeout: 5000 });
  if (res.status !== 200) throw new Error(`GET /metrics: ${res.status} ${res.body.toString()}`);
  const type = res.header('content-type')[0] ?? '';
  if (!type.startsWith('text/plain; version=0.0.4')) throw new Error(`content-type ${type}`);
  return new Scrape(res.body.toString());
}

const origin = await startOrigin(t, (req, res) => {
  let n = 0;
  req.on('data', (d: Buffer) => (n += d.length));
  req.on('end', () => res.end(`${req.method} got ${n} bytes`));
});
const wsOrigin = await startWsOrigin(t);
const deadPort = await freePort();
const port = await freePort();
const adminPort = await freePort();
const cli = await startCliWithConfig(
  t,
  `listen: [127.0.0.1:${port}]
workers: 2
admin:
  listen: 127.0.0.1:${adminPort}
  scrape_timeout: 3s
upstreams:
  app: { servers: [127.0.0.1:${origin.port}] }
  dead: { servers: [127.0.0.1:${deadPort}] }
  ws: { servers: [127.0.0.1:${wsOrigin.port}] }
routes:
  - { path: /app/, upstream: app }
  - { path: /dead/, upstream: dead }
  - { name: sockets, path: /ws/, upstream: ws, strip_prefix: true }
`,
  port,
);

/** What the test sent, by route label, method and status. */
const plan: Array<{ method: string; path: string; body?: number; host?: string; status: number; route: string; upstream: string }> = [
  ...Array.from({ length: 12 }, (_, i) => ({ method: 'GET', path: `/app/get/${i}`, status: 200, route: '*/app/', upstream: 'app' })),
  ...Array.from({ length: 4 }, () => ({ method: 'HEAD', path: '/app/head', status: 200, route: '*/app/', upstream: 'app' })),
  ...Array.from({ length: 5 }, () => ({ method: 'POST', path: '/app/post', body: 1000, status: 200, route: '*/app/', upstream: 'app' })),
  ...Array.from({ length: 2 }, () => ({ method: 'PUT', path: '/app/put', body: 300, status: 200, route: '*/app/', upstream: 'app' })),
  ...Array.from({ length: 3 }, () => ({ method: 'DELETE', path: '/app/x', status: 200, route: '*/app/', upstream: 'app' })),
  ...Array.from({ length: 2 }, () => ({ method: 'OPTIONS', path: '/app/x', status: 200, route: '*/app/', upstream: 'app' })),
  ...Array.from({ length: 4 }, (_, i) => ({ method: 'GET', path: `/nowhere/${i}`, status: 404, route: '', upstream: '' })),
  ...Array.from({ length: 3 }, () => ({ method: 'GET', path: '/dead/x', status: 502, route: '*/dead/', upstream: 'dead' })),
  // Refused by the frontend before routing: counted all the same.
  ...Array.from({ length: 2 }, () => ({ method: 'GET', path: '/app/bad-host', host: 'a/evil', status: 400, route: '', upstream: '' })),
];
const toApp = plan.filter((p) => p.upstream === 'app').length;

/** Response body bytes the client received from the origin, through the app route. */
let received = 0;
for (const p of plan) {
  // A connection each, so that the kernel spreads them over both workers.
  const res = await request({ port, method: p.method, path: p.path, ...(p.body ? { body: Buffer.alloc(p.body, 'x') } : {}), ...(p.host ? { headers: { host: p.host } } : {}) });
  if (res.status !== p.status) t.fail(`${p.method} ${p.path}: ${res.status}, expected ${p.status}`);
  if (p.upstream === 'app') received += res.body.length;
}
await waitFor(() => cli.lines.filter((l) => l.msg === 'access').length >= plan.length, 5000, 'an access line per request');

t.test('requests, bytes and durations, summed over both workers', T, async (t) => {
  t.equal(accessPids(cli).size, 2, 'both workers served some of the requests');
  const m = await scrape(adminPort);
  t.same(m.get('portcullis_scrape_workers', { result: 'answered' }).map((s) => s.value), [2], 'both workers answered the scrape');
  t.equal(m.types.get('portcullis_http_requests_total'), 'COUNTER');

  const expected = new Map<string, number>();
  for (const p of plan) {
    const key = JSON.stringify({ route: p.route, upstream: p.upstream, method: p.method, code: String(p.status) });
    expected.set(key, (expected.get(key) ?? 0) + 1);
  }
  const seen = new Map(m.get('portcullis_http_requests_total').map((s) => [JSON.stringify({ route: s.labels['route'], upstream: s.labels['upstream'], method: s.labels['method'], code: s.labels['code'] }), s.value]));
  t.same(Object.fromEntries(seen), Object.fromEntries(expected), 'http_requests_total by route, upstream, method and code');

  t.equal(m.sum('portcullis_http_request_bytes_total'), 5 * 1000 + 2 * 300, 'request body bytes');
  t.equal(m.one('portcullis_http_request_bytes_total', { route: '*/app/', upstream: 'app' }), 5600, 'request body bytes of the app route');
  t.equal(m.one('portcullis_http_response_bytes_total', { route: '*/app/', upstream: 'app' }), received, `response body bytes equal what the client received from the origin (${received})`);

  const name = 'portcullis_http_request_duration_seconds';
  t.equal(m.types.get(name), 'HISTOGRAM');
  t.equal(m.sum(`${name}_count`), plan.length, 'the duration histogram counted every request');
  t.equal(m.one(`${name}_count`, { route: '*/dead/', code_class: '5xx' }), 3, '5xx of the dead route');
  t.equal(m.one(`${name}_count`, { route: '', upstream: '', code_class: '4xx' }), 6, "the proxy's 404s and the frontend's 400s");
  for (const c of m.get(`${name}_count`)) {
    const { route, upstream, code_class } = c.labels as Record<string, string>;
    const buckets = m.get(`${name}_bucket`, { route: route!, upstream: upstream!, code_class: code_class! });
    const values = buckets.map((b) => b.value);
    t.ok(values.every((v, i) => i === 0 || v >= values[i - 1]!), `buckets of ${JSON.stringify(c.labels)} are cumulative`);
    t.equal(buckets.at(-1)!.labels['le'], '+Inf');
    t.equal(buckets.at(-1)!.value, c.value, 'le="+Inf" equals _count');
    t.ok(m.one(`${name}_sum`, c.labels) >= 0);
  }
  t.equal(m.one('portcullis_http_requests_in_flight'), 0, 'nothing in flight');
});

t.test('upstream pools, timings and errors', T, async (t) => {
  const m = await scrape(adminPort);
  const app = { upstream: 'app', server: `127.0.0.1:${origin.port}` };
  const dead = { upstream: 'dead', server: `127.0.0.1:${deadPort}` };
  t.equal(m.types.get('portcullis_upstream_response_header_seconds'), 'HISTOGRAM');
  t.equal(m.one('portcullis_upstream_response_header_seconds_count', app), toApp, 'a response head timed for every request the origin answered');
  t.equal(m.sum('portcullis_upstream_response_header_seconds_count', dead), 0, 'none from the dead server');
  const connects = m.one('portcullis_upstream_connections_total', app);
  const reuses = m.one('portcullis_upstream_connection_reuses_total', app);
  t.ok(connects >= 1 && connects <= 2 * 2, `connections opened to the origin: ${connects}`);
  t.equal(connects + reuses, toApp, `each request went on a new connection or a reused one (${connects} + ${reuses})`);
  t.equal(m.one('portcullis_upstream_connect_seconds_count', app), connects, 'a connect time for each connection');
  t.equal(m.one('portcullis_upstream_connections', { ...app, state: 'busy' }), 0, 'no busy connection');
  t.equal(m.one('portcullis_upstream_connections', { ...app, state: 'connecting' }), 0, 'none connecting');
  t.equal(m.one('portcullis_upstream_connections', { ...app, state: 'idle' }), connects, 'the keep-alive connections are idle');
  t.equal(m.sum('portcullis_upstream_pending_requests'), 0, 'no request waits for a connection');
  t.equal(m.one('portcullis_upstream_errors_total', { ...dead, kind: 'refused' }), 3, 'three refused connections to the dead server');
  t.equal(m.sum('portcullis_upstream_errors_total', app), 0, 'no error with the origin');
  t.same(
    m.get('portcullis_upstream_errors_total', dead).map((s) => s.labels['kind']).sort(),
    ['connect_timeout', 'invalid_response', 'no_server', 'queue_timeout', 'read_timeout', 'refused', 'reset', 'send_timeout', 'tls'],
    'every kind is reported',
  );
  t.equal(m.one('portcullis_upstream_server_up', app), 1, 'the origin is up');
  t.equal(m.one('portcullis_upstream_ejections_total', app), 0);
  t.equal(m.one('portcullis_upstream_retries_total', { upstream: 'app' }), 0);
});

t.test('client connections per listener, WebSockets, process and build', T, async (t) => {
  // Three keep-alive connections that stay open after a request each.
  const agent = new http.Agent({ keepAlive: true, maxSockets: 3 });
  t.teardown(() => agent.destroy());
  await Promise.all([0, 1, 2].map((i) => request({ port, path: `/app/keep/${i}`, agent })));
  let m = await scrape(adminPort);
  const listener = `127.0.0.1:${port}`;
  t.ok(m.one('portcullis_downstream_connections', { listener }) >= 3, `three open client connections counted (${m.one('portcullis_downstream_connections', { listener })})`);
  agent.destroy();

  const ws = connect(port, '/ws/echo');
  await ws.opened;
  ws.ws.send('ping');
  t.equal((await ws.next()).data.toString(), 'ping', 'the WebSocket relays');
  m = await scrape(adminPort);
  t.equal(m.one('portcullis_websocket_connections'), 1, 'one WebSocket open');
  t.equal(m.one('portcullis_websocket_connections_total'), 1, 'one opened');
  t.equal(m.one('portcullis_http_requests_total', { route: 'sockets', upstream: 'ws', method: 'GET', code: '101' }), 1, 'the handshake counted under the route name, code 101');
  ws.ws.close(1000, 'bye');
  await withTimeout(ws.closed, 5000, 'the WebSocket close');
  m = await waitFor(async () => {
    const s = await scrape(adminPort);
    return s.one('portcullis_websocket_connections') === 0 && s;
  }, 5000, 'the WebSocket counted as closed');
  t.equal(m.one('portcullis_websocket_closes_total', { code_class: '1xxx' }), 1, 'closed with a 1xxx code');

  t.same(m.get('portcullis_event_loop_lag_seconds').map((s) => s.labels['worker']).sort(), ['0', '1'], 'event-loop lag per worker slot');
  t.ok(m.get('portcullis_event_loop_lag_seconds').every((s) => s.value >= 0 && s.value < 1), 'lag is a small number of seconds');
  const build = m.get('portcullis_build_info');
  t.equal(build.length, 1);
  t.match(build[0]!.labels, { version: /^\d+\.\d+\.\d+/, node_version: process.version });
  t.same(m.get('portcullis_worker_restarts_total').map((s) => s.value), [0, 0], 'no worker restarted');
  t.equal(m.one('portcullis_ready'), 1);
  for (const [family, type] of m.types) {
    t.ok(family.startsWith('portcullis_'), `${family} is prefixed`);
    if (type === 'COUNTER') t.ok(family.endsWith('_total'), `counter ${family} ends in _total`);
  }
  // No label carries a path or a client address.
  t.notMatch(m.text, /\/get\/|\/nowhere|\/keep\//, 'no request path in any label');
});
