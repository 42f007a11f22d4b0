/**
 * The YAML schema: turns the plain value read from a config file into a {@link ServerConfig},
 * reporting every problem (unknown keys with "did you mean", types, ranges, references).
 * It knows nothing of files or positions; the loader maps key paths to lines.
 */
import { availableParallelism } from 'node:os';
import {
  checkRouteHost,
  compileForwarding,
  compileRoutes,
  forwardingDefaults,
  formatOptionPath,
  problemsOf,
  type ConfigProblem,
  upstreamDefaults,
  websocketDefaults,
  type ForwardingOptions,
  type RouteOptions,
  type UpstreamOptions,
  type UpstreamTlsOptions,
  type UpstreamWebSocketOptions,
  type WebSocketCompression,
  type WebSocketOptions,
} from '@portcullis/core';
import { type Checked, describe } from './errors.js';
import { field, isMapping, listItems, mapping, type KeyPath, type Raw, type SchemaContext } from './fields.js';
import { didYouMean, listOf } from './suggest.js';
import { buildListeners } from './listeners.js';
import { buildLimits } from './limits.js';
import { buildAdmin } from './admin.js';
import { serverDefaults, type ServerConfig } from './types.js';
import { buildBalance, buildRetry, buildServers } from './upstream-balance.js';
import { buildHealthCheck, buildPassiveHealth } from './upstream-health.js';
import {
  checkBoolean,
  checkDuration,
  checkHostHeader,
  checkInteger,
  checkLogLevel,
  checkRouteName,
  checkSize,
  checkUpstreamName,
  checkWorkers,
  formatDuration,
} from './values.js';

const topLevelKeys = ['workers', 'log', 'watch', 'shutdown_timeout', 'drain_delay', 'send_timeout', 'listen', 'admin', 'trusted_proxies', 'forwarded', 'via', 'websocket', 'limits', 'upstreams', 'routes'] as const;
const logKeys = ['level', 'access'] as const;
const upstreamKeys = [
  'servers',
  'keepalive',
  'max_connections',
  'idle_timeout',
  'max_requests_per_socket',
  'connect_timeout',
  'read_timeout',
  'send_timeout',
  'pipelining',
  'host_header',
  'tls',
  'websocket',
  'balance',
  'hash_key',
  'passive_health',
  'health_check',
  'retry',
] as const;
const websocketKeys = ['max_message_size', 'idle_timeout', 'handshake_timeout', 'max_buffered', 'compression', 'upstream_compression'] as const;
/** The WebSocket limits an upstream may override (those of its own hop). */
const upstreamWebsocketKeys = ['max_message_size', 'handshake_timeout', 'max_buffered', 'upstream_compression'] as const;
const compressions = ['off', 'shared', 'dedicated'] as const;
const upstreamTlsKeys = ['verify', 'server_name', 'ca', 'cert', 'key'] as const;
const routeKeys = ['name', 'host', 'hosts', 'path', 'strip_prefix', 'upstream'] as const;

/**
 * `trusted_proxies`, `forwarded` and `via` as the core takes them. The addresses and the Via
 * pseudonym are the core's to check (compileForwarding); here only what YAML adds: a bare item
 * for a one-entry list, and `via: true`.
 */
function buildForwarding(ctx: SchemaContext, root: Raw): ForwardingOptions {
  let trustedProxies = [...forwardingDefaults.trustedProxies];
  if ('trusted_proxies' in root && root['trusted_proxies'] !== null) {
    // Not strings are the core's to refuse too, at their index, like any other bad entry.
    trustedProxies = listItems(root['trusted_proxies']) as string[];
  }
  const forwarded = field(ctx, root, [], 'forwarded', (v) => checkBoolean(v, 'write true to also send an RFC 7239 Forwarded header, or false'), forwardingDefaults.forwarded, 'false');
  const via = field<string | false>(
    ctx,
    root,
    [],
    'via',
    (v) =>
      v === false || typeof v === 'string'
        ? { ok: true, value: v }
        : v === true
          ? { ok: true, value: 'portcullis' }
          : { ok: false, problem: `expected false, true or a pseudonym, got ${describe(v)}`, fix: 'write a name such as "portcullis", or true to use "portcullis"' },
    forwardingDefaults.via,
    'false',
  );
  return { trustedProxies, forwarded, via };
}

