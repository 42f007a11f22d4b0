/**
 * WebSocket helpers for the ws-*.test.ts suites: an origin (node:http + the `ws` package) whose
 * paths script what the upstream does, a client with awaitable events, the proxy under test
 * (the CLI, or createProxy + nodeHttpHandler + nodeUpgradeHandler on node:http), and a process's
 * socket count. Everything started is closed in t.teardown; every wait has a deadline.
 */
import { createHash } from 'node:crypto';
import { readdirSync, readlinkSync } from 'node:fs';
import http from 'node:http';
import type net from 'node:net';
import type { Test } from 'tap';
import WebSocket, { WebSocketServer } from 'ws';
import { type Cli, startCli } from './cli.js';
import { deferred, freePort, listenLoopback, withTimeout } from './util.js';

export { WebSocket };

export interface SeenUpgrade {
  url: string;
  /** Raw header pairs as received. */
  headers: Array<[string, string]>;
  header(name: string): string[];
}

export interface WsOrigin {
  port: number;
  /** Every upgrade request that reached the origin, in order. */
  upgrades: SeenUpgrade[];
  /** Plain (non-upgrade) requests: url and headers. */
  plain: SeenUpgrade[];
  /** Close codes/reasons the origin saw from the proxy, per finished connection. */
  closes: Array<{ code: number; reason: string }>;
  /** Messages the origin received on /sink paths. */
  received: Array<{ data: Buffer; binary: boolean }>;
  /** Open origin-side WebSocket connections now. */
  readonly open: number;
  close(): Promise<void>;
}

export type RawHandler = (socket: net.Socket, req: http.IncomingMessage, head: Buffer) => void;

function seen(req: http.IncomingMessage): SeenUpgrade {
  const headers: Array<[string, string]> = [];
  for (let i = 0; i < req.rawHeaders.length; i += 2) headers.push([req.rawHeaders[i]!, req.rawHeaders[i + 1]!]);
  return {
    url: req.url ?? '',
    headers,
    header: (n) => headers.filter(([k]) => k.toLowerCase() === n.toLowerCase()).map(([, v]) => v),
  };
}

export const acceptOf = (key: string): string =>
  createHash('sha1').update(key + '258EAFA5-E914-47DA-95CA-C5AB0DC85B11').digest('base64');

/** A server frame (unmasked). */
export function frame(opcode: number, payload: Buffer | string, fin = true): Buffer {
  const p = typeof payload === 'string' ? Buffer.from(payload) : payload;
  const head = p.length < 126 ? Buffer.from([(fin ? 0x80 : 0) | opcode, p.length]) : Buffer.from([(fin ? 0x80 : 0) | opcode, 126, p.length >> 8, p.length & 0xff]);
  return Buffer.concat([head, p]);
}

/**
 * Origin paths:
 *   /echo...          echo every message (text as text, binary as binary); "close:<code>:<reason>"
 *                     makes the origin close with that code, "drop" makes it vanish without a close
 *   /sink...          record messages (origin.received), never answer
 *   /stream?bytes=N&size=S   send N bytes in binary messages of S bytes as fast as the socket takes them
 *   /status/<n>       answer the upgrade with HTTP status n and a body (401 and 426 add their headers)
 *   /raw/<name>       `raw[name]` gets the socket (forged 101s, scripted frames)
 *   /silent           never answer
 * Plain requests are answered 200 with `plain <url> upgrade=<Upgrade header>`.
 */
