/**
 * TLS helpers for the tls-* suites: a bounded handshake probe (which certificate, which protocol,
 * or why it failed), an https request with SNI and a CA, an https origin that counts its TCP
 * connections and TLS sessions, and starting the CLI from a YAML text.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import https from 'node:https';
import type net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import tls from 'node:tls';
import type { Test } from 'tap';
import { type Cli, startCli } from './cli.js';
import { type HeaderList, headerValues } from './http1.js';
import { echoHandler, pairs, seenRequest, type OriginHandler, type SeenRequest } from './origins.js';
import { listenLoopback } from './util.js';

export interface HandshakeOptions {
  port: number;
  /** SNI name; undefined sends none. */
  servername?: string;
  ca?: string;
  minVersion?: tls.SecureVersion;
  maxVersion?: tls.SecureVersion;
  timeout?: number;
}

export type Handshake =
  | { ok: true; protocol: string; fingerprint: string; subjectAltName: string; socket: tls.TLSSocket }
  | { ok: false; code: string; message: string };

/**
 * Connect and finish a TLS handshake (certificate not verified unless `ca` is given). The socket
 * of a successful handshake is left open for the caller (destroyed in t.teardown).
 */
export function handshake(t: Test, o: HandshakeOptions): Promise<Handshake> {
  return new Promise((resolve) => {
    const old = o.maxVersion === 'TLSv1.1' || o.maxVersion === 'TLSv1';
    const socket = tls.connect({
      host: '127.0.0.1',
      port: o.port,
      ...(o.servername !== undefined ? { servername: o.servername } : { servername: '' }),
      ...(o.ca ? { ca: o.ca, rejectUnauthorized: true, checkServerIdentity: () => undefined } : { rejectUnauthorized: false }),
      ...(o.minVersion ? { minVersion: o.minVersion } : old ? { minVersion: 'TLSv1' as const } : {}),
      ...(o.maxVersion ? { maxVersion: o.maxVersion } : {}),
      // OpenSSL 3 offers TLS 1.0/1.1 only at security level 0.
      ...(old ? { ciphers: 'DEFAULT:@SECLEVEL=0' } : {}),
    });
    t.teardown(() => socket.destroy());
    const timer = setTimeout(() => {
      socket.destroy();
      resolve({ ok: false, code: 'TIMEOUT', message: `no handshake within ${o.timeout ?? 5000} ms` });
    }, o.timeout ?? 5000);
    socket.once('secureConnect', () => {
      clearTimeout(timer);
      const peer = socket.getPeerCertificate();
      resolve({ ok: true, protocol: socket.getProtocol() ?? '', fingerprint: peer.fingerprint256, subjectAltName: peer.subjectaltname ?? '', socket });
    });
    socket.once('error', (err: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      resolve({ ok: false, code: err.code ?? '', message: err.message });
    });
  });
}

export interface HttpsResponse {
  status: number;
  headers: HeaderList;
  body: Buffer;
  header(name: string): string[];
  json<T = unknown>(): T;
  fingerprint: string;
}

export interface HttpsRequest {
  port: number;
  path?: string;
  method?: string;
  servername?: string;
  /** Host header; default the servername (or 127.0.0.1), with the port. */
  host?: string;
  ca?: string;
  headers?: Record<string, string>;
  agent?: https.Agent | false;
  timeout?: number;
}

/** One https request to 127.0.0.1:port with SNI `servername`, bounded in time. */
export function httpsRequest(r: HttpsRequest): Promise<HttpsResponse> {
  const timeout = r.timeout ?? 10_000;
  return new Promise((resolve, reject) => {
    const req = https.request({
      host: '127.0.0.1',
      port: r.port,
      method: r.method ?? 'GET',
      path: r.path ?? '/',
      servername: r.servername ?? '',
      headers: { host: r.host ?? `${r.servername ?? '127.0.0.1'}:${r.port}`, ...r.headers },
      agent: r.agent ?? false,
      ...(r.ca ? { ca: r.ca } : { rejectUnauthorized: false }),
    });
    const timer = setTimeout(() => req.destroy(new Error(`https ${r.path ?? '/'} timed out after ${timeout} ms`)), timeout);
    req.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    req.on('response', (res) => {
      const chunks: Buffer[] = [];
      const fingerprint = (res.socket as tls.TLSSocket).getPeerCertificate?.().fingerprint256 ?? '';
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('error', (e) => {
        clearTimeout(timer);
        reject(e);
      });
      res.on('end', () => {
        clearTimeout(timer);
        const headers = pairs(res.rawHeaders);
        const body = Buffer.concat(chunks);
        resolve({
          status: res.statusCode ?? 0,
          headers,
          body,
          header: (n) => headerValues(headers, n),
          json: <T>() => JSON.parse(body.toString('utf8')) as T,
          fingerprint,
        });
      });
    });
    req.end();
  });
}

export interface HttpsOrigin {
  port: number;
  server: https.Server;
  /** TCP connections accepted. */
  readonly connections: number;
  /** TLS handshakes completed (new sessions and resumptions). */
  readonly handshakes: number;
  /** Handshakes where the client presented a certificate (its subject CN). */
  clientCertificates: string[];
  requests: SeenRequest[];
  close(): Promise<void>;
}

export interface HttpsOriginOptions {
  cert: string;
  key: string;
  /** Require and check client certificates signed by this CA (mTLS). */
  clientCa?: string;
  handler?: OriginHandler;
}

/** An https origin (node:https) on 127.0.0.1:0, closed in t.teardown. */
export async function startHttpsOrigin(t: Test, o: HttpsOriginOptions): Promise<HttpsOrigin> {
  let connections = 0;
  let handshakes = 0;
  const clientCertificates: string[] = [];
  const requests: SeenRequest[] = [];
  const connIds = new WeakMap<object, number>();
  const handler = o.handler ?? echoHandler;
  const server = https.createServer(
    { cert: o.cert, key: o.key, ...(o.clientCa ? { ca: o.clientCa, requestCert: true, rejectUnauthorized: true } : {}) },
    (req, res) => {
      const seen = seenRequest(req, connIds);
      requests.push(seen);
      handler(req, res, seen);
    },
  );
  server.keepAliveTimeout = 30_000;
  server.on('connection', (s: net.Socket) => {
    connections++;
  });
  server.on('secureConnection', (s: tls.TLSSocket) => {
    handshakes++;
    connIds.set(s, handshakes);
    const peer = s.getPeerCertificate();
    if (peer && peer.subject) clientCertificates.push(String(peer.subject.CN));
  });
  server.on('tlsClientError', () => {
    // A refused client (no certificate, bad one): counted as a connection only.
  });
  const { port, close } = await listenLoopback(t, server);
  return {
    port,
    server,
    get connections() {
      return connections;
    },
    get handshakes() {
      return handshakes;
    },
    clientCertificates,
    requests,
    close,
  };
}

/** A temp directory removed at the end of the test. */
export function tempDir(t: Test, prefix = 'portcullis-tls-'): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** Write `yaml` to a temp file and start the CLI on it; `port` is one of the ports it listens on. */
export async function startCliWithConfig(t: Test, yaml: string, port: number, extraArgs: string[] = []): Promise<Cli & { configPath: string }> {
  const dir = tempDir(t, 'portcullis-config-');
  const configPath = join(dir, 'portcullis.yaml');
  writeFileSync(configPath, yaml);
  const cli = await startCli(t, ['--config', configPath, ...extraArgs], { port });
  return Object.assign(cli, { configPath });
}
