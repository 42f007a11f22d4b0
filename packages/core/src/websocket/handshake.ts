/**
 * The WebSocket opening handshake (RFC 6455 section 4) as the proxy sees it: is a client request
 * one, and is an upstream's 101 a valid answer to the request we sent for it.
 */
import { createHash } from 'node:crypto';
import { equalsLower, isHopByHop } from '../headers/hop-by-hop.js';
import type { ResponseHead } from '../http1/response-parser.js';
import { acceptDeflate } from './deflate.js';

/** RFC 6455 1.3. */
const GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';

/** `Sec-WebSocket-Accept` for a `Sec-WebSocket-Key`. */
export function acceptFor(key: string): string {
  return createHash('sha1').update(key + GUID).digest('base64');
}

/** What the proxy keeps of a client's opening handshake. */
export interface ClientHandshake {
  key: string;
  /** Every protocol the client offered, in order (all Sec-WebSocket-Protocol headers). */
  protocols: string[];
  /** The client's Sec-WebSocket-Extensions, joined ('' when none). */
  extensions: string;
}

/** 16 random bytes in base64: 22 characters and `==` (RFC 6455 4.1, item 7). */
const KEY = /^[A-Za-z0-9+/]{21}[AQgw]==$/;

/**
 * The handshake when `headers` (flat, names lower-case) carry a valid WebSocket opening handshake
 * on a GET: `Upgrade: websocket`, `Connection: upgrade`, a well-formed `Sec-WebSocket-Key` and
 * `Sec-WebSocket-Version: 13`. Anything else (h2c, a bad key, another version) is null: the
 * request is then proxied as plain HTTP, its Upgrade dropped as hop-by-hop.
 */
export function clientHandshake(method: string, headers: readonly string[]): ClientHandshake | null {
  if (method !== 'GET') return null;
  let upgrade = false;
  let connection = false;
  let key: string | null = null;
  let keys = 0;
  let version = false;
  let protocols: string[] | null = null;
  let extensions = '';
  for (let i = 0; i < headers.length; i += 2) {
    const name = headers[i]!;
    const value = headers[i + 1]!;
    switch (name) {
      case 'upgrade':
        if (hasToken(value, 'websocket')) upgrade = true;
        break;
      case 'connection':
        if (hasToken(value, 'upgrade')) connection = true;
        break;
      case 'sec-websocket-key':
        key = value.trim();
        keys++;
        break;
      case 'sec-websocket-version':
        version = value.trim() === '13';
        break;
      case 'sec-websocket-protocol':
        for (const p of value.split(',')) {
          const t = p.trim();
          if (t !== '') (protocols ??= []).push(t);
        }
        break;
      case 'sec-websocket-extensions':
        extensions = extensions === '' ? value : `${extensions}, ${value}`;
        break;
    }
  }
  if (!upgrade || !connection || !version || keys !== 1 || key === null || !KEY.test(key)) return null;
  return { key, protocols: protocols ?? [], extensions };
}

/** A comma-separated header value lists `token` (case-insensitive). */
export function hasToken(value: string, token: string): boolean {
  if (equalsLower(value, token)) return true;
  for (const part of value.split(',')) if (equalsLower(part.trim(), token)) return true;
  return false;
}

/**
 * What the upstream may answer in Sec-WebSocket-Extensions: nothing (nothing was offered), the
 * client's own offer (a byte tunnel), or the proxy's permessage-deflate offer.
 */
export type ExtensionMode = 'none' | 'pass' | 'deflate';

/** A valid 101: what the client hop needs from it. */
export interface SwitchedHead {
  /** The subprotocol the upstream chose, or ''. */
  protocol: string;
  /** The upstream's Sec-WebSocket-Extensions ('' when none). */
  extensions: string;
  /** The upstream accepted the proxy's permessage-deflate offer. */
  deflate: boolean;
  /**
   * The upstream's other response headers for the client's 101 (Set-Cookie and the like):
   * flat, upstream spelling and order, without the handshake and hop-by-hop ones.
   */
  headers: string[];
}

/**
 * Check an upstream's 101 against the request we sent (RFC 6455 4.1, the client's checks):
 * `Upgrade: websocket`, `Connection: upgrade`, the Accept derived from our key, a subprotocol
 * among those offered, and extensions only if we offered any. Returns the problem as text when
 * the 101 is not valid (the client then gets 502).
 */
export function checkSwitch(head: ResponseHead, key: string, offered: readonly string[], extensionMode: ExtensionMode): SwitchedHead | string {
  let upgrade = false;
  let accept: string | null = null;
  let protocol: string | null = null;
  let protocolCount = 0;
  let extensions = '';
  const keep: string[] = [];
  const h = head.headers;
  for (let i = 0; i < h.length; i += 2) {
    const name = h[i]!;
    const value = h[i + 1]!;
    const lower = name.toLowerCase();
    switch (lower) {
      case 'upgrade':
        upgrade = equalsLower(value.trim(), 'websocket');
        continue;
      case 'sec-websocket-accept':
        accept = value.trim();
        continue;
      case 'sec-websocket-protocol':
        protocol = value.trim();
        protocolCount++;
        continue;
      case 'sec-websocket-extensions':
        extensions = extensions === '' ? value : `${extensions}, ${value}`;
        continue;
      case 'content-length':
      case 'date':
        continue;
    }
    // The client's 101 is the frontend's own: this hop's connection headers stay here.
    if (!isHopByHop(lower)) keep.push(name, value);
  }
  if (!head.upgrade) return 'the 101 has no "Connection: upgrade"';
  if (!upgrade) return 'the 101 has no "Upgrade: websocket"';
  if (accept === null) return 'the 101 has no Sec-WebSocket-Accept';
  if (accept !== acceptFor(key)) return 'the 101 has a Sec-WebSocket-Accept that does not match the key sent';
  if (protocolCount > 1 || (protocol !== null && !offered.includes(protocol))) {
    return `the 101 chose subprotocol ${JSON.stringify(protocol)}, which the client did not offer`;
  }
  let deflate = false;
  if (extensionMode === 'deflate') {
    const accepted = acceptDeflate(extensions);
    if (typeof accepted === 'string') return accepted;
    deflate = accepted;
  } else if (extensions !== '' && extensionMode === 'none') {
    return `the 101 enabled extensions (${extensions}) that were not offered`;
  }
  return { protocol: protocol ?? '', extensions, deflate, headers: keep };
}
