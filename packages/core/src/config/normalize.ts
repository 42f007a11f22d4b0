/**
 * Options as an embedding app writes them (partial, with a `target` shorthand) turned into the
 * complete ProxyOptions the core runs on. Invalid input throws here, once, never per request.
 */
import {
  forwardingDefaults,
  limitDefaults,
  type RequestLimits,
  upstreamDefaults,
  type ForwardingOptions,
  type ProxyOptions,
  type RouteOptions,
  type ServerAddress,
  type UpstreamOptions,
  type WebSocketOptions,
  websocketDefaults,
} from './options.js';

export type UpstreamInit = Partial<Omit<UpstreamOptions, 'name' | 'servers'>> & {
  name: string;
  servers: Array<ServerAddress | string>;
};

export interface ProxyInit {
  /** Shorthand: one upstream of these URLs (`http://host:port`), with a catch-all route. */
  target?: string | string[];
  upstreams?: UpstreamInit[];
  routes?: Array<Partial<RouteOptions> & { upstream: string }>;
  forwarding?: Partial<ForwardingOptions>;
  websocket?: Partial<WebSocketOptions>;
  limits?: Partial<RequestLimits>;
}

export function normalizeOptions(init: ProxyInit): ProxyOptions {
  const upstreams: UpstreamOptions[] = [];
  const routes: RouteOptions[] = [];
  if (init.target !== undefined) {
    const urls = Array.isArray(init.target) ? init.target : [init.target];
    const parsed = urls.map(parseTarget);
    const protocol = parsed[0]!.protocol;
    if (parsed.some((p) => p.protocol !== protocol)) throw new Error('target: all URLs must use the same scheme');
    upstreams.push({ ...upstreamDefaults, name: 'default', protocol, servers: parsed.map((p) => p.server) });
    routes.push({ hosts: [], pathPrefix: '/', stripPrefix: false, upstream: 'default' });
  }
  for (const u of init.upstreams ?? []) {
    if (u.servers.length === 0) throw new Error(`upstream ${u.name}: needs at least one server`);
    const servers = u.servers.map((s) => (typeof s === 'string' ? parseTarget(s.includes('://') ? s : `${u.protocol ?? 'http'}://${s}`).server : s));
    upstreams.push({ ...upstreamDefaults, protocol: 'http', ...u, servers } as UpstreamOptions);
  }
  for (const r of init.routes ?? []) {
    routes.push({ hosts: r.hosts ?? [], pathPrefix: r.pathPrefix ?? '/', stripPrefix: r.stripPrefix ?? false, upstream: r.upstream });
  }
  if (routes.length === 0 && upstreams.length === 1) {
    routes.push({ hosts: [], pathPrefix: '/', stripPrefix: false, upstream: upstreams[0]!.name });
  }
  const names = new Set(upstreams.map((u) => u.name));
  for (const r of routes) {
    if (!names.has(r.upstream)) throw new Error(`route ${r.pathPrefix}: unknown upstream "${r.upstream}"`);
  }
  return {
    upstreams,
    routes,
    forwarding: { ...forwardingDefaults, ...init.forwarding },
    websocket: { ...websocketDefaults, ...init.websocket },
    limits: { ...limitDefaults, ...init.limits },
  };
}

function parseTarget(url: string): { protocol: 'http' | 'https'; server: ServerAddress } {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new Error(`target "${url}": not a URL; expected http://host:port or https://host:port`);
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') {
    throw new Error(`target "${url}": scheme must be http or https`);
  }
  const protocol = u.protocol === 'https:' ? 'https' : 'http';
  const host = u.hostname.startsWith('[') ? u.hostname.slice(1, -1) : u.hostname;
  const port = u.port ? Number(u.port) : protocol === 'https' ? 443 : 80;
  return { protocol, server: { host, port } };
}