export async function startWsOrigin(t: Test, raw: Record<string, RawHandler> = {}, opts: { deflate?: boolean } = {}): Promise<WsOrigin> {
  const upgrades: SeenUpgrade[] = [];
  const plain: SeenUpgrade[] = [];
  const closes: WsOrigin['closes'] = [];
  const received: WsOrigin['received'] = [];
  let open = 0;
  const wss = new WebSocketServer({
    noServer: true,
    // Pick the last protocol the client offered, so a test can tell the whole list arrived.
    handleProtocols: (ps) => [...ps].pop() ?? false,
    // With deflate, every message the origin sends is compressed (threshold 0).
    perMessageDeflate: opts.deflate === true ? { threshold: 0 } : false,
    maxPayload: 1 << 30,
  });
  wss.on('headers', (h) => h.push('Set-Cookie: origin=1; Path=/', 'Set-Cookie: second=2'));
  const server = http.createServer((req, res) => {
    plain.push(seen(req));
    req.resume();
    const body = `plain ${req.url} upgrade=${req.headers.upgrade ?? ''}`;
    res.writeHead(200, { 'content-type': 'text/plain', 'content-length': Buffer.byteLength(body) });
    res.end(body);
  });
  server.keepAliveTimeout = 30_000;
  server.on('upgrade', (req, socket: net.Socket, head: Buffer) => {
    upgrades.push(seen(req));
    socket.on('error', () => {});
    const url = req.url ?? '/';
    const status = /^\/status\/(\d+)/.exec(url);
    if (status) {
      const n = Number(status[1]);
      const body = `refused with ${n}`;
      const extra = n === 401 ? 'WWW-Authenticate: Basic realm="ws"\r\n' : n === 426 ? 'Upgrade: websocket\r\nSec-WebSocket-Version: 13\r\nConnection: Upgrade\r\n' : n === 302 ? 'Location: /elsewhere\r\n' : '';
      socket.end(`HTTP/1.1 ${n} Refused\r\n${extra}Content-Type: text/plain\r\nContent-Length: ${body.length}\r\n\r\n${body}`);
      return;
    }
    const rawName = /^\/raw\/([\w-]+)/.exec(url);
    if (rawName) {
      const h = raw[rawName[1]!];
      if (h) h(socket, req, head);
      else socket.destroy();
      return;
    }
    if (url.startsWith('/silent')) return;
    wss.handleUpgrade(req, socket, head, (ws) => {
      open++;
      ws.on('close', (code, reason) => {
        open--;
        closes.push({ code, reason: reason.toString() });
      });
      ws.on('error', () => {});
      if (url.startsWith('/echo')) {
        ws.on('message', (data: Buffer, binary: boolean) => {
          const s = binary ? '' : data.toString();
          if (s.startsWith('close:')) {
            const [, code, reason = ''] = s.split(':');
            ws.close(Number(code), reason);
          } else if (s === 'drop') {
            ws.terminate();
          } else {
            ws.send(data, { binary });
          }
        });
      } else if (url.startsWith('/sink')) {
        ws.on('message', (data: Buffer, binary: boolean) => received.push({ data, binary }));
      } else if (url.startsWith('/stream')) {
        const q = new URL(url, 'http://x').searchParams;
        let left = Number(q.get('bytes'));
        const size = Number(q.get('size') ?? 65536);
        // Every byte of every message is `fill`: streams with different fills cannot be mixed up unseen.
        const chunk = Buffer.alloc(size, Number(q.get('fill') ?? 7));
        const pump = (): void => {
          while (left > 0 && ws.readyState === WebSocket.OPEN) {
            const n = Math.min(size, left);
            left -= n;
            ws.send(n === size ? chunk : chunk.subarray(0, n), { binary: true });
            if (ws.bufferedAmount > 4 * 1024 * 1024) {
              setTimeout(pump, 5);
              return;
            }
          }
          if (left === 0 && ws.readyState === WebSocket.OPEN) ws.send('done');
        };
        pump();
      }
    });
  });
  const { port, close } = await listenLoopback(t, server, () => {
    for (const c of wss.clients) c.terminate();
    wss.close();
  });
  return {
    port,
    upgrades,
    plain,
    closes,
    received,
    get open() {
      return open;
    },
    close,
  };
}

export interface Client {
  ws: WebSocket;
  /** Resolves on open, rejects on an unexpected HTTP response (with its status) or an error. */
  opened: Promise<http.IncomingMessage>;
  /** The first HTTP response that was not a 101, with its body. */
  refused: Promise<{ status: number; headers: http.IncomingHttpHeaders; body: string }>;
  messages: Array<{ data: Buffer; binary: boolean }>;
  /** The next message not yet taken by next(). */
  next(ms?: number): Promise<{ data: Buffer; binary: boolean }>;
  closed: Promise<{ code: number; reason: string }>;
}

