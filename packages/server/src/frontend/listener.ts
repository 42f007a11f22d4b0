/**
 * One configured listener → one uWS app with its handlers mounted. Plain listeners today; TLS
 * (SSLApp, SNI), redirects and WebSockets hang off this one place.
 */
import type { Proxy } from '@portcullis/core';
import type { TemplatedApp, us_listen_socket } from 'uWebSockets.js';
import type { ListenerConfig } from '../config/index.js';
import type { Logger } from '../log.js';
import { mountHttp } from './http.js';
import type { Uws } from './uws.js';
import { mountWebSocket } from './websocket.js';

export interface Listening {
  config: ListenerConfig;
  app: TemplatedApp;
  socket: us_listen_socket;
}

export async function listen(uws: Uws, config: ListenerConfig, proxy: Proxy, log: Logger): Promise<Listening> {
  const app = uws.App();
  mountHttp(app, proxy, {
    scheme: 'http',
    onError: (err) => log.error({ err }, 'request handler failed'),
  });
  mountWebSocket(app, proxy, {
    scheme: 'http',
    onError: (err) => log.error({ err }, 'websocket handler failed'),
  });
  const socket = await new Promise<us_listen_socket | false>((resolve) => app.listen(config.host, config.port, resolve));
  if (socket === false) throw new Error(`cannot listen on ${config.host}:${config.port} (address in use or not available)`);
  return { config, app, socket };
}

/** Stop accepting new connections; open ones carry on. */
export function stopAccepting(uws: Uws, l: Listening): void {
  uws.us_listen_socket_close(l.socket);
}

/** Close every connection still open (the 20.30 typings lack app.close, the binary has it). */
export function closeAll(l: Listening): void {
  (l.app as TemplatedApp & { close(): void }).close();
}