/** `websocket:` at the top level (every upstream) or under an upstream (its own hop only). */
function buildWebSocket(ctx: SchemaContext, path: KeyPath, value: unknown, upstream: boolean): Partial<WebSocketOptions> | undefined {
  const allowed = upstream ? upstreamWebsocketKeys : websocketKeys;
  const raw = mapping(ctx, path, value, allowed, '"websocket: { max_message_size: 16MiB, idle_timeout: 120s }"');
  if (!raw) return undefined;
  const d = websocketDefaults;
  const out: Partial<WebSocketOptions> = {};
  const size = (key: 'max_message_size' | 'max_buffered', fallback: number, example: string): number | undefined =>
    key in raw ? field(ctx, raw, path, key, (v) => checkSize(v, example), fallback, `${fallback} bytes`) : undefined;
  const maxMessageSize = size('max_message_size', d.maxMessageSize, '16MiB');
  if (maxMessageSize !== undefined) out.maxMessageSize = maxMessageSize;
  const maxBuffered = size('max_buffered', d.maxBuffered, '4MiB');
  if (maxBuffered !== undefined) out.maxBuffered = maxBuffered;
  if ('upstream_compression' in raw) {
    out.upstreamCompression = field(ctx, raw, path, 'upstream_compression', (v) => checkBoolean(v, 'write true to offer permessage-deflate to the upstream, or false (the default)'), d.upstreamCompression, 'false');
  }
  if ('handshake_timeout' in raw) out.handshakeTimeout = field(ctx, raw, path, 'handshake_timeout', (v) => checkDuration(v, '10s'), d.handshakeTimeout, formatDuration(d.handshakeTimeout));
  if (!upstream && 'idle_timeout' in raw) {
    out.idleTimeout = field(
      ctx,
      raw,
      path,
      'idle_timeout',
      (v): Checked<number> => {
        if (v === 'off' || v === false || v === 0) return { ok: true, value: 0 };
        const checked = checkDuration(v, '120s');
        if (checked.ok && (checked.value < 8_000 || checked.value > 960_000)) {
          return { ok: false, problem: `${describe(v)} is outside 8s to 16m (the range uWS can time)`, fix: 'write a duration from "8s" to "16m", or off to never ping nor time out' };
        }
        return checked;
      },
      d.idleTimeout,
      formatDuration(d.idleTimeout),
    );
  }
  if (!upstream && 'compression' in raw) {
    out.compression = field<WebSocketCompression>(
      ctx,
      raw,
      path,
      'compression',
      (v) =>
        (compressions as readonly unknown[]).includes(v)
          ? { ok: true, value: v as WebSocketCompression }
          : { ok: false, problem: `expected one of ${listOf(compressions)}, got ${describe(v)}`, fix: 'write off (the default), shared (one compressor for all connections) or dedicated (a compressor per connection, more memory)' },
      d.compression,
      d.compression,
    );
  }
  return out;
}

const upstreamExample = '"app: { servers: [127.0.0.1:9000] }"';

function buildTls(ctx: SchemaContext, path: KeyPath, value: unknown): UpstreamTlsOptions | undefined {
  const raw = mapping(ctx, path, value, upstreamTlsKeys, '"tls: { verify: true, ca: ca.pem }"');
  if (!raw) return undefined;
  const tls: UpstreamTlsOptions = {
    verify: field(ctx, raw, path, 'verify', (v) => checkBoolean(v, 'write false only to accept any certificate (testing), else true'), true, 'true'),
  };
  const serverName = field<string | undefined>(ctx, raw, path, 'server_name', checkHostHeader, undefined, "the server's host");
  if (serverName !== undefined) tls.servername = serverName;
  for (const [key, fix] of [
    ['ca', 'name a PEM file of the CA certificates to trust, e.g. "ca.pem"'],
    ['cert', 'name a PEM file of the client certificate, e.g. "client.pem"'],
    ['key', 'name a PEM file of the client private key, e.g. "client-key.pem"'],
  ] as const) {
    const file = field<string | undefined>(
      ctx,
      raw,
      path,
      key,
      (v) => (typeof v === 'string' && v.trim() !== '' ? { ok: true, value: v } : { ok: false, problem: `expected a file path, got ${describe(v)}`, fix }),
      undefined,
      'none',
    );
    if (file === undefined) continue;
    const read = ctx.readFile(file);
    if (read.ok) tls[key] = read.value;
    else ctx.report([...path, key], read.problem, read.fix);
  }
  if ((raw['cert'] === undefined) !== (raw['key'] === undefined)) {
    const [given, missing] = raw['cert'] === undefined ? ['key', 'cert'] : ['cert', 'key'];
    ctx.report(path, `has "${given}" without "${missing}"`, 'give both "cert" and "key" for client certificates, or neither');
  }
  return tls;
}

