/**
 * The adapter for node:http servers: turns an IncomingMessage/ServerResponse pair into the core's
 * ClientRequest and Downstream, so an app embeds the very proxy the Portcullis server runs.
 *
 *   const proxy = createProxy({ target: 'http://127.0.0.1:9000' });
 *   http.createServer(nodeHttpHandler(proxy)).listen(8080);
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { TLSSocket } from 'node:tls';
import { limitDefaults, type RequestLimits } from '../config/options.js';
import { normalizeAddress } from '../headers/cidr.js';
import { withExtra } from '../headers/extra-headers.js';
import { checkHost, HeadMeter, REFUSE_TARGET, type HeadRefusal } from '../headers/host.js';
import type { ClientRequest, Downstream, Exchange, Proxy } from '../exchange/contract.js';

const EMPTY = Buffer.alloc(0);

/** Options of the node:http adapters. */
export interface NodeHandlerOptions {
  /** Header pairs (lower-case names) every response carries, replacing the upstream's: HSTS. */
  extraHeaders?: readonly string[];
}

export class NodeDownstream implements Downstream {
  exchange: Exchange | null = null;
  constructor(
    private readonly req: IncomingMessage,
    private readonly res: ServerResponse,
    private readonly extra: readonly string[] = [],
  ) {}

  respond(status: number, reason: string, headers: string[], body: Buffer | null, bodyless: boolean): void {
    const res = this.res;
    if (res.destroyed) return;
    headers = withExtra(headers, this.extra);
    if (!bodyless && body !== null) headers = headers.concat('content-length', String(body.length));
    res.writeHead(status, reason, headers);
    if (bodyless || body === null) res.end();
    else res.end(Buffer.from(body)); // lent, and node:http may queue it: copy
  }

  writeHead(status: number, reason: string, headers: string[], contentLength: number, bodyless: boolean): void {
    if (this.res.destroyed) return;
    headers = withExtra(headers, this.extra);
    // A bodiless answer carries the length the core decided (HEAD), if any; a body is framed here.
    if (contentLength >= 0 && !bodyless) headers = headers.concat('content-length', String(contentLength));
    this.res.writeHead(status, reason, headers);
  }

  write(chunk: Buffer): boolean {
    if (this.res.destroyed) return true;
    // Lent by the core (read-buffer.ts), and node:http may queue it rather than send it now.
    return this.res.write(Buffer.from(chunk));
  }

  end(): void {
    if (!this.res.destroyed) this.res.end();
  }

  destroy(): void {
    this.res.destroy();
  }

  pauseBody(): void {
    this.req.pause();
  }

  resumeBody(): void {
    this.req.resume();
  }
}

// Measures each request head as it is copied (synchronously: one meter for the module).
const meter = new HeadMeter();

/**
 * The core's view of a node:http request, or why it is refused (limits, Host, target; see
 * checkHead). An absolute-form target (`GET http://example.com/x`, RFC 9112 3.2.2) is turned into
 * origin-form with its authority as the Host, routed and sent upstream on, so that routing,
 * X-Forwarded-Host and the upstream's Host all rest on one value.
 */
export function clientRequestOf(req: IncomingMessage, limits: RequestLimits = limitDefaults): ClientRequest | HeadRefusal {
  const raw = req.rawHeaders;
  const headers = new Array<string>(raw.length);
  let url = req.url ?? '/';
  // RFC 9112 3.2 requires Host of HTTP/1.1 only; nginx takes an HTTP/1.0 request without one.
  meter.start(url.length, req.httpVersionMajor === 1 && req.httpVersionMinor === 0);
  let host: string | undefined;
  let hostAt = -1;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!.toLowerCase();
    const value = raw[i + 1]!;
    headers[i] = name;
    headers[i + 1] = value;
    if (meter.field(name, value)) {
      host = value;
      hostAt = i;
    }
  }
  const refused = meter.judge(limits);
  if (refused !== null) return refused;
  if (url.charCodeAt(0) !== 47 /* / */ && !(url === '*' && req.method === 'OPTIONS')) {
    const split = absoluteTarget(url);
    if (split === null) return REFUSE_TARGET;
    host = split.authority;
    url = split.path;
    if (hostAt >= 0) headers[hostAt + 1] = host;
    else headers.push('host', host);
  }
  const te = req.headers['transfer-encoding'];
  const cl = req.headers['content-length'];
  return {
    method: req.method ?? 'GET',
    url,
    headers,
    host,
    remoteAddress: normalizeAddress(req.socket.remoteAddress ?? ''),
    scheme: (req.socket as TLSSocket).encrypted ? 'https' : 'http',
    body: te !== undefined ? 'chunked' : cl !== undefined && cl !== '0' ? 'length' : 'none',
    contentLength: cl !== undefined ? Number(cl) : 0,
    // node:http decodes header bytes as latin1; writing them back as latin1 keeps them exact.
    headerEncoding: 'latin1',
  };
}

