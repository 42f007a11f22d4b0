/**
 * The adapter for node:http2 servers: each HTTP/2 stream becomes a ClientRequest and a Downstream,
 * proxied to the HTTP/1.1 upstream like any other request (same routes, pools, forwarding rules).
 *
 *   const proxy = createProxy({ target: 'http://127.0.0.1:9000' });
 *   const server = http2.createSecureServer({ key, cert, settings: { enableConnectProtocol: true } });
 *   server.on('stream', nodeHttp2StreamHandler(proxy));
 *
 * Flow control runs end to end: a response chunk node:http2 cannot send yet (the client's window
 * is shut, or its socket backed up) makes `write` return false, and the core stops reading the
 * upstream until the stream drains; a request body the upstream cannot take pauses the stream,
 * and node:http2 then stops opening the client's window. A stream the client resets cancels its
 * upstream request (that socket is never reused); a failed upstream resets only its own stream.
 *
 * WebSockets arrive as extended CONNECT (RFC 8441, h2-websocket.ts). A session guard cuts
 * connections that reset streams prematurely (the rapid-reset attack, h2-guard.ts).
 */
import { constants, type ServerHttp2Session, type ServerHttp2Stream } from 'node:http2';
import { limitDefaults } from '../config/options.js';
import type { ClientRequest, Proxy } from '../exchange/contract.js';
import type { HeadRefusal } from '../headers/host.js';
import { ResetGuard, type PrematureResetLimits } from './h2-guard.js';
import { resetStream } from './h2-reset.js';
import { h2ClientRequest, isExtendedConnect, isMalformed, peerAddress } from './h2-request.js';
import { answer, feed, H2Downstream, ignore } from './h2-downstream.js';
import { bridgeWebSocket } from './h2-websocket.js';

const { NGHTTP2_PROTOCOL_ERROR } = constants;

export interface Http2HandlerOptions {
  /** Header pairs (lower-case names) every response carries, replacing the upstream's: HSTS. */
  extraHeaders?: readonly string[];
  /** Close connections that reset most of their streams right after opening them (null: off). */
  prematureResets?: PrematureResetLimits | null;
  /** A connection was cut for abuse (logged by the caller); it is closed already. */
  onAbuse?(remoteAddress: string, reason: string): void;
}

/** `:name`'s value in a raw header list, or ''. */
function pseudo(raw: readonly string[], name: string): string {
  for (let i = 0; i < raw.length && raw[i]!.charCodeAt(0) === 58; i += 2) if (raw[i] === name) return raw[i + 1]!;
  return '';
}

/** A refused stream as the logging hook sees it: method and target as received, no headers. */
function refusedRequest(raw: readonly string[], remoteAddress: string): ClientRequest {
  return {
    method: pseudo(raw, ':method') || 'GET',
    url: pseudo(raw, ':path') || '/',
    headers: [],
    host: undefined,
    remoteAddress,
    scheme: 'https',
    body: 'none',
    contentLength: 0,
    headerEncoding: 'latin1',
  };
}

/** What the streams of one connection share, made on its first stream. */
interface SessionState {
  remoteAddress: string;
  guard: ResetGuard | null;
}

const sessions = new WeakMap<ServerHttp2Session, SessionState>();

function stateOf(session: ServerHttp2Session, opts: Http2HandlerOptions): SessionState {
  let s = sessions.get(session);
  if (s === undefined) {
    const limits = opts.prematureResets ?? null;
    const remoteAddress = peerAddress(session.socket?.remoteAddress);
    s = { remoteAddress, guard: limits === null ? null : new ResetGuard(session, limits, remoteAddress, opts.onAbuse) };
    sessions.set(session, s);
  }
  return s;
}

/** A node:http2 `stream` listener that proxies every stream through `proxy` (see the module comment). */
export function nodeHttp2StreamHandler(
  proxy: Proxy,
  opts: Http2HandlerOptions = {},
): (stream: ServerHttp2Stream, headers: unknown, flags: number, rawHeaders: string[]) => void {
  const extra = opts.extraHeaders ?? [];
  return (stream, _headers, flags, raw) => {
    const session = stream.session as ServerHttp2Session | undefined;
    if (session === undefined) return;
    const { remoteAddress, guard } = stateOf(session, opts);
    // Read per request: a reload may change the limits.
    const outcome = h2ClientRequest(raw, (flags & constants.NGHTTP2_FLAG_END_STREAM) !== 0, remoteAddress, proxy.options.limits ?? limitDefaults);
    if (isMalformed(outcome)) {
      // A reset with an error code makes node:http2 emit 'error': unheard, it would kill the process.
      stream.on('error', ignore);
      if (guard !== null) stream.once('close', () => guard.closed(stream, 0));
      resetStream(stream, NGHTTP2_PROTOCOL_ERROR);
      proxy.refused(refusedRequest(raw, remoteAddress), 400);
      return;
    }
    if ('status' in outcome) {
      if (guard !== null) {
        const opened = performance.now();
        stream.once('close', () => guard.closed(stream, opened));
      }
      refuse(stream, outcome, raw, remoteAddress, proxy, extra);
      return;
    }
    const down = new H2Downstream(stream, extra, guard);
    if (isExtendedConnect(outcome)) {
      bridgeWebSocket(proxy, outcome, down, extra);
      return;
    }
    const exchange = proxy.handle(outcome, down);
    feed(down, exchange, outcome.body !== 'none' ? 'read' : 'none');
  };
}

function refuse(stream: ServerHttp2Stream, r: HeadRefusal, raw: readonly string[], remoteAddress: string, proxy: Proxy, extra: readonly string[]): void {
  stream.on('error', ignore);
  answer(stream, r.status, r.message, pseudo(raw, ':method') === 'HEAD', extra);
  proxy.refused(refusedRequest(raw, remoteAddress), r.status);
}
