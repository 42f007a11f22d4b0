/**
 * Origin servers the suites put behind the proxy. All listen on 127.0.0.1:0 and are closed (with
 * every open connection destroyed) in t.teardown.
 *
 * - startOrigin: a node:http server that records each request it sees (headers exactly as they
 *   arrived, which connection carried it) and counts the connections opened to it. Its default
 *   handler echoes the request as JSON, with the sha256 of the body.
 * - startRawOrigin: a net server for misbehaviour node:http would not allow (resets, silence,
 *   close-delimited bodies, exact response headers). readRequests() parses what arrives.
 */
import { createHash } from 'node:crypto';
import http from 'node:http';
import net from 'node:net';
import type { Test } from 'tap';
import { type HeaderList, type Head, headerValues, parseHead, readBody, requestFraming } from './http1.js';
import { listenLoopback } from './util.js';

export interface SeenRequest {
  method: string;
  url: string;
  /** Headers as they arrived: raw names, order and repeats kept. */
  headers: HeaderList;
  /** Id of the origin-side connection that carried the request (1, 2, ...). */
  connId: number;
  /** Remote port of that connection (the proxy's local port). */
  remotePort: number;
  /** Values of one header (case-insensitive), in order. */
  header(name: string): string[];
}

/** What the default echo handler answers, as JSON. */
export interface Echo {
  method: string;
  url: string;
  headers: HeaderList;
  connId: number;
  bodyLength: number;
  bodySha256: string;
}

export interface Origin {
  port: number;
  server: http.Server;
  /** Connections opened to this origin so far. */
  readonly connections: number;
  /** Requests in arrival order (recorded when the head arrives). */
  requests: SeenRequest[];
  close(): Promise<void>;
}

export type OriginHandler = (req: http.IncomingMessage, res: http.ServerResponse, seen: SeenRequest) => void;

/** The default handler: read the whole body, answer JSON describing the request. */
export const echoHandler: OriginHandler = (req, res, seen) => {
  const hash = createHash('sha256');
  let length = 0;
  req.on('data', (d: Buffer) => {
    hash.update(d);
    length += d.length;
  });
  req.on('end', () => {
    const echo: Echo = {
      method: seen.method,
      url: seen.url,
      headers: seen.headers,
      connId: seen.connId,
      bodyLength: length,
      bodySha256: hash.digest('hex'),
    };
    const body = JSON.stringify(echo);
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
    res.end(body);
  });
};

/** Node's rawHeaders as [name, value] pairs. */
export function pairs(raw: string[]): HeaderList {
  const out: HeaderList = [];
  for (let i = 0; i < raw.length; i += 2) out.push([raw[i]!, raw[i + 1]!]);
  return out;
}

/** What an origin records of a request it received (`connIds` numbers its connections). */
export function seenRequest(req: http.IncomingMessage, connIds: WeakMap<object, number>): SeenRequest {
  const headers = pairs(req.rawHeaders);
  return {
    method: req.method ?? '',
    url: req.url ?? '',
    headers,
    connId: connIds.get(req.socket) ?? -1,
    remotePort: req.socket.remotePort ?? -1,
    header: (n) => headerValues(headers, n),
  };
}

export async function startOrigin(t: Test, handler: OriginHandler = echoHandler): Promise<Origin> {
  let connections = 0;
  const connIds = new WeakMap<object, number>();
  const requests: SeenRequest[] = [];
  const server = http.createServer((req, res) => {
    const seen = seenRequest(req, connIds);
    requests.push(seen);
    try {
      handler(req, res, seen);
    } catch (e) {
      res.destroy(e as Error);
    }
  });
  server.keepAliveTimeout = 30_000;
  server.on('connection', (s: net.Socket) => {
    connections++;
    connIds.set(s, connections);
  });
  const { port, close } = await listenLoopback(t, server);
  return {
    port,
    server,
    get connections() {
      return connections;
    },
    requests,
    close,
  };
}

/** One request read by a raw origin. */
export interface RawSeenRequest {
  method: string;
  url: string;
  headers: HeaderList;
  body: Buffer;
  /** Index of this request on its connection (0 for the first). */
  indexOnConnection: number;
  header(name: string): string[];
}

export interface RawOriginConn {
  id: number;
  socket: net.Socket;
}

export interface RawOrigin {
  port: number;
  readonly connections: number;
  close(): Promise<void>;
}

/**
 * A net server; `onConnection` gets each socket. Sockets are destroyed and the server closed in
 * t.teardown.
 */
export async function startRawOrigin(
  t: Test,
  onConnection: (conn: RawOriginConn) => void,
): Promise<RawOrigin> {
  let connections = 0;
  const server = net.createServer((socket) => {
    connections++;
    socket.on('error', () => {});
    onConnection({ id: connections, socket });
  });
  const { port, close } = await listenLoopback(t, server);
  return {
    port,
    get connections() {
      return connections;
    },
    close,
  };
}

/**
 * Parses requests arriving on a raw socket and calls `onRequest` for each complete one (head and
 * Content-Length or chunked body). `onHead` (optional) is called as soon as a head arrives, before
 * its body: a return value of 'stop' stops parsing that connection.
 */
export function readRequests(
  socket: net.Socket,
  onRequest: (req: RawSeenRequest) => void,
  onHead?: (head: Head, indexOnConnection: number) => 'stop' | void,
): void {
  let buf = Buffer.alloc(0);
  let index = 0;
  let headSeen: Head | null = null;
  let stopped = false;
  socket.on('data', (d: Buffer) => {
    if (stopped) return;
    buf = Buffer.concat([buf, d]);
    for (;;) {
      if (!headSeen) {
        headSeen = parseHead(buf);
        if (!headSeen) return;
        if (onHead && onHead(headSeen, index) === 'stop') {
          stopped = true;
          return;
        }
      }
      const head: Head = headSeen;
      const rest = buf.subarray(head.length);
      const r = readBody(requestFraming(head.headers), rest);
      if (!r.done) return;
      buf = rest.subarray(r.consumed);
      headSeen = null;
      const [method = '', url = ''] = head.startLine.split(' ');
      const headers = head.headers;
      onRequest({
        method,
        url,
        headers,
        body: Buffer.from(r.body),
        indexOnConnection: index++,
        header: (n) => headerValues(headers, n),
      });
      if (stopped || socket.destroyed) return;
    }
  });
}