export function connect(port: number, path: string, opts: { protocols?: string[]; headers?: Record<string, string>; perMessageDeflate?: boolean } = {}): Client {
  const ws = new WebSocket(`ws://127.0.0.1:${port}${path}`, opts.protocols ?? [], {
    headers: opts.headers ?? {},
    perMessageDeflate: opts.perMessageDeflate ?? false,
    maxPayload: 1 << 30,
  });
  const opened = deferred<http.IncomingMessage>();
  const refused = deferred<{ status: number; headers: http.IncomingHttpHeaders; body: string }>();
  const closed = deferred<{ code: number; reason: string }>();
  const messages: Client['messages'] = [];
  let taken = 0;
  const waiters: Array<() => void> = [];
  let upgradeRes: http.IncomingMessage | undefined;
  ws.on('upgrade', (res) => (upgradeRes = res));
  ws.on('open', () => opened.resolve(upgradeRes!));
  ws.on('unexpected-response', (_req, res) => {
    let body = '';
    res.setEncoding('utf8');
    res.on('data', (d: string) => (body += d));
    res.on('end', () => {
      refused.resolve({ status: res.statusCode ?? 0, headers: res.headers, body });
      opened.reject(new Error(`refused with ${res.statusCode}`));
      closed.resolve({ code: -1, reason: `http ${res.statusCode}` });
    });
  });
  ws.on('message', (data: Buffer, binary: boolean) => {
    messages.push({ data, binary });
    waiters.shift()?.();
  });
  ws.on('close', (code, reason) => {
    closed.resolve({ code, reason: reason.toString() });
    for (const w of waiters.splice(0)) w();
  });
  ws.on('error', (e) => {
    opened.reject(e);
    refused.reject(e);
  });
  opened.promise.catch(() => {});
  refused.promise.catch(() => {});
  const next = async (ms = 5000): Promise<{ data: Buffer; binary: boolean }> => {
    if (taken < messages.length) return messages[taken++]!;
    await withTimeout(new Promise<void>((r) => waiters.push(r)), ms, `a message on ${path}`);
    if (taken < messages.length) return messages[taken++]!;
    throw new Error(`connection closed while waiting for a message on ${path}`);
  };
  return { ws, opened: opened.promise, refused: refused.promise, messages, next, closed: closed.promise };
}

// ---- the proxy under test -------------------------------------------------------------------

export interface WsProxySpec {
  /** Origin ports of the one upstream `app`. */
  servers: number[];
  workers?: number;
  /** Lines under a top-level `websocket:` key (CLI), e.g. `max_message_size: 1024`. */
  websocket?: Record<string, string | number>;
  /** The same limits for createProxy (node:http), camelCase. */
  core?: Record<string, unknown>;
  /** Extra lines for the upstream in YAML (e.g. `read_timeout: 1s`). */
  upstream?: Record<string, string | number>;
}

export interface WsProxy {
  port: number;
  /** Pids whose memory and sockets are the proxy's (CLI workers, or none in-process). */
  pids(): number[];
  cli?: Cli;
}

export interface WsFrontend {
  name: 'cli' | 'node-http';
  start(t: Test, spec: WsProxySpec): Promise<WsProxy>;
}

export const cliWs: WsFrontend = {
  name: 'cli',
  async start(t, spec) {
    const port = await freePort();
    const lines = [`listen: [127.0.0.1:${port}]`, `workers: ${spec.workers ?? 1}`, 'log: { level: info, access: false }'];
    if (spec.websocket) {
      lines.push('websocket:');
      for (const [k, v] of Object.entries(spec.websocket)) lines.push(`  ${k}: ${v}`);
    }
    lines.push('upstreams:', '  app:', `    servers: [${spec.servers.map((p) => `127.0.0.1:${p}`).join(', ')}]`);
    for (const [k, v] of Object.entries(spec.upstream ?? {})) lines.push(`    ${k}: ${v}`);
    const dir = t.testdir({ 'portcullis.yaml': lines.join('\n') + '\n' });
    const cli = await startCli(t, ['--config', `${dir}/portcullis.yaml`], { port });
    return { port, cli, pids: () => cli.children() };
  },
};

