/**
 * The proxy: options compiled once by createProxy(), then per request the route phase, which
 * either answers itself (no route: 404) or starts an exchange (exchange.ts) on the upstream the
 * route names. handle() is the hot path.
 */
import { normalizeOptions, type ProxyInit } from '../config/normalize.js';
import { websocketDefaults, type ProxyOptions, type RouteOptions, type UpstreamWebSocketOptions } from '../config/options.js';
import { clientAddress, compileForwarding, type CompiledForwarding } from '../headers/forwarded.js';
import { compileRoutes, type Router } from '../routing/router.js';
import { Upstream } from '../upstream/balancer.js';
import type { EjectionListener } from '../upstream/passive-health.js';
import type { Pool } from '../upstream/pool.js';
import { clock } from '../clock.js';
import { clientHandshake, type ClientHandshake } from '../websocket/handshake.js';
import { UpgradeRequest, type UpgradeHooks } from '../websocket/upgrade.js';
import type { ClientRequest, Downstream, Exchange, Proxy, ReloadSummary } from './contract.js';
import { ProxyExchange, type ExchangeHost } from './exchange.js';
import type { ExchangeResult, ProxyHooks } from './hooks.js';

const STATUS_TEXT: Record<number, string> = {
  400: 'Bad Request',
  404: 'Not Found',
  502: 'Bad Gateway',
  503: 'Service Unavailable',
  504: 'Gateway Timeout',
};

const ERROR_HEADERS = ['content-type', 'text/plain; charset=utf-8'];

/** What the frontend feeds after the proxy answered by itself: whatever the client still sends is ignored. */
const DISCARD: Exchange = {
  body() {},
  writable() {},
  abort() {},
};

/**
 * What one configuration compiles to. A reload builds a new one and swaps it in between two
 * requests: a request keeps the upstream (and pools) it started with to its end.
 */
interface Generation {
  readonly options: ProxyOptions;
  readonly forwarding: CompiledForwarding;
  readonly router: Router;
  readonly byName: Map<string, Upstream>;
  readonly upstreams: readonly Upstream[];
  /** Each upstream's WebSocket limits (the proxy-wide ones with its own overrides), resolved once. */
  readonly wsLimits: Map<Upstream, UpstreamWebSocketOptions>;
}

class ProxyImpl implements Proxy, ExchangeHost {
  readonly hooks: ProxyHooks;
  readonly timed: boolean;
  private gen: Generation;

  constructor(options: ProxyOptions, hooks: ProxyHooks) {
    this.hooks = hooks;
    this.timed = hooks.logging !== undefined || hooks.upstreamResponse !== undefined;
    this.gen = this.compile(options, null);
  }

  get options(): ProxyOptions {
    return this.gen.options;
  }

  get forwarding(): CompiledForwarding {
    return this.gen.forwarding;
  }

  get upstreams(): readonly Upstream[] {
    return this.gen.upstreams;
  }

  /** Compile `options`; with `previous`, keep its pools (and their health) where a server did not change. */
  private compile(options: ProxyOptions, previous: Generation | null): Generation {
    const forwarding = compileForwarding(options.forwarding);
    const router = compileRoutes(options.routes);
    const ws = options.websocket ?? websocketDefaults;
    const clientOf = (req: ClientRequest): string => clientAddress(req.remoteAddress, req.headers, forwarding);
    const byName = new Map<string, Upstream>();
    const wsLimits = new Map<Upstream, UpstreamWebSocketOptions>();
    const list: Upstream[] = [];
    for (const u of options.upstreams) {
      const before = previous?.byName.get(u.name);
      const upstream: Upstream = new Upstream(u, clientOf, this.ejectionListener((): Upstream => upstream), before);
      byName.set(u.name, upstream);
      list.push(upstream);
      const own = u.websocket;
      wsLimits.set(upstream, {
        maxMessageSize: own?.maxMessageSize ?? ws.maxMessageSize,
        handshakeTimeout: own?.handshakeTimeout ?? ws.handshakeTimeout,
        maxBuffered: own?.maxBuffered ?? ws.maxBuffered,
        upstreamCompression: own?.upstreamCompression ?? ws.upstreamCompression,
      });
    }
    return { options, forwarding, router, byName, upstreams: list, wsLimits };
  }

  reload(init: ProxyInit): ReloadSummary {
    const options = normalizeOptions(init);
    const old = this.gen;
    const next = this.compile(options, old);
    this.gen = next;
    // Pools the new configuration took over stay; the others drain: idle sockets close now,
    // busy ones after their response. Requests in flight keep the upstream they started with.
    const kept = new Set<Pool>();
    for (const u of next.upstreams) for (const p of u.servers) kept.add(p);
    let drained = 0;
    for (const u of old.upstreams) drained += u.retire(kept);
    return { upstreams: next.upstreams.length, serversKept: kept.size - next.upstreams.reduce((n, u) => n + u.created, 0), serversDrained: drained };
  }

