/**
 * A TLS listener with `http2`: HTTP/2 and HTTP/1.1 on one port, chosen by ALPN, served by Node
 * (uWS 20.30 has no ALPN, so no HTTP/2). One `tls.Server` takes the handshakes; a connection that
 * agreed on `h2` goes to a node:http2 server, any other to a node:http server, each with the core's
 * adapter for it: the same proxy, routes, upstreams, HSTS, access log and metrics as a uWS
 * listener. HTTP/1.1 clients upgrade to WebSockets as usual (a byte tunnel); HTTP/2 clients use
 * extended CONNECT (RFC 8441).
 *
 * The port is shared by the workers through one socket the supervisor bound (Node 20 has no
 * SO_REUSEPORT): each worker listens on its copy and the kernel hands each new connection to one of
 * them. A certificate reload swaps the secure contexts in place: new handshakes get the new
 * certificates, open connections keep theirs.
 */
import http from 'node:http';
import http2, { type ServerHttp2Session, type ServerHttp2Stream } from 'node:http2';
import type net from 'node:net';
import tls from 'node:tls';
import { nodeHttp2StreamHandler, nodeHttpHandler, nodeUpgradeHandler, type Proxy } from '@portcullis/core';
import { tlsDefaults, type Http2Config, type ListenerConfig } from '../config/index.js';
import type { Logger } from '../log.js';
import { nameCovers, type LoadedCertificate } from '../tls/certificates.js';
import { isDraining, onDraining } from './downstream.js';
import { IdleConnections } from './h2-idle.js';
import { http2Counters } from '../metrics/http2-metrics.js';

/** What the supervisor hands a worker to listen on (a bound TCP handle). */
export type SharedHandle = object;

interface Contexts {
  fallback: tls.SecureContext;
  /** Exact names, then wildcards, each with its context. */
  byName: Array<[string, tls.SecureContext]>;
}

/** The TLS settings of one certificate of the listener (TLS 1.2 ciphers only when 1.2 is offered). */
function contextOptions(config: ListenerConfig, c: LoadedCertificate): tls.SecureContextOptions {
  const t = config.tls!;
  return { cert: c.cert, key: c.key, minVersion: t.minVersion, ...(t.minVersion === 'TLSv1.3' ? {} : { ciphers: t.ciphers ?? tlsDefaults.ciphers }) };
}

function contextsFor(config: ListenerConfig, certificates: readonly LoadedCertificate[]): Contexts {
  const t = config.tls!;
  const contexts = certificates.map((c) => tls.createSecureContext(contextOptions(config, c)));
  // Names are claimed by the first certificate listing them (the config refuses overlaps).
  const byName: Array<[string, tls.SecureContext]> = [];
  const seen = new Set<string>();
  certificates.forEach((c, i) => {
    for (const name of c.names) {
      if (seen.has(name)) continue;
      seen.add(name);
      byName.push([name, contexts[i]!]);
    }
  });
  // Exact names win over wildcards, as browsers and uWS match.
  byName.sort((a, b) => Number(a[0].startsWith('*.')) - Number(b[0].startsWith('*.')));
  return { fallback: contexts[t.defaultCertificate]!, byName };
}

export class H2Listener {
  private readonly server: tls.Server;
  private readonly h2: http2.Http2Server;
  private readonly h1: http.Server;
  private contexts: Contexts;
  private readonly sockets = new Set<net.Socket>();
  private readonly sessions = new Set<ServerHttp2Session>();
  private draining = false;

