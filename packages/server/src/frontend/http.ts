/**
 * The uWS HTTP handler: copy the request out of uWS (request.ts: its `req` dies with the handler's
 * tick), refuse what uWS 20.30 would mis-frame and what breaks the limits or the Host rules, and
 * hand the rest to the core.
 */
import { limitDefaults, type HeadRefusal, type Proxy } from '@portcullis/core';
import type { HttpRequest, HttpResponse, TemplatedApp } from 'uWebSockets.js';
import { UwsDownstream } from './downstream.js';
import { copyRequest, type UwsRequest } from './request.js';
import { statusLine } from './status.js';

export interface HttpFrontendOptions {
  scheme: 'http' | 'https';
  /** Header pairs added to every response (HSTS on TLS listeners). */
  extraHeaders?: string[];
  /** Called when a handler threw: logged, never allowed to escape into uWS. */
  onError(err: unknown): void;
}

export function mountHttp(app: TemplatedApp, proxy: Proxy, opts: HttpFrontendOptions): void {
  const extra = opts.extraHeaders ?? [];
  const scheme = opts.scheme;
  app.any('/*', (res: HttpResponse, req: HttpRequest) => {
    try {
      // Read per request: a reload may change the limits.
      serve(res, copyRequest(res, req, scheme, proxy.options.limits ?? limitDefaults), proxy, extra, opts.onError);
    } catch (err) {
      opts.onError(err);
      try {
        res.cork(() => {
          res.writeStatus('500 Internal Server Error');
          for (let i = 0; i < extra.length; i += 2) res.writeHeader(extra[i]!, extra[i + 1]!);
          res.end('500 Internal Server Error\n', true);
        });
      } catch {
        // The response was already used or aborted; nothing more to say to this client.
      }
    }
  });
}

/**
 * One plain HTTP request, copied (also Upgrade requests that are not WebSocket handshakes, and
 * refused handshakes): answer a refusal, or proxy it and feed its body to the exchange.
 */
export function serve(res: HttpResponse, client: UwsRequest, proxy: Proxy, extra: string[], onError: (err: unknown) => void): void {
  if (client.refusal !== null) {
    refuse(res, client.refusal, client.method === 'HEAD', extra, onError);
    // Into the access log and the metrics like any answer (nginx logs its 400s too).
    proxy.refused(client, client.refusal.status);
    return;
  }
  const down = new UwsDownstream(res, extra);
  res.onAborted(() => down.onAborted());
  const exchange = proxy.handle(client, down);
  down.exchange = exchange;
  if (client.body !== 'none' && !down.done) {
    res.onData((chunk, isLast) => {
      if (down.done) return;
      try {
        // uWS wipes the chunk when this callback returns: copy it.
        exchange.body(Buffer.from(chunk.slice(0)), isLast);
      } catch (err) {
        down.onAborted();
        down.destroy();
        throw err;
      }
    });
  }
}

/**
 * A refusal (400 for framing or Host, 414, 431), sent a turn later on purpose, and the connection
 * closed after it; the body, if any, is never read. Answered at once, uWS 20.30 goes on parsing
 * the bytes after the request as the next request and calls us with it, even with
 * `end(body, closeConnection)`: after mis-framing, a smuggled request; after a refused Host or
 * size, a request the refusal's close promised never to handle. While this response is pending,
 * uWS instead aborts the connection if such bytes are there, so nothing after the refused request
 * is ever handled; if none are, the client gets its answer and the connection closes.
 */
function refuse(res: HttpResponse, r: HeadRefusal, head: boolean, extra: readonly string[], onError: (err: unknown) => void): void {
  let aborted = false;
  res.onAborted(() => {
    aborted = true;
  });
  setImmediate(() => {
    if (aborted) return;
    // Outside any uWS callback: a throw here would be an uncaught exception, not a closed socket.
    try {
      res.cork(() => {
        res.writeStatus(statusLine(r.status, r.reason)).writeHeader('content-type', 'text/plain; charset=utf-8');
        for (let i = 0; i < extra.length; i += 2) res.writeHeader(extra[i]!, extra[i + 1]!);
        // HEAD: no body after the head (uWS then states Content-Length: 0, harmless on a close).
        res.end(head ? '' : r.message, true);
      });
    } catch (err) {
      onError(err);
    }
  });
}