export const nodeHttpWs: WsFrontend = {
  name: 'node-http',
  async start(t, spec) {
    const core = await import('@portcullis/core');
    const proxy = core.createProxy({
      upstreams: [{ name: 'app', servers: spec.servers.map((port) => ({ host: '127.0.0.1', port })) }],
      ...(spec.core ? { websocket: spec.core } : {}),
    });
    const server = http.createServer(core.nodeHttpHandler(proxy));
    server.on('upgrade', core.nodeUpgradeHandler(proxy));
    t.teardown(() => withTimeout(proxy.close(), 5000, 'closing the node:http proxy').catch(() => {}));
    const { port } = await listenLoopback(t, server);
    return { port, pids: () => [] };
  },
};

export const wsFrontends: WsFrontend[] = [cliWs, nodeHttpWs];

/** TCP sockets a process holds (its fds that are sockets). */
export function socketCount(pid: number): number {
  let n = 0;
  try {
    for (const fd of readdirSync(`/proc/${pid}/fd`)) {
      try {
        if (readlinkSync(`/proc/${pid}/fd/${fd}`).startsWith('socket:')) n++;
      } catch {
        /* closed meanwhile */
      }
    }
  } catch {
    return -1;
  }
  return n;
}

/** A frame as a client sent it, unmasked; `rsv1` marks a compressed message (permessage-deflate). */
export interface ClientFrame {
  fin: boolean;
  rsv1: boolean;
  opcode: number;
  payload: Buffer;
}

/** Frames a client sent (masked), unmasked. Returns the frames and the bytes left over. */
export function parseClientFrames(buf: Buffer): { frames: ClientFrame[]; rest: Buffer } {
  const frames: ClientFrame[] = [];
  let p = 0;
  for (;;) {
    if (buf.length - p < 2) break;
    const b0 = buf[p]!;
    const b1 = buf[p + 1]!;
    let len = b1 & 0x7f;
    let h = 2;
    if (len === 126) {
      if (buf.length - p < 4) break;
      len = buf.readUInt16BE(p + 2);
      h = 4;
    } else if (len === 127) {
      if (buf.length - p < 10) break;
      len = Number(buf.readBigUInt64BE(p + 2));
      h = 10;
    }
    const masked = (b1 & 0x80) !== 0;
    const total = h + (masked ? 4 : 0) + len;
    if (buf.length - p < total) break;
    const payload = Buffer.from(buf.subarray(p + h + (masked ? 4 : 0), p + total));
    if (masked) {
      const key = buf.subarray(p + h, p + h + 4);
      for (let i = 0; i < payload.length; i++) payload[i]! ^= key[i & 3]!;
    }
    frames.push({ fin: (b0 & 0x80) !== 0, rsv1: (b0 & 0x40) !== 0, opcode: b0 & 0x0f, payload });
    p += total;
  }
  return { frames, rest: buf.subarray(p) };
}

/** What a raw origin script gets: raw writes, the client frames received so far (unmasked), the socket. */
export interface RawIo {
  write(b: Buffer): void;
  end(): void;
  destroy(): void;
  frames: ClientFrame[];
  socket: net.Socket;
}

/**
 * A raw origin handler that accepts the upgrade (valid 101), then runs `script` with a way to
 * write raw frames and a list of the client frames received so far (unmasked).
 */
export function rawWebSocket(
  script: (io: RawIo) => void,
  /** Extra header lines of the 101 (e.g. `Sec-WebSocket-Extensions: ...`). */
  extraHeaders = '',
): RawHandler {
  return (socket, req) => {
    socket.write(
      `HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${acceptOf(String(req.headers['sec-websocket-key']))}\r\n${extraHeaders}\r\n`,
    );
    const frames: ClientFrame[] = [];
    let pending = Buffer.alloc(0);
    socket.on('data', (d: Buffer) => {
      const r = parseClientFrames(Buffer.concat([pending, d]));
      frames.push(...r.frames);
      pending = Buffer.from(r.rest);
    });
    script({ write: (b) => socket.write(b), end: () => socket.end(), destroy: () => socket.destroy(), frames, socket });
  };
}
