/**
 * One configured listener → one uWS app with its handlers mounted: plain HTTP, TLS (SSLApp with
 * SNI, HSTS, X-Forwarded-Proto https), or a plain listener that only redirects to https.
 *
 * Every handler is mounted in mountHandlers(), which runs once per router: a TLS app has one
 * router for its default certificate and one per SNI name (see tls-app.ts). Mount new handlers
 * (WebSockets) there, never on the app directly.
 *
 * A certificate reload builds a new app with the new certificates and listens on the same port
 * (uWS listens with SO_REUSEPORT), then closes the old app's listen socket: new handshakes get the
 * new certificates, connections already open stay on the old app until they end.
 */
import { formatHostPort, type Proxy } from '@portcullis/core';
import type { TemplatedApp, us_listen_socket } from 'uWebSockets.js';
import type { ListenerConfig } from '../config/index.js';
import type { Logger } from '../log.js';
import type { LoadedCertificate } from '../tls/certificates.js';
import { H2Listener, type SharedHandle } from './h2-listener.js';
import { mountHttp } from './http.js';
import { mountRedirect } from './redirect.js';
import { createTlsApp, hstsValue } from './tls-app.js';
import type { Uws } from './uws.js';
import { mountWebSocket } from './websocket.js';

export interface Listening {
  config: ListenerConfig;
  /** A uWS listener: the app accepting new connections, its listen socket, and apps replaced by a certificate reload (no longer accepting, still serving their connections). */
  uws: { app: TemplatedApp; socket: us_listen_socket; retired: TemplatedApp[] } | null;
  /** A listener with `http2`, served by Node (h2-listener.ts). */
  h2: H2Listener | null;
  /** Digests of the certificates the accepting app serves (TLS listeners): unchanged ones are not reloaded. */
  digests: string[];
  proxy: Proxy;
  log: Logger;
}

/** `host:port` as written in logs. */
export function addressOf(config: ListenerConfig): string {
  return formatHostPort(config.host, config.port);
}

/** The headers every response of a listener carries (HSTS on TLS listeners). */
function extraHeadersOf(config: ListenerConfig): string[] {
  const hsts = config.tls?.hsts;
  return hsts ? ['strict-transport-security', hstsValue(hsts)] : [];
}

/** Every handler a listener serves, on one router of `app`. */
function mountHandlers(app: TemplatedApp, config: ListenerConfig, proxy: Proxy, log: Logger): void {
  const onError = (err: unknown): void => log.error({ err, listener: addressOf(config) }, 'request handler failed');
  if (config.redirectHttps) {
    mountRedirect(app, config.redirectHttps, onError);
    return;
  }
  const frontend = { scheme: config.tls ? ('https' as const) : ('http' as const), extraHeaders: extraHeadersOf(config), onError };
  mountHttp(app, proxy, frontend);
  mountWebSocket(app, proxy, frontend);
}

function createApp(uws: Uws, config: ListenerConfig, proxy: Proxy, log: Logger, certificates: readonly LoadedCertificate[] | undefined): TemplatedApp {
  if (!config.tls) {
    const app = uws.App();
    mountHandlers(app, config, proxy, log);
    return app;
  }
  if (!certificates || certificates.length !== config.tls.certificates.length) {
    throw new Error(`listener ${addressOf(config)}: its certificates were not loaded`);
  }
  return createTlsApp(uws, config.tls, certificates, (app) => mountHandlers(app, config, proxy, log)).app;
}

function listenOn(app: TemplatedApp, config: ListenerConfig): Promise<us_listen_socket | false> {
  return new Promise((resolve) => app.listen(config.host, config.port, resolve));
}

/**
 * Start serving `config`. A listener with `http2` listens on `shared`, the socket the supervisor
 * bound for it.
 */
export async function listen(
  uws: Uws,
  config: ListenerConfig,
  proxy: Proxy,
  log: Logger,
  certificates?: readonly LoadedCertificate[],
  shared?: SharedHandle,
): Promise<Listening> {
  const digests = certificates?.map((c) => c.digest) ?? [];
  if (config.http2) {
    if (!certificates || !shared) throw new Error(`listener ${addressOf(config)}: its certificates or its shared socket did not arrive`);
    const h2 = new H2Listener(config, proxy, log, certificates, addressOf(config), extraHeadersOf(config));
    await h2.listen(shared);
    return { config, uws: null, h2, digests, proxy, log };
  }
  const app = createApp(uws, config, proxy, log, certificates);
  const socket = await listenOn(app, config);
  if (socket === false) throw new Error(`cannot listen on ${addressOf(config)} (address in use or not available)`);
  return { config, uws: { app, socket, retired: [] }, h2: null, digests, proxy, log };
}

/**
 * Serve new handshakes with `certificates`: a new app on the same port takes over from the current
 * one, whose open connections are left alone. On any failure the current app keeps serving.
 * @throws Error saying why the new certificates could not be put in place.
 */
export async function reloadCertificates(uws: Uws, l: Listening, certificates: readonly LoadedCertificate[]): Promise<void> {
  if (!l.config.tls) return;
  if (l.h2) {
    l.h2.reloadCertificates(certificates);
    l.digests = certificates.map((c) => c.digest);
    return;
  }
  const u = l.uws!;
  const app = createApp(uws, l.config, l.proxy, l.log, certificates);
  const socket = await listenOn(app, l.config);
  if (socket === false) {
    (app as TemplatedApp & { close(): void }).close();
    throw new Error(`cannot listen on ${addressOf(l.config)} a second time for the new certificates (SO_REUSEPORT refused)`);
  }
  uws.us_listen_socket_close(u.socket);
  u.retired.push(u.app);
  u.app = app;
  u.socket = socket;
  l.digests = certificates.map((c) => c.digest);
}

/** Stop accepting new connections; open ones carry on. */
export function stopAccepting(uws: Uws, l: Listening): void {
  if (l.h2) l.h2.stopAccepting();
  else uws.us_listen_socket_close(l.uws!.socket);
}

/** Close every connection still open (the 20.30 typings lack app.close, the binary has it). */
export function closeAll(l: Listening): void {
  if (l.h2) return l.h2.closeAll();
  for (const app of [...l.uws!.retired, l.uws!.app]) (app as TemplatedApp & { close(): void }).close();
}