/** An absolute-form target's authority and its path (and query) in origin-form, or null. */
function absoluteTarget(url: string): { authority: string; path: string } | null {
  const sep = url.indexOf('://');
  if (sep !== 4 && sep !== 5) return null;
  const scheme = url.slice(0, sep).toLowerCase();
  if (scheme !== 'http' && scheme !== 'https') return null;
  let end = sep + 3;
  for (; end < url.length; end++) {
    const c = url.charCodeAt(end);
    if (c === 47 /* / */ || c === 63 /* ? */) break;
  }
  const authority = url.slice(sep + 3, end);
  // userinfo (`user@host`) fails here too: RFC 9110 4.2.4 forbids it in an http(s) URI.
  if (!checkHost(authority)) return null;
  const rest = url.slice(end);
  return { authority, path: rest === '' ? '/' : rest.charCodeAt(0) === 63 ? '/' + rest : rest };
}

export function isRefusal(r: ClientRequest | HeadRefusal): r is HeadRefusal {
  return 'status' in r;
}

/**
 * Sockets a refusal was sent on. node:http goes on parsing what the client sent behind the refused
 * request and emits it too; none of it may be proxied: the connection closes after the refusal.
 */
const refusedSockets = new WeakSet<object>();

/**
 * Answer a refused head (400, 414, 431) and close the connection; the body is never read. The
 * refusal reaches `proxy`'s logging hook too (access logs and metrics count it), as a request
 * with the method and target as received and no headers.
 */
export function refuse(req: IncomingMessage, res: ServerResponse, r: HeadRefusal, proxy: Proxy, extra: readonly string[] = []): void {
  refusedSockets.add(req.socket);
  res.shouldKeepAlive = false;
  res.writeHead(r.status, r.reason, withExtra(['content-type', 'text/plain; charset=utf-8', 'content-length', String(r.message.length), 'connection', 'close'], extra));
  if (req.method === 'HEAD') res.end();
  else res.end(r.message);
  proxy.refused(
    {
      method: req.method ?? 'GET',
      url: req.url ?? '/',
      headers: [],
      host: undefined,
      remoteAddress: normalizeAddress(req.socket.remoteAddress ?? ''),
      scheme: (req.socket as TLSSocket).encrypted ? 'https' : 'http',
      body: 'none',
      contentLength: 0,
      headerEncoding: 'latin1',
    },
    r.status,
  );
}

/** A node:http `request` listener that proxies every request through `proxy`. */
export function nodeHttpHandler(proxy: Proxy, opts: NodeHandlerOptions = {}): (req: IncomingMessage, res: ServerResponse) => void {
  const extra = opts.extraHeaders ?? [];
  return (req, res) => {
    if (refusedSockets.has(req.socket)) {
      // Behind a refused request on the same connection, which is closing: never proxied.
      req.resume();
      return;
    }
    // Read per request: a reload may change the limits.
    const client = clientRequestOf(req, proxy.options.limits ?? limitDefaults);
    if (isRefusal(client)) {
      refuse(req, res, client, proxy, extra);
      return;
    }
    const down = new NodeDownstream(req, res, extra);
    const exchange = proxy.handle(client, down);
    down.exchange = exchange;
    res.on('drain', () => exchange.writable());
    res.on('close', () => {
      if (!res.writableFinished) exchange.abort();
    });
    if (client.body !== 'none') {
      req.on('data', (chunk: Buffer) => exchange.body(chunk, false));
      req.on('end', () => exchange.body(EMPTY, true));
    } else {
      req.resume();
    }
  };
}