function buildUpstream(ctx: SchemaContext, name: string, value: unknown): UpstreamOptions | undefined {
  const path = ['upstreams', name];
  const nameOk = checkUpstreamName(name);
  if (!nameOk.ok) ctx.report(path, nameOk.problem, nameOk.fix, 'key');
  const raw = mapping(ctx, path, value, upstreamKeys, upstreamExample);
  if (!raw) return undefined;

  const servers = buildServers(ctx, path, raw);
  const protocol = servers.protocol;

  const d = upstreamDefaults;
  const duration = (key: string, fallback: number, example: string): number =>
    field(ctx, raw, path, key, (v) => checkDuration(v, example), fallback, formatDuration(fallback));
  const count = (key: string, fallback: number, min: number, max: number, fix: string): number =>
    field(ctx, raw, path, key, (v) => checkInteger(v, min, max, fix), fallback, String(fallback));
  const upstream: UpstreamOptions = {
    name,
    servers: servers.servers,
    protocol,
    keepalive: count('keepalive', d.keepalive, 0, Infinity,
      'set it to the number of idle connections to keep, e.g. 10 (0 closes each connection after its response)'),
    maxConnections: count('max_connections', d.maxConnections, 1, Infinity,
      'set it to the most sockets to open to each server from each worker, e.g. 1024'),
    idleTimeout: duration('idle_timeout', d.idleTimeout, '4s'),
    maxRequestsPerSocket: count('max_requests_per_socket', d.maxRequestsPerSocket, 1, Infinity,
      'set it to how many requests one socket may serve before it is closed, e.g. 1000'),
    connectTimeout: duration('connect_timeout', d.connectTimeout, '5s'),
    readTimeout: duration('read_timeout', d.readTimeout, '60s'),
    sendTimeout: duration('send_timeout', d.sendTimeout, '60s'),
    pipelining: count('pipelining', d.pipelining, 1, 64,
      'set it to 1 for no pipelining, or to how many requests to send ahead on one socket (at most 64)'),
    ...buildBalance(ctx, path, raw),
    passiveHealth: 'passive_health' in raw && raw['passive_health'] !== null
      ? buildPassiveHealth(ctx, [...path, 'passive_health'], raw['passive_health'])
      : { ...d.passiveHealth },
    retry: 'retry' in raw && raw['retry'] !== null ? buildRetry(ctx, [...path, 'retry'], raw['retry']) : { ...d.retry, on: [...d.retry.on] },
  };
  if ('health_check' in raw && raw['health_check'] !== null) {
    const check = buildHealthCheck(ctx, [...path, 'health_check'], raw['health_check']);
    if (check) upstream.healthCheck = check;
  }
  for (const key of ['passive_health', 'health_check', 'retry'] as const) {
    if (key in raw && raw[key] === null) {
      ctx.report([...path, key], 'has no value', key === 'health_check' ? 'give it a path such as /healthz or a mapping, or remove the key (no active checks)' : 'give it a mapping, or off, or remove the key to use the defaults');
    }
  }
  if ('websocket' in raw && raw['websocket'] !== null) {
    const ws = buildWebSocket(ctx, [...path, 'websocket'], raw['websocket'], true);
    if (ws && Object.keys(ws).length > 0) upstream.websocket = ws as Partial<UpstreamWebSocketOptions>;
  }
  const hostHeader = field<string | undefined>(ctx, raw, path, 'host_header', checkHostHeader, undefined, "the client's Host");
  if (hostHeader !== undefined) upstream.hostHeader = hostHeader;
  if ('tls' in raw && raw['tls'] !== null) {
    if (protocol !== 'https' && servers.ok) {
      ctx.report([...path, 'tls'], 'is set but the servers are plain http', 'write the servers as "https://host:port", or remove "tls"');
    }
    const tls = buildTls(ctx, [...path, 'tls'], raw['tls']);
    if (tls) upstream.tls = tls;
  }
  return upstream;
}

