export * from './config/options.js';
export { createProxy } from './exchange/proxy.js';
export type { ExchangeResult, HealthChange, ProxyErrorInfo, ProxyHooks, UpstreamResponseInfo } from './exchange/hooks.js';
export type { HealthState, ServerInfo, ServerStats, UpstreamInfo } from './upstream/info.js';
export { Histogram, LATENCY_BUCKETS } from './stats/histogram.js';
export { normalizeOptions, type ProxyInit, type UpstreamInit } from './config/normalize.js';
export type { ClientRequest, Downstream, Exchange, Proxy } from './exchange/contract.js';
export { nodeHttpHandler, type NodeHandlerOptions } from './node/http.js';
export { UpstreamError, FailureKind, FAILURE_KINDS, statusFor } from './upstream/errors.js';
export { compileCidrs, normalizeAddress, type AddressMatcher } from './headers/cidr.js';
export { compileForwarding, clientAddress, type CompiledForwarding } from './headers/forwarded.js';
export { compileRoutes, type Router } from './routing/router.js';
export { checkRouteHost } from './routing/router.js';
export { ProxyConfigError, formatOptionPath, formatProblem, problemsOf, type CheckResult, type ConfigProblem, type OptionPath } from './config/problems.js';
export { isHopByHop } from './headers/hop-by-hop.js';
export { serializeRequestHead, type RequestHeadInput } from './http1/request-head.js';
export { filterResponseHeaders } from './headers/response-headers.js';
export { nodeUpgradeHandler } from './node/upgrade.js';
export { UpstreamWebSocket, type UpstreamSink, type UpstreamLegOptions } from './websocket/upstream.js';
export type { UpgradeHooks, UpstreamSwitch } from './websocket/upgrade.js';
export { acceptFor, clientHandshake, type ClientHandshake } from './websocket/handshake.js';
export { maskImplementation } from './websocket/frame.js';
export { formatHostPort } from './headers/host.js';
export { checkHost, checkHead, HeadMeter, REFUSE_FRAMING, REFUSE_TARGET, type HeadMeasure, type HeadRefusal } from './headers/host.js';
export {
  ActiveHealthChecks,
  statusPasses,
  type HealthChange as ActiveHealthChange,
  type HealthChangeListener,
  type ServerHealthSnapshot,
  type UpstreamHealthSnapshot,
} from './health/active-checks.js';
export { nodeHttp2StreamHandler, type Http2HandlerOptions } from './node/http2.js';
export { prematureResetDefaults, type PrematureResetLimits } from './node/h2-guard.js';
export { h2ClientRequest } from './node/h2-request.js';
export { h2ResponseHeaders } from './node/h2-response.js';