  constructor(
    readonly config: ListenerConfig,
    proxy: Proxy,
    private readonly log: Logger,
    certificates: readonly LoadedCertificate[],
    private readonly where: string,
    extraHeaders: readonly string[],
  ) {
    const h2c: Http2Config = config.http2!;
    this.contexts = contextsFor(config, certificates);
    this.server = tls.createServer({
      ALPNProtocols: ['h2', 'http/1.1'],
      // The default certificate, for clients without SNI or with a name no certificate claims.
      ...contextOptions(config, certificates[config.tls!.defaultCertificate]!),
      SNICallback: (name, cb) => cb(null, this.contextFor(name)),
    });
    this.h2 = http2.createServer({
      settings: {
        maxConcurrentStreams: h2c.maxConcurrentStreams,
        initialWindowSize: h2c.initialWindowSize,
        maxHeaderListSize: h2c.maxHeaderListSize,
        enableConnectProtocol: true,
      },
      maxHeaderListPairs: 2 + Math.max(128, (proxy.options.limits?.maxHeaders ?? 100) + 8),
    });
    const onAbuse = (client: string, reason: string): void => {
      http2Counters.prematureResets++;
      this.log.warn({ listener: this.where, client, reason }, 'HTTP/2 connection closed: abuse');
    };
    const stream = nodeHttp2StreamHandler(proxy, { extraHeaders, prematureResets: h2c.prematureResets, onAbuse });
    const idle = new IdleConnections(h2c.idleTimeout);
    this.h2.on('stream', (s: ServerHttp2Stream, headers: unknown, flags: number, raw: string[]) => {
      idle.stream(s);
      stream(s, headers, flags, raw);
      // Draining: this stream is served, then the connection ends (GOAWAY names it the last).
      if (this.draining) s.session?.close();
    });
    this.h2.on('session', (session: ServerHttp2Session) => {
      this.sessions.add(session);
      http2Counters.opened++;
      session.on('close', () => {
        http2Counters.closed++;
        this.sessions.delete(session);
      });
      session.on('error', () => {});
      idle.session(session);
    });
    this.h2.on('sessionError', () => {});
    const h1 = nodeHttpHandler(proxy, { extraHeaders });
    this.h1 = http.createServer({ keepAliveTimeout: h2c.idleTimeout, requestTimeout: 0 }, (req, res) => {
      // Draining: this response says Connection: close (uWS listeners do the same).
      if (isDraining()) res.shouldKeepAlive = false;
      h1(req, res);
    });
    this.h1.on('upgrade', nodeUpgradeHandler(proxy, { extraHeaders }));
    this.h1.on('clientError', (_err, socket) => socket.destroy());
    this.server.on('secureConnection', (socket: tls.TLSSocket) => {
      this.sockets.add(socket);
      socket.on('close', () => this.sockets.delete(socket));
      if (socket.alpnProtocol === 'h2') this.h2.emit('connection', socket);
      else this.h1.emit('connection', socket);
    });
    // Failed handshakes (a client that does not trust the certificate): nothing to tell.
    this.server.on('tlsClientError', () => {});
    onDraining(() => this.startDraining());
  }

  private contextFor(name: string): tls.SecureContext {
    const lower = name.toLowerCase();
    for (const [n, ctx] of this.contexts.byName) if (nameCovers(n, lower)) return ctx;
    return this.contexts.fallback;
  }

  /** Listen on the supervisor's shared socket. */
  listen(handle: SharedHandle): Promise<void> {
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(handle as net.Server, () => {
        this.server.off('error', reject);
        this.server.on('error', (err) => this.log.error({ listener: this.where, err: err.message }, 'listener error'));
        resolve();
      });
    });
  }

  /** New handshakes get `certificates`; open connections keep theirs. */
  reloadCertificates(certificates: readonly LoadedCertificate[]): void {
    const contexts = contextsFor(this.config, certificates);
    this.server.setSecureContext(contextOptions(this.config, certificates[this.config.tls!.defaultCertificate]!));
    this.contexts = contexts;
  }

  /** Graceful stop begins: every HTTP/2 connection is told GOAWAY; HTTP/1.1 answers say close. */
  startDraining(): void {
    if (this.draining) return;
    this.draining = true;
    for (const s of this.sessions) s.close();
  }

  stopAccepting(): void {
    this.server.close();
  }

  /** Close every connection still open. */
  closeAll(): void {
    for (const s of this.sessions) s.destroy();
    for (const socket of this.sockets) socket.destroy();
  }
}