function buildUpstreams(ctx: SchemaContext, root: Raw): UpstreamOptions[] {
  const value = root['upstreams'];
  if (value === undefined || value === null || (isMapping(value) && Object.keys(value).length === 0)) {
    ctx.report(
      value === undefined ? [] : ['upstreams'],
      value === undefined ? 'has no "upstreams", so there is nothing to proxy to' : 'defines no upstream, so there is nothing to proxy to',
      'add one, e.g. "upstreams: { app: { servers: [127.0.0.1:9000] } }"',
    );
    return [];
  }
  if (Array.isArray(value)) {
    ctx.report(['upstreams'], 'is a list, but upstreams are a mapping from a name to its settings', 'write it like "upstreams: { app: { servers: [127.0.0.1:9000] } }"');
    return [];
  }
  if (!isMapping(value)) {
    ctx.report(['upstreams'], `expected a mapping from upstream names to their settings, got ${describe(value)}`, 'write it like "upstreams: { app: { servers: [127.0.0.1:9000] } }"');
    return [];
  }
  return Object.entries(value).flatMap(([name, upstream]) => buildUpstream(ctx, name, upstream) ?? []);
}

/** Where routes[i] of the core's options was written: its YAML path, and how it named its hosts. */
interface RouteSource {
  path: KeyPath;
  hostKey: 'host' | 'hosts' | null;
}

interface BuiltRoutes {
  routes: RouteOptions[];
  /** One per route; empty for the route made up when there is no "routes" key. */
  sources: RouteSource[];
  /**
   * Every route was read with its own hosts and path. Otherwise some were skipped or read with
   * defaults in their place, and the core would find overlaps that are not in the file.
   */
  complete: boolean;
}

