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
import { clientHandshake, type ClientHandshake } from '../websocket/handshake.js';
import { UpgradeRequest, type UpgradeHooks } from '../websocket/upgrade.js';
import type { ClientRequest, Downstream, Exchange, Proxy } from './contract.js';
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

class ProxyImpl implements Proxy, ExchangeHost {
  readonly options: ProxyOptions;
  readonly forwarding: CompiledForwarding;
  readonly hooks: ProxyHooks;
  readonly timed: boolean;
  private readonly router: Router;
  private readonly upstreams = new Map<string, Upstream>();
  /** Each upstream's WebSocket limits (the proxy-wide ones with its own overrides), resolved once. */
  private readonly wsLimits = new Map<Upstream, UpstreamWebSocketOptions>();

  constructor(options: ProxyOptions, hooks: ProxyHooks) {
    this.options = options;
    this.hooks = hooks;
    this.timed = hooks.logging !== undefined || hooks.upstreamResponse !== undefined;
    this.forwarding = compileForwarding(options.forwarding);
    this.router = compileRoutes(options.routes);
    const ws = options.websocket ?? websocketDefaults;
    for (const u of options.upstreams) {
      const upstream = new Upstream(u);
      this.upstreams.set(u.name, upstream);
      const own = u.websocket;
      this.wsLimits.set(upstream, {
        maxMessageSize: own?.maxMessageSize ?? ws.maxMessageSize,
        handshakeTimeout: own?.handshakeTimeout ?? ws.handshakeTimeout,
        maxBuffered: own?.maxBuffered ?? ws.maxBuffered,
        upstreamCompression: own?.upstreamCompression ?? ws.upstreamCompression,
      });
    }
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
    const match = this.router.match(req.host, req.url);
    const upstream = match === null ? undefined : this.upstreams.get(match.route.upstream);
    if (upstream === undefined) return this.refuse(req, down, 404, match?.route ?? null);
    const upgrade = handshake === null ? null : new UpgradeRequest(handshake, hooks!, this.wsLimits.get(upstream)!);
    return new ProxyExchange(this, req, down, upstream, match!.route, match!.target, upgrade);
  }

  /** Answer without an upstream. */
  private refuse(req: ClientRequest, down: Downstream, status: number, route: RouteOptions | null): Exchange {
    const started = this.timed ? performance.now() : 0;
    this.errorResponse(down, status, req.method === 'HEAD');
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
        duration: performance.now() - started,
        error: null,
        aborted: false,
        retries: 0,
      };
      logging(result);
    }
    return DISCARD;
  }

  /** The proxy's own answers (404, 502, 503, 504): a short text body, or none for HEAD. */
  errorResponse(down: Downstream, status: number, bodyless: boolean): void {
    const text = STATUS_TEXT[status] ?? 'Error';
    down.respond(status, text, ERROR_HEADERS, bodyless ? null : Buffer.from(`${status} ${text}\n`), bodyless);
  }

  async close(): Promise<void> {
    for (const u of this.upstreams.values()) u.close();
  }
}

/**
 * Build a proxy from options (defaults filled in; see ProxyInit). `hooks` are the phase hooks of
 * exchange/hooks.ts: balancing, filters, failure decisions and logging.
 */
export function createProxy(init: ProxyInit, hooks: ProxyHooks = {}): Proxy {
  return new ProxyImpl(normalizeOptions(init), hooks);
}
