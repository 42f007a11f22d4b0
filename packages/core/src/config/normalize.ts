/**
 * Options as an embedding app writes them (partial, with a `target` shorthand) turned into the
 * complete ProxyOptions the core runs on. Invalid input throws here, once, never per request:
 * one ProxyConfigError with every problem, each at its path in the init.
 */
import {
  forwardingDefaults,
  healthCheckDefaults,
  limitDefaults,
  passiveHealthDefaults,
  retryDefaults,
  type HealthCheckOptions,
  type PassiveHealthOptions,
  type RequestLimits,
  type RetryOptions,
  upstreamDefaults,
  type ForwardingOptions,
  type ProxyOptions,
  type RouteOptions,
  type ServerAddress,
  type UpstreamOptions,
  type WebSocketOptions,
  websocketDefaults,
} from './options.js';
import { describeValue, problemsOf, throwProblems, type CheckResult, type ConfigProblem } from './problems.js';
import { compileForwarding } from '../headers/forwarded.js';
import { compileRoutes } from '../routing/router.js';

export type UpstreamInit = Partial<Omit<UpstreamOptions, 'name' | 'servers' | 'passiveHealth' | 'healthCheck' | 'retry'>> & {
  name: string;
  servers: Array<ServerAddress | string>;
  /** The keys given replace those of {@link passiveHealthDefaults}. */
  passiveHealth?: Partial<PassiveHealthOptions>;
  /** Active checks, off unless given; the keys given replace those of {@link healthCheckDefaults}. */
  healthCheck?: Partial<HealthCheckOptions>;
  /** The keys given replace those of {@link retryDefaults}. */
  retry?: Partial<RetryOptions>;
};

/** Largest server weight (ServerAddress.weight). */
const MAX_WEIGHT = 1000;

export interface ProxyInit {
  /** Shorthand: one upstream of these URLs (`http://host:port`), with a catch-all route. */
  target?: string | string[];
  upstreams?: UpstreamInit[];
  routes?: Array<Partial<RouteOptions> & { upstream: string }>;
  forwarding?: Partial<ForwardingOptions>;
  websocket?: Partial<WebSocketOptions>;
  limits?: Partial<RequestLimits>;
}

/**
 * @throws ProxyConfigError listing every problem of the options, those of the routes and the
 *   forwarding included, so an embedder fixes them all from one exception.
 */
