/**
 * The adapter for node:http servers: turns an IncomingMessage/ServerResponse pair into the core's
 * ClientRequest and Downstream, so an app embeds the very proxy the Portcullis server runs.
 *
 *   const proxy = createProxy({ target: 'http://127.0.0.1:9000' });
 *   http.createServer(nodeHttpHandler(proxy)).listen(8080);
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { TLSSocket } from 'node:tls';
import { normalizeAddress } from '../headers/cidr.js';
import type { ClientRequest, Downstream, Exchange, Proxy } from '../exchange/contract.js';

const EMPTY = Buffer.alloc(0);

export class NodeDownstream implements Downstream {
  exchange: Exchange | null = null;
  constructor(
    private readonly req: IncomingMessage,
    private readonly res: ServerResponse,
  ) {}

  respond(status: number, reason: string, headers: string[], body: Buffer | null, bodyless: boolean): void {
    const res = this.res;
    if (res.destroyed) return;
    if (!bodyless && body !== null) headers = headers.concat('content-length', String(body.length));
    res.writeHead(status, reason, headers);
    if (bodyless || body === null) res.end();
    else res.end(Buffer.from(body)); // lent, and node:http may queue it: copy
  }

  writeHead(status: number, reason: string, headers: string[], contentLength: number, bodyless: boolean): void {
    if (this.res.destroyed) return;
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

/** The core's view of a node:http request. */
export function clientRequestOf(req: IncomingMessage): ClientRequest {
  const raw = req.rawHeaders;
  const headers = new Array<string>(raw.length);
  for (let i = 0; i < raw.length; i += 2) {
    headers[i] = raw[i]!.toLowerCase();
    headers[i + 1] = raw[i + 1]!;
  }
  const te = req.headers['transfer-encoding'];
  const cl = req.headers['content-length'];
  return {
    method: req.method ?? 'GET',
    url: req.url ?? '/',
    headers,
    host: req.headers.host,
    remoteAddress: normalizeAddress(req.socket.remoteAddress ?? ''),
    scheme: (req.socket as TLSSocket).encrypted ? 'https' : 'http',
    body: te !== undefined ? 'chunked' : cl !== undefined && cl !== '0' ? 'length' : 'none',
    contentLength: cl !== undefined ? Number(cl) : 0,
    // node:http decodes header bytes as latin1; writing them back as latin1 keeps them exact.
    headerEncoding: 'latin1',
  };
}

/** A node:http `request` listener that proxies every request through `proxy`. */
export function nodeHttpHandler(proxy: Proxy): (req: IncomingMessage, res: ServerResponse) => void {
  return (req, res) => {
    const client = clientRequestOf(req);
    const down = new NodeDownstream(req, res);
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
