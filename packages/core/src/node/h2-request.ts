/**
 * An HTTP/2 request as the core sees it (RFC 9113 8.2, 8.3, 8.3.1): the stream's header list turned
 * into the ClientRequest an HTTP/1.1 upstream is sent, or why the stream is refused.
 *
 * - Host comes from `:authority`. A Host field beside it is dropped: when the two differ, the
 *   field is the one a client (or an attacker behind a sloppy client library) can set apart from
 *   the TLS name and the authority the connection was coalesced on, so it is never trusted.
 *   Without `:authority` the Host field is used, as RFC 9113 8.3.1 allows.
 * - Cookie crumbs (h2 clients split Cookie into one field per pair for HPACK) are joined with
 *   `; ` into the one Cookie field HTTP/1.1 allows (8.2.3).
 * - Connection-specific fields (Connection, Keep-Alive, Proxy-Connection, Transfer-Encoding,
 *   Upgrade) and TE other than `trailers` make the request malformed (8.2.2): a stream error.
 *   nghttp2 (inside node:http2) resets such streams before Node emits them; this check stays so
 *   that a Node built without HTTP messaging checks cannot smuggle them upstream.
 * - The request's size is measured with the same HeadMeter and limits as an HTTP/1.1 head.
 */
import { normalizeAddress } from '../headers/cidr.js';
import { HeadMeter, REFUSE_TARGET, type HeadRefusal } from '../headers/host.js';
import { limitDefaults, type RequestLimits } from '../config/options.js';
import type { ClientRequest } from '../exchange/contract.js';

/** A stream that is not a request this proxy can carry: reset with PROTOCOL_ERROR (8.1.1). */
export const MALFORMED = { malformed: true as const };
export type Malformed = typeof MALFORMED;

/** An extended CONNECT (RFC 8441) and what it asks for. */
export interface ExtendedConnect {
  request: ClientRequest;
  /** `:protocol`, e.g. `websocket`. */
  protocol: string;
}

export type H2RequestOutcome = ClientRequest | HeadRefusal | Malformed | ExtendedConnect;

/** A plain CONNECT (a TCP tunnel, RFC 9113 8.5): a forward proxy's job, not a reverse proxy's. */
export const REFUSE_CONNECT: HeadRefusal = {
  status: 400,
  reason: 'Bad Request',
  message: '400 Bad Request: CONNECT tunnels are not offered here; only extended CONNECT for WebSockets (RFC 8441)\n',
};

const meter = new HeadMeter();

/**
 * Convert a stream's raw header list (flat `[name, value, ...]`, pseudo-headers first, names
 * lower-case as HTTP/2 requires). `endStream`: the HEADERS frame ended the stream (no body).
 */
export function h2ClientRequest(raw: readonly string[], endStream: boolean, remoteAddress: string, limits: RequestLimits = limitDefaults): H2RequestOutcome {
  let method = '';
  let path = '';
  let authority: string | undefined;
  let protocol: string | undefined;
  let hostField: string | undefined;
  let contentLength = -1;
  let cookie: string | null = null;
  const headers: string[] = [];
  meter.start(0, false);
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!;
    const value = raw[i + 1]!;
    if (name.charCodeAt(0) === 58 /* : */) {
      if (name === ':method') method = value;
      else if (name === ':path') path = value;
      else if (name === ':authority') authority = value;
      else if (name === ':protocol') protocol = value;
      // :scheme is the client's view (https here); the upstream hop has its own.
      continue;
    }
    switch (name) {
      case 'connection':
      case 'keep-alive':
      case 'proxy-connection':
      case 'transfer-encoding':
      case 'upgrade':
        return MALFORMED;
      case 'te':
        if (value.trim().toLowerCase() !== 'trailers') return MALFORMED;
        continue; // hop-by-hop all the same: never sent upstream
      case 'host':
        if (hostField === undefined) hostField = value;
        continue;
      case 'cookie':
        cookie = cookie === null ? value : `${cookie}; ${value}`;
        continue;
      case 'content-length':
        // Digits only (RFC 9110 8.6); leading zeros allowed, as nghttp2 allows them, and at most
        // 15 significant digits so that Number() is exact.
        if (contentLength >= 0 || !/^0*[0-9]{1,15}$/.test(value)) return MALFORMED;
        contentLength = Number(value);
        break;
    }
    meter.field(name, value);
    headers.push(name, value);
  }
  const host = authority ?? hostField;
  const connect = method === 'CONNECT';
  if (connect && protocol === undefined) return REFUSE_CONNECT;
  // Extended CONNECT carries :path (RFC 8441 4); plain requests must have it.
  if (method === '' || path === '') return MALFORMED;
  meter.urlLength = path.length;
  if (host !== undefined) {
    meter.field('host', host);
    headers.push('host', host);
  }
  if (cookie !== null) {
    meter.field('cookie', cookie);
    headers.push('cookie', cookie);
  }
  const refused = meter.judge(limits);
  if (refused !== null) return refused;
  if (path.charCodeAt(0) !== 47 /* / */ && !(path === '*' && method === 'OPTIONS')) return REFUSE_TARGET;
  const request: ClientRequest = {
    method: connect ? 'GET' : method,
    url: path,
    headers,
    host,
    remoteAddress,
    scheme: 'https',
    body: contentLength > 0 ? 'length' : contentLength === 0 || endStream ? 'none' : 'chunked',
    contentLength: contentLength > 0 ? contentLength : 0,
    // node:http2 hands header values over as latin1 strings: written back as latin1, exact bytes.
    headerEncoding: 'latin1',
  };
  if (connect) return { request, protocol: protocol! };
  return request;
}

export function isExtendedConnect(r: H2RequestOutcome): r is ExtendedConnect {
  return 'protocol' in r;
}

export function isMalformed(r: H2RequestOutcome): r is Malformed {
  return 'malformed' in r;
}

/** The peer address of a session's socket, IPv4-mapped IPv6 unwrapped. */
export function peerAddress(address: string | undefined): string {
  return normalizeAddress(address ?? '');
}
