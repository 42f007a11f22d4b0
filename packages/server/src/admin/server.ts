/**
 * The admin endpoint: a small node:http server in the supervisor, so that it answers while
 * workers restart and while they are busy. It starts before the workers (GET /ready says 503
 * until they all listen) and closes after they stopped.
 *
 *   GET /live     200 while the supervisor runs
 *   GET /ready    200 when every worker listens and no graceful stop has begun, else 503
 *   GET /metrics  Prometheus text, summed over the workers
 *   GET /status   JSON: workers, upstreams and servers, certificates
 *
 * With `admin.token_file`, every request but GET /live and /ready needs `Authorization: Bearer <token>`
 * (401 otherwise): the probes say only up and ready, and a probe should need no secret.
 * Unknown paths get 404, other methods 405 (HEAD is served as GET).
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { formatHostPort } from '@portcullis/core';
import type { AdminConfig } from '../config/types.js';
import type { Logger } from '../log.js';

export interface AdminResponse {
  status: number;
  contentType: string;
  body: string;
}

export type AdminHandler = () => AdminResponse | Promise<AdminResponse>;

/** Path → method → handler. GET handlers serve HEAD too. */
export type AdminRoutes = Record<string, Partial<Record<'GET' | 'POST', AdminHandler>>>;

export interface AdminServer {
  readonly port: number;
  close(): Promise<void>;
}

const digest = (s: string): Buffer => createHash('sha256').update(s).digest();

/** Whether `header` carries the bearer token; compared in constant time (of equal-length digests). */
export function bearerMatches(header: string | undefined, expected: Buffer): boolean {
  if (header === undefined) return false;
  const m = /^Bearer +(\S+) *$/i.exec(header);
  if (m === null) return false;
  return timingSafeEqual(digest(m[1]!), expected);
}

export const text = (status: number, body: string): AdminResponse => ({ status, contentType: 'text/plain; charset=utf-8', body });
export const json = (status: number, value: unknown): AdminResponse => ({ status, contentType: 'application/json; charset=utf-8', body: JSON.stringify(value, null, 2) + '\n' });

function send(req: http.IncomingMessage, res: http.ServerResponse, r: AdminResponse, extra: Record<string, string> = {}): void {
  res.writeHead(r.status, { 'content-type': r.contentType, 'cache-control': 'no-store', ...extra });
  // node:http sends no body for HEAD.
  res.end(req.method === 'HEAD' ? undefined : r.body);
}

/** Listen on `config.host:port` and serve `routes`. Rejects when the address cannot be bound. */
export async function startAdminServer(config: AdminConfig, routes: AdminRoutes, log: Logger): Promise<AdminServer> {
  const token = config.token === null ? null : digest(config.token);
  const server = http.createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0]!;
    // The probes say only "up" and "ready": open, so that Kubernetes' httpGet probes and load
    // balancers' health checks need no secret in their configuration. Everything else is guarded.
    const probe = (path === '/live' || path === '/ready') && (req.method === 'GET' || req.method === 'HEAD');
    if (token !== null && !probe && !bearerMatches(req.headers.authorization, token)) {
      const challenge = req.headers.authorization === undefined ? 'Bearer realm="portcullis"' : 'Bearer realm="portcullis", error="invalid_token"';
      send(req, res, text(401, 'unauthorized: send Authorization: Bearer <token>\n'), { 'www-authenticate': challenge });
      return;
    }
    const route = Object.hasOwn(routes, path) ? routes[path]! : undefined;
    if (route === undefined) {
      send(req, res, text(404, `not found: ${Object.keys(routes).join(', ')}\n`));
      return;
    }
    const method = req.method === 'HEAD' ? 'GET' : req.method;
    const handler = method === 'GET' || method === 'POST' ? route[method] : undefined;
    if (handler === undefined) {
      const allow = Object.keys(route).flatMap((m) => (m === 'GET' ? ['GET', 'HEAD'] : [m])).join(', ');
      send(req, res, text(405, `method not allowed: ${allow}\n`), { allow });
      return;
    }
    // A request body is not used by any endpoint: read and drop it.
    req.resume();
    Promise.resolve()
      .then(handler)
      .then(
        (r) => send(req, res, r),
        (err: unknown) => {
          log.error({ err: err instanceof Error ? err.message : String(err), path }, 'admin endpoint failed');
          if (!res.headersSent) send(req, res, text(500, 'internal error\n'));
          else res.destroy();
        },
      );
  });
  server.on('clientError', (_err, socket) => socket.destroy());
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(config.port, config.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  server.on('error', (err) => log.error({ err: err.message }, 'admin endpoint error'));
  const port = (server.address() as AddressInfo).port;
  log.info({ admin: formatHostPort(config.host, port), token: token !== null }, 'admin endpoint listening');
  return {
    port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
