/**
 * The upstream side of a WebSocket opening handshake. The proxy sends the client's GET upstream
 * like any request (same route, pool and forwarded headers, on an idle keep-alive socket when
 * there is one), with `Connection: upgrade` and `Upgrade: websocket`. Any answer but 101 is
 * relayed as ordinary HTTP by the request's exchange; a 101 comes here, is checked, and its socket
 * leaves the pool for whoever carries the WebSocket on (the uWS frontend's relay, or the
 * node:http tunnel).
 */
import type net from 'node:net';
import type { Connection } from '../upstream/connection.js';
import type { ResponseHead } from '../http1/response-parser.js';
import type { UpstreamWebSocketOptions } from '../config/options.js';
import { DEFLATE_OFFER } from './deflate.js';
import { checkSwitch, type ClientHandshake, type ExtensionMode } from './handshake.js';

/** What the frontend gets when the upstream switched protocols. */
export interface UpstreamSwitch {
  /** The upstream socket, now owned by the caller (nothing in the pool refers to it). */
  socket: net.Socket;
  /**
   * Receive the socket's bytes: it reads into a buffer shared by the thread's upstream sockets,
   * so it emits no 'data' and `data` is valid only during the call. Call it within onSwitch.
   */
  listen(reader: (data: Buffer) => void): void;
  /** Bytes the upstream sent right after its 101 head (first frames), or null; valid during onSwitch. */
  head: Buffer | null;
  /** The subprotocol the upstream chose ('' for none). */
  protocol: string;
  /** The upstream's Sec-WebSocket-Extensions ('' for none). */
  extensions: string;
  /** permessage-deflate was offered to the upstream (upstreamCompression) and accepted. */
  deflate: boolean;
  /** The other headers of the upstream's 101, for the client's (flat, upstream spelling). */
  headers: string[];
  /** The 101's reason phrase and every header as received, for a byte tunnel. */
  reason: string;
  rawHeaders: string[];
  /** The limits of this upstream (the proxy-wide ones with its overrides). */
  limits: UpstreamWebSocketOptions;
  /** The client's handshake as the core parsed it (its key and extension offer, for the client's 101). */
  client: ClientHandshake;
  /** `host:port` of the upstream server. */
  server: string;
}

export interface UpgradeHooks {
  /**
   * How Sec-WebSocket-Extensions is handled: 'strip' negotiates them per hop (the upstream hop
   * gets no offer: a relay that terminates the client's WebSocket), 'pass' forwards the client's
   * offer and the upstream's answer unchanged (a byte tunnel).
   */
  readonly extensions: 'strip' | 'pass';
  /**
   * The upstream accepted the upgrade. Called once, after the exchange has ended with 101; the
   * receiver must take the socket (or destroy it).
   */
  onSwitch(up: UpstreamSwitch): void;
}

/** One handshake in flight: what the 101 must match, and where the socket goes. */
export class UpgradeRequest {
  constructor(
    readonly client: ClientHandshake,
    readonly hooks: UpgradeHooks,
    readonly limits: UpstreamWebSocketOptions,
  ) {}

  /** What the upstream's Sec-WebSocket-Extensions may enable. */
  private get extensionMode(): ExtensionMode {
    if (this.hooks.extensions === 'pass') return this.client.extensions !== '' ? 'pass' : 'none';
    return this.limits.upstreamCompression ? 'deflate' : 'none';
  }

  /**
   * The client's headers as sent upstream. Negotiating per hop, the client's extension offer is
   * dropped and the proxy's own (permessage-deflate, when configured) put in its place.
   */
  upstreamHeaders(headers: string[]): string[] {
    if (this.hooks.extensions === 'pass') return headers;
    const deflate = this.limits.upstreamCompression;
    if (this.client.extensions === '' && !deflate) return headers;
    const out: string[] = [];
    for (let i = 0; i < headers.length; i += 2) {
      if (headers[i] !== 'sec-websocket-extensions') out.push(headers[i]!, headers[i + 1]!);
    }
    if (deflate) out.push('sec-websocket-extensions', DEFLATE_OFFER);
    return out;
  }

  /**
   * The upstream answered 101 on `conn`: check it and take the socket over. Returns the problem
   * when the 101 is not a valid answer (the caller fails the exchange with 502).
   */
  switched(head: ResponseHead, conn: Connection, server: string): string | null {
    const checked = checkSwitch(head, this.client.key, this.client.protocols, this.extensionMode);
    if (typeof checked === 'string') return checked;
    const socket = conn.detach((rest) => {
      this.hooks.onSwitch({
        socket,
        listen: (reader) => conn.listen(reader),
        head: rest,
        protocol: checked.protocol,
        extensions: checked.extensions,
        deflate: checked.deflate,
        headers: checked.headers,
        reason: head.reason,
        rawHeaders: head.headers,
        limits: this.limits,
        client: this.client,
        server,
      });
    });
    return null;
  }
}