export function normalizeOptions(init: ProxyInit): ProxyOptions {
  const problems: ConfigProblem[] = [];
  const upstreams: UpstreamOptions[] = [];
  const routes: RouteOptions[] = [];
  if (init.target !== undefined) {
    const urls = Array.isArray(init.target) ? init.target : [init.target];
    const parsed = urls.flatMap((url, i) => {
      const target = parseTarget(url);
      if (target.ok) return [target.value];
      problems.push({ path: Array.isArray(init.target) ? ['target', i] : ['target'], problem: target.problem, fix: target.fix });
      return [];
    });
    const protocol = parsed[0]?.protocol ?? 'http';
    if (parsed.some((p) => p.protocol !== protocol)) {
      problems.push({ path: ['target'], problem: 'mixes http and https URLs, but one upstream speaks one protocol', fix: 'use the same scheme for all, or define two upstreams' });
    }
    upstreams.push({ ...upstreamDefaults, name: 'default', protocol, servers: parsed.map((p) => p.server) });
    routes.push({ hosts: [], pathPrefix: '/', stripPrefix: false, upstream: 'default' });
  }
  (init.upstreams ?? []).forEach((u, i) => {
    if (u.servers.length === 0) problems.push({ path: ['upstreams', i, 'servers'], problem: `upstream "${u.name}" lists no server`, fix: 'give it at least one, e.g. "127.0.0.1:9000"' });
    const servers = u.servers.flatMap((s, j) => {
      if (typeof s !== 'string') return [s];
      const target = parseTarget(s.includes('://') ? s : `${u.protocol ?? 'http'}://${s}`);
      if (target.ok) return [target.value.server];
      problems.push({ path: ['upstreams', i, 'servers', j], problem: target.problem, fix: target.fix });
      return [];
    });
    servers.forEach((s, j) => {
      if (s.weight === undefined) return;
      if (!Number.isInteger(s.weight) || s.weight < 1 || s.weight > MAX_WEIGHT) {
        problems.push({ path: ['upstreams', i, 'servers', j, 'weight'], problem: `expected a whole number from 1 to ${MAX_WEIGHT}, got ${describeValue(s.weight)}`, fix: 'give the server\'s share of requests relative to the others, e.g. 3, or leave weight out for 1' });
      }
    });
    const { passiveHealth, healthCheck, retry, ...rest } = u;
    const upstream = {
      ...upstreamDefaults,
      protocol: 'http',
      ...rest,
      servers,
      passiveHealth: { ...passiveHealthDefaults, ...passiveHealth },
      retry: { ...retryDefaults, ...retry },
    } as UpstreamOptions;
    if (healthCheck !== undefined) upstream.healthCheck = { ...healthCheckDefaults, ...healthCheck };
    if (upstream.balance === 'hash' && upstream.hashKey === undefined) {
      problems.push({ path: ['upstreams', i, 'hashKey'], problem: 'is required with balance "hash"', fix: "say what to hash, e.g. hashKey: { kind: 'client_ip' }, or choose another balance" });
    }
    // Header names are matched lower-cased, as the core keeps them.
    if (upstream.hashKey?.kind === 'header' && typeof upstream.hashKey.name === 'string') upstream.hashKey = { kind: 'header', name: upstream.hashKey.name.toLowerCase() };
    upstreams.push(upstream);
  });
  for (const r of init.routes ?? []) {
    routes.push({ ...(r.name !== undefined ? { name: r.name } : {}), hosts: r.hosts ?? [], pathPrefix: r.pathPrefix ?? '/', stripPrefix: r.stripPrefix ?? false, upstream: r.upstream });
  }
  if (routes.length === 0 && upstreams.length === 1) {
    routes.push({ hosts: [], pathPrefix: '/', stripPrefix: false, upstream: upstreams[0]!.name });
  }
  const names = upstreams.map((u) => u.name);
  // The target shorthand's route comes first, so routes[i] of the init is routes[i + offset] here.
  const offset = init.target !== undefined ? 1 : 0;
  routes.forEach((r, i) => {
    if (names.includes(r.upstream)) return;
    problems.push({
      path: i < offset || init.routes === undefined ? ['routes'] : ['routes', i - offset, 'upstream'],
      problem: `there is no upstream named ${JSON.stringify(r.upstream)}`,
      fix: names.length > 0 ? `use one of ${names.map((n) => JSON.stringify(n)).join(', ')}` : 'define it under upstreams',
    });
  });
  const options: ProxyOptions = {
    upstreams,
    routes,
    forwarding: { ...forwardingDefaults, ...init.forwarding },
    websocket: { ...websocketDefaults, ...init.websocket },
    limits: { ...limitDefaults, ...init.limits },
  };
  // Compiled again by the proxy; here only for their problems, reported with the rest. Without
  // the target's route, so that the indexes in the problems are those of the init's routes.
  problems.push(...problemsOf(() => compileRoutes(routes.slice(offset))));
  if (offset !== 0) {
    routes.forEach((r, i) => {
      if (i < offset || r.hosts.length !== 0 || !/^\/*$/.test(r.pathPrefix)) return;
      problems.push({
        path: ['routes', i - offset],
        problem: 'any host with path "/" is already routed to the "target" servers, so this route would never be used',
        fix: 'remove it, or "target" (and define the upstream under upstreams)',
      });
    });
  }
  problems.push(...problemsOf(() => compileForwarding(options.forwarding)));
  throwProblems(problems);
  return options;
}

function parseTarget(url: string): CheckResult<{ protocol: 'http' | 'https'; server: ServerAddress }> {
  const fix = 'write http://host:port or https://host:port';
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return { ok: false, problem: `${JSON.stringify(url)} is not a URL`, fix };
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') {
    return { ok: false, problem: `${JSON.stringify(url)} has the scheme ${JSON.stringify(u.protocol.slice(0, -1))}, but upstreams speak http or https`, fix };
  }
  const protocol = u.protocol === 'https:' ? 'https' : 'http';
  const host = u.hostname.startsWith('[') ? u.hostname.slice(1, -1) : u.hostname;
  const port = u.port ? Number(u.port) : protocol === 'https' ? 443 : 80;
  return { ok: true, value: { protocol, server: { host, port } } };
}
