/**
 * The uWS HTTP handler: copy the request out of uWS (its `req` dies with the handler's tick),
 * refuse what uWS 20.30 would mis-frame, and hand the rest to the core.
 */
import { normalizeAddress, type ClientRequest, type Proxy } from '@portcullis/core';
import type { HttpRequest, HttpResponse, TemplatedApp } from 'uWebSockets.js';
import { UwsDownstream } from './downstream.js';

export interface HttpFrontendOptions {
  scheme: 'http' | 'https';
  /** Header pairs added to every response (HSTS on TLS listeners). */
  extraHeaders?: string[];
  /** Called when a handler threw: logged, never allowed to escape into uWS. */
  onError(err: unknown): void;
}

const decoder = new TextDecoder('latin1');

export function mountHttp(app: TemplatedApp, proxy: Proxy, opts: HttpFrontendOptions): void {
  const extra = opts.extraHeaders ?? [];
  app.any('/*', (res: HttpResponse, req: HttpRequest) => {
    try {
      handle(res, req, proxy, opts.scheme, extra);
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

/** One plain HTTP request (also used for Upgrade requests that are not WebSocket handshakes). */
/** The core's view of a request copied out of uWS (whose `req` dies with the handler's tick). */
export function clientRequest(
  res: HttpResponse,
  method: string,
  url: string,
  headers: string[],
  host: string | undefined,
  scheme: 'http' | 'https',
  body: ClientRequest['body'],
  contentLength: number,
): ClientRequest {
  return {
    method,
    url,
    headers,
    host,
    remoteAddress: normalizeAddress(decoder.decode(res.getRemoteAddressAsText())),
    scheme,
    body,
    contentLength,
    // uWS decodes header bytes as UTF-8 and encodes strings back the same way.
    headerEncoding: 'utf8',
  };
}

export function handle(res: HttpResponse, req: HttpRequest, proxy: Proxy, scheme: 'http' | 'https', extra: string[]): void {
  // getCaseSensitiveMethod first: getMethod lower-cases the method in place.
  const method = req.getCaseSensitiveMethod();
  const query = req.getQuery();
  const url = query ? `${req.getUrl()}?${query}` : req.getUrl();

  const headers: string[] = [];
  let host: string | undefined;
  let contentLength = -1;
  let lengthCount = 0;
  let te: string | undefined;
  let teCount = 0;
  let bad = false;
  req.forEach((name, value) => {
    headers.push(name, value);
    switch (name) {
      case 'host':
        host ??= value;
        break;
      case 'content-length': {
        const n = /^\d{1,15}$/.test(value) ? Number(value) : -1;
        // Two different lengths: uWS frames by the first and would parse the rest as a new request.
        if (n < 0 || (lengthCount > 0 && n !== contentLength)) bad = true;
        contentLength = n;
        lengthCount++;
        break;
      }
      case 'transfer-encoding':
        te = value;
        teCount++;
        break;
    }
  });
  // uWS treats any Transfer-Encoding as chunked: only exactly `chunked`, alone, is framed right.
  if (te !== undefined && (teCount > 1 || te.toLowerCase() !== 'chunked' || lengthCount > 0)) bad = true;

  if (bad) {
    refuseFraming(res, extra);
    return;
  }

  const client = clientRequest(res, method, url, headers, host, scheme, te !== undefined ? 'chunked' : contentLength > 0 ? 'length' : 'none', contentLength > 0 ? contentLength : 0);

  const down = new UwsDownstream(res, method, extra);
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
 * 400 for a request uWS would mis-frame, sent a turn later on purpose. Answered at once, uWS 20.30
 * goes on parsing the bytes after the mis-framed body as the next request and calls us with it,
 * even with `end(body, closeConnection)`: a smuggled request. While this response is pending, uWS
 * instead aborts the connection if such bytes are there, so nothing after the bad request is ever
 * handled; if none are, the client gets its 400 and the connection closes.
 */
function refuseFraming(res: HttpResponse, extra: readonly string[]): void {
  let aborted = false;
  res.onAborted(() => {
    aborted = true;
  });
  setImmediate(() => {
    if (aborted) return;
    res.cork(() => {
      res.writeStatus('400 Bad Request').writeHeader('content-type', 'text/plain; charset=utf-8');
      for (let i = 0; i < extra.length; i += 2) res.writeHeader(extra[i]!, extra[i + 1]!);
      res.end('400 Bad Request: ambiguous message framing\n', true);
    });
  });
}