function buildRoutes(ctx: SchemaContext, root: Raw, upstreamNames: readonly string[], problems: () => number): BuiltRoutes {
  const value = root['routes'];
  if (value === undefined) {
    if (upstreamNames.length === 1) return { routes: [{ hosts: [], pathPrefix: '/', stripPrefix: false, upstream: upstreamNames[0]! }], sources: [], complete: false };
    if (upstreamNames.length > 1) {
      ctx.report([], `has ${upstreamNames.length} upstreams but no "routes" to choose between them`, `add routes, e.g. "routes: [{ path: /, upstream: ${upstreamNames[0]} }]"`);
    }
    return { routes: [], sources: [], complete: false };
  }
  if (!Array.isArray(value) || value.length === 0) {
    ctx.report(
      ['routes'],
      Array.isArray(value) || value === null ? 'lists no route, so every request would get 404' : `expected a list of routes, got ${describe(value)}`,
      upstreamNames.length === 1 ? 'add a route, or remove "routes" to send every request to the only upstream' : 'write it like "routes: [{ host: example.com, path: /api/, upstream: app }]"',
    );
    return { routes: [], sources: [], complete: false };
  }
  const built: BuiltRoutes = { routes: [], sources: [], complete: true };
  const names = new Map<string, number>();
  value.forEach((item, i) => {
    const path = ['routes', i];
    const raw = mapping(ctx, path, item, routeKeys, '"{ host: example.com, path: /api/, upstream: app }"');
    if (!raw) {
      built.complete = false;
      return;
    }
    const name = field<string | undefined>(ctx, raw, path, 'name', checkRouteName, undefined, 'the first host (or *) and the path');
    if (name !== undefined) {
      const earlier = names.get(name);
      if (earlier !== undefined) ctx.report([...path, 'name'], `is also the name of routes[${earlier}]`, 'give each route its own name, since metrics tell routes apart by it');
      else names.set(name, i);
    }
    const hostsAndPathBefore = problems();
    // Host names are checked (and lower-cased) by the core's own rule, so each is reported at its
    // own key here, and what passes is exactly what the router matches.
    let hosts: string[] = [];
    let hostKey: RouteSource['hostKey'] = null;
    if ('host' in raw && 'hosts' in raw) {
      ctx.report(path, 'has both "host" and "hosts"', 'keep one: "host" for one name, "hosts" for a list');
    } else if ('host' in raw) {
      hostKey = 'host';
      const checkOne = (v: unknown): Checked<string> =>
        Array.isArray(v) ? { ok: false, problem: 'is a list', fix: 'rename "host" to "hosts" for a list' } : checkRouteHost(v);
      const host = field(ctx, raw, path, 'host', checkOne, '', 'any host');
      if (host !== '') hosts = [host];
    } else if ('hosts' in raw) {
      hostKey = 'hosts';
      const list = raw['hosts'];
      if (!Array.isArray(list) || list.length === 0) {
        ctx.report(
          [...path, 'hosts'],
          Array.isArray(list) ? 'lists no host' : `expected a list of host names, got ${describe(list)}`,
          'list host names such as [example.com, "*.example.com"], or leave out "hosts" to match any host',
        );
      } else {
        list.forEach((h, j) => {
          const checked = checkRouteHost(h);
          if (checked.ok) hosts.push(checked.value);
          else ctx.report([...path, 'hosts', j], checked.problem, checked.fix);
        });
      }
    }
    // The path's syntax is the core's to check (compileRoutes); a YAML number or list is not a path.
    const pathPrefix = field(ctx, raw, path, 'path', (v) => (typeof v === 'string' ? { ok: true, value: v } : { ok: false, problem: `expected a path, got ${describe(v)}`, fix: 'write a path prefix that starts with "/", such as "/api/"' }), '/', '/');
    if (problems() !== hostsAndPathBefore) built.complete = false;
    const stripPrefix = field(ctx, raw, path, 'strip_prefix', (v) => checkBoolean(v, 'write true to remove the path prefix before passing the request upstream, else false'), false, 'false');
    let upstream = '';
    const target = raw['upstream'];
    if (typeof target === 'string' && upstreamNames.includes(target)) {
      upstream = target;
    } else if (target === undefined || target === null) {
      ctx.report(
        target === undefined ? path : [...path, 'upstream'],
        'does not say which upstream to use',
        `add "upstream: <name>"${upstreamNames.length ? `, with a name among ${listOf(upstreamNames)}` : ''}`,
      );
    } else if (typeof target !== 'string') {
      ctx.report([...path, 'upstream'], `expected an upstream name, got ${describe(target)}`, `use one of ${listOf(upstreamNames)}`);
    } else if (upstreamNames.length > 0) {
      const guess = didYouMean(target, upstreamNames);
      ctx.report(
        [...path, 'upstream'],
        `there is no upstream named ${JSON.stringify(target)}${guess ? ` (did you mean "${guess}"?)` : ''}`,
        guess ? `write "${guess}"` : `use one of ${listOf(upstreamNames)}, or define "${target}" under upstreams`,
      );
    }
    built.routes.push(name === undefined ? { hosts, pathPrefix, stripPrefix, upstream } : { name, hosts, pathPrefix, stripPrefix, upstream });
    built.sources.push({ path, hostKey });
  });
  return built;
}

/**
 * The YAML key a problem of the core's options is about: `routes[i].pathPrefix` is the route's
 * `path`, `forwarding.trustedProxies[i]` is `trusted_proxies[i]`, and so on. A path with no YAML
 * counterpart (none is known) goes to the top of the file rather than nowhere.
 */