  /** Passive health's events, to the `health` hook. */
  private ejectionListener(upstream: () => Upstream): EjectionListener {
    const hook = this.hooks.health;
    return {
      ejected(server: Pool, until: number, failures: number, reason: string) {
        hook?.(upstream(), server, { kind: 'ejected', until, failures, reason });
      },
      returned(server: Pool) {
        hook?.(upstream(), server, { kind: 'returned' });
      },
    };
  }

  private server(upstream: string, index: number): { upstream: Upstream; pool: Pool } | null {
    const u = this.gen.byName.get(upstream);
    const pool = u?.servers[index];
    return u === undefined || pool === undefined ? null : { upstream: u, pool };
  }

  setServerHealth(upstream: string, index: number, healthy: boolean): boolean {
    const found = this.server(upstream, index);
    if (found === null) return false;
    found.pool.setChecksPass(healthy);
    this.hooks.health?.(found.upstream, found.pool, { kind: healthy ? 'healthy' : 'unhealthy' });
    return true;
  }

  ejectServer(upstream: string, index: number, until: number): boolean {
    const found = this.server(upstream, index);
    if (found === null || !found.upstream.passive.enabled || until <= Date.now()) return false;
    return found.upstream.passive.eject(found.pool, clock.now, until) !== 0;
  }

  handle(req: ClientRequest, down: Downstream): Exchange {
    return this.route(req, down, null, null);
  }

  upgrade(req: ClientRequest, down: Downstream, hooks: UpgradeHooks): Exchange {
    const handshake = clientHandshake(req.method, req.headers);
    return handshake === null ? this.route(req, down, null, null) : this.route(req, down, handshake, hooks);
  }

  /** route: the upstream that serves this request, and the target it is sent with. */
  private route(req: ClientRequest, down: Downstream, handshake: ClientHandshake | null, hooks: UpgradeHooks | null): Exchange {
    const gen = this.gen;
    const match = gen.router.match(req.host, req.url);
    const upstream = match === null ? undefined : gen.byName.get(match.route.upstream);
    if (upstream === undefined) return this.refuse(req, down, 404, match?.route ?? null);
    const upgrade = handshake === null ? null : new UpgradeRequest(handshake, hooks!, gen.wsLimits.get(upstream)!);
    return new ProxyExchange(this, req, down, upstream, match!.route, match!.target, upgrade);
  }

  /** Answer without an upstream. */
  private refuse(req: ClientRequest, down: Downstream, status: number, route: RouteOptions | null): Exchange {
    const started = this.timed ? performance.now() : 0;
    this.errorResponse(down, status, req.method === 'HEAD');
    this.report(req, status, route, started);
    return DISCARD;
  }

  refused(req: ClientRequest, status: number): void {
    this.report(req, status, null, this.timed ? performance.now() : 0);
  }

  /** `logging` for an answer the proxy or the frontend gave by itself. */
  private report(req: ClientRequest, status: number, route: RouteOptions | null, started: number): void {
    const logging = this.hooks.logging;
    if (logging !== undefined) {
      const forwarding = this.forwarding;
      const result: ExchangeResult = {
        request: req,
        get client() {
          return clientAddress(req.remoteAddress, req.headers, forwarding);
        },
        status,
        bytes: 0,
        route,
        upstream: null,
        upstreamInfo: null,
        server: null,
        requestBytes: 0,
        duration: performance.now() - started,
        error: null,
        aborted: false,
        retries: 0,
      };
      logging(result);
    }
  }

  /** The proxy's own answers (404, 502, 503, 504): a short text body, or none for HEAD. */
  errorResponse(down: Downstream, status: number, bodyless: boolean, detail?: string): void {
    const text = STATUS_TEXT[status] ?? 'Error';
    const body = bodyless ? null : Buffer.from(detail === undefined ? `${status} ${text}\n` : `${status} ${text}: ${detail}\n`);
    down.respond(status, text, ERROR_HEADERS, body, bodyless);
  }

  async close(): Promise<void> {
    for (const u of this.gen.upstreams) u.close();
  }
}

/**
 * Build a proxy from options (defaults filled in; see ProxyInit). `hooks` are the phase hooks of
 * exchange/hooks.ts: balancing, filters, failure decisions and logging.
 */
export function createProxy(init: ProxyInit, hooks: ProxyHooks = {}): Proxy {
  return new ProxyImpl(normalizeOptions(init), hooks);
}