function yamlPathOf(problem: ConfigProblem, routes: readonly RouteSource[], root: Raw): KeyPath {
  const [head, i, key, j] = problem.path;
  const route = head === 'routes' && typeof i === 'number' ? routes[i] : undefined;
  if (route !== undefined) {
    if (key === 'pathPrefix') return [...route.path, 'path'];
    if (key === 'stripPrefix') return [...route.path, 'strip_prefix'];
    if (key === 'upstream') return [...route.path, 'upstream'];
    if (key === 'hosts' && route.hostKey === 'host') return [...route.path, 'host'];
    if (key === 'hosts' && route.hostKey === 'hosts') return typeof j === 'number' ? [...route.path, 'hosts', j] : [...route.path, 'hosts'];
    return route.path;
  }
  if (head === 'forwarding' && i === 'trustedProxies') {
    return Array.isArray(root['trusted_proxies']) && typeof key === 'number' ? ['trusted_proxies', key] : ['trusted_proxies'];
  }
  if (head === 'forwarding' && i === 'via') return ['via'];
  return [];
}

/** Build a {@link ServerConfig} from the value of a YAML document; problems go to `ctx`. */
export function buildServerConfig(outer: SchemaContext, value: unknown, source: string): ServerConfig {
  let problems = 0;
  const ctx: SchemaContext = {
    report(...args) {
      problems++;
      outer.report(...args);
    },
    readFile: (path) => outer.readFile(path),
    resolvePath: (path) => outer.resolvePath(path),
  };
  const root = mapping(ctx, [], value ?? {}, topLevelKeys, '"upstreams: { app: { servers: [127.0.0.1:9000] } }"') ?? {};
  const log = 'log' in root && root['log'] !== null ? mapping(ctx, ['log'], root['log'], logKeys, '"log: { level: info, access: true }"') : undefined;
  const upstreams = buildUpstreams(ctx, root);
  // Routes are checked against every declared name, even of upstreams that had errors of their own.
  const declared = isMapping(root['upstreams']) ? Object.keys(root['upstreams']) : [];
  const routes = buildRoutes(ctx, root, declared, () => problems);
  const config: ServerConfig = {
    source,
    listeners: buildListeners(ctx, root),
    workers: field(ctx, root, [], 'workers', checkWorkers, availableParallelism(), 'the number of CPUs'),
    logLevel: field(ctx, log, ['log'], 'level', checkLogLevel, serverDefaults.logLevel, serverDefaults.logLevel),
    accessLog: field(ctx, log, ['log'], 'access', (v) => checkBoolean(v, 'write false to turn off the per-request log line, else true'), serverDefaults.accessLog, 'true'),
    demo: false,
    proxy: {
      upstreams,
      routes: routes.routes,
      forwarding: buildForwarding(ctx, root),
      websocket: { ...websocketDefaults, ...('websocket' in root && root['websocket'] !== null ? buildWebSocket(ctx, ['websocket'], root['websocket'], false) : {}) },
      limits: buildLimits(ctx, root),
    },
    shutdownTimeout: field(ctx, root, [], 'shutdown_timeout', (v) => checkDuration(v, '10s'), serverDefaults.shutdownTimeout, '10s'),
    watch: field(ctx, root, [], 'watch', (v) => checkBoolean(v, 'write true to reload when this file changes, or false (the default)'), serverDefaults.watch, 'false'),
    drainDelay: field(ctx, root, [], 'drain_delay', (v) => (v === 0 || v === '0' || v === 'off' || v === false || (typeof v === 'string' && /^0+(ms|s|m)?$/.test(v)) ? { ok: true, value: 0 } : checkDuration(v, '5s')), serverDefaults.drainDelay, '0s'),
    sendTimeout: field(ctx, root, [], 'send_timeout', (v) => checkDuration(v, '60s'), serverDefaults.sendTimeout, '60s'),
    admin: null,
  };
  config.admin = buildAdmin(ctx, root, config.listeners);
  // The rules of the proxy options themselves are the core's (route paths and overlaps, trusted
  // proxy addresses, the Via pseudonym): it reports them with paths into the options, mapped here
  // to the YAML keys, so they come with file, line and fix like every other problem.
  const core = [
    ...(routes.complete ? problemsOf(() => compileRoutes(routes.routes)) : []),
    ...problemsOf(() => compileForwarding(config.proxy.forwarding)),
  ];
  for (const p of core) {
    const at = yamlPathOf(p, routes.sources, root);
    ctx.report(at, at.length === 0 ? `${formatOptionPath(p.path)}: ${p.problem}` : p.problem, p.fix);
  }
  return config;
}
