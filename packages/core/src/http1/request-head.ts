/**
 * The HTTP/1.1 request head sent upstream, built as one string in one pass over the client's
 * headers: what must not cross the proxy is dropped, what the proxy vouches for is appended.
 */
import { addConnectionTokens, connectionListedNames, isHopByHop } from '../headers/hop-by-hop.js';
import { forwardedElement, isTrusted, type CompiledForwarding } from '../headers/forwarded.js';

export interface RequestHeadInput {
  /** As received, case-sensitive. */
  method: string;
  /** Origin-form path and query to send upstream (the router already stripped a prefix). */
  target: string;
  /** The client's headers as `[name0, value0, name1, value1, ...]`, names lower-case. */
  headers: string[];
  /** Client socket address (normalised). */
  peer: string;
  /** Scheme of the client connection. */
  scheme: 'http' | 'https';
  forwarding: CompiledForwarding;
  /** Host sent upstream instead of the client's (default: the client's, unchanged). */
  hostHeader?: string;
  /** Host sent when the client sent none: `host:port` of the upstream server. */
  defaultHost: string;
  /** A WebSocket handshake: send `connection: upgrade` and `upgrade: websocket`. */
  upgrade: boolean;
  /** How the request body is framed upstream. */
  body: 'none' | 'length' | 'chunked';
  /** The body length when `body` is `'length'`. */
  contentLength: number;
}

/** The full request head, from the request line to the empty line (CRLFCRLF) that ends it. */
export function serializeRequestHead(input: RequestHeadInput): string {
  // Connection rarely lists anything but keep-alive/close/upgrade, so the first pass assumes it
  // does not and only a request whose Connection names other headers pays for a second one.
  return build(input, null) ?? build(input, connectionListedNames(input.headers))!;
}

// What the pass does with a client header; everything else is copied as received.
const KEEP = 0;
const DROP = 1; // hop-by-hop, and framing the proxy sets itself
const CONNECTION = 2;
const HOST = 3;
const XFF = 4;
const XFP = 5;
const XFH = 6;
const X_FORWARDED_OTHER = 7;
const FORWARDED = 8;
const VIA = 9;

function classify(name: string): number {
  // Hop-by-hop names come from their one definition; Connection also lists more to drop.
  if (isHopByHop(name)) return name === 'connection' ? CONNECTION : DROP;
  // One integer switch rejects most names before any string compare.
  switch (name.length) {
    case 3:
      return name === 'via' ? VIA : KEEP;
    case 4:
      return name === 'host' ? HOST : KEEP;
    case 6:
      return name === 'expect' ? DROP : KEEP;
    case 9:
      return name === 'forwarded' ? FORWARDED : KEEP;
    case 14:
      return name === 'content-length' ? DROP : KEEP;
    case 15:
      return name === 'x-forwarded-for' ? XFF : xForwardedOther(name);
    case 16:
      return name === 'x-forwarded-host' ? XFH : xForwardedOther(name);
    case 17:
      return name === 'x-forwarded-proto' ? XFP : xForwardedOther(name);
    default:
      return name.length > 12 ? xForwardedOther(name) : KEEP;
  }
}

function xForwardedOther(name: string): number {
  return name.charCodeAt(0) === 120 && name.startsWith('x-forwarded-') ? X_FORWARDED_OTHER : KEEP;
}

/** The head, or null when `listed` is null and a Connection header turned out to list names. */
function build(input: RequestHeadInput, listed: string[] | null): string | null {
  const headers = input.headers;
  const forwarding = input.forwarding;
  const trusted = isTrusted(input.peer, forwarding);
  const joinForwarded = forwarding.forwarded;
  const ownVia = forwarding.via;

  let head = '';
  let clientHost: string | undefined;
  let xff = '';
  let forwarded = '';
  let via = '';
  let keptProto = false;
  let keptHost = false;

  for (let i = 0; i < headers.length; i += 2) {
    const name = headers[i]!;
    const value = headers[i + 1]!;
    if (listed !== null && listed.includes(name)) continue;
    switch (classify(name)) {
      case KEEP:
        break;
      case DROP:
        continue;
      case CONNECTION:
        if (listed === null && addConnectionTokens(value, null) !== null) return null;
        continue;
      case HOST:
        // A second Host is a malformed request (RFC 9112 §3.2); the first is the one routed on.
        if (clientHost === undefined) clientHost = value;
        continue;
      case XFF:
        // Re-emitted below with the peer appended, as one list.
        if (trusted) xff = join(xff, value);
        continue;
      case XFP:
        if (!trusted) continue;
        keptProto = true;
        break;
      case XFH:
        if (!trusted) continue;
        keptHost = true;
        break;
      case X_FORWARDED_OTHER:
        if (!trusted) continue;
        break;
      case FORWARDED:
        if (!trusted) continue;
        if (!joinForwarded) break;
        forwarded = join(forwarded, value);
        continue;
      case VIA:
        if (ownVia === null) break;
        via = join(via, value);
        continue;
    }
    head += name + ': ' + value + '\r\n';
  }

  if (clientHost === '') clientHost = undefined;
  const peer = input.peer;
  const scheme = input.scheme;
  // Host first, as RFC 9112 §3.2 asks of clients; some origin servers expect it there.
  let out =
    input.method + ' ' + input.target + ' HTTP/1.1\r\nhost: ' +
    (input.hostHeader ?? clientHost ?? input.defaultHost) + '\r\n' + head +
    'x-forwarded-for: ' + join(xff, peer) + '\r\n';
  if (!keptProto) out += 'x-forwarded-proto: ' + scheme + '\r\n';
  if (!keptHost && clientHost !== undefined) out += 'x-forwarded-host: ' + clientHost + '\r\n';
  if (joinForwarded) {
    const element = forwardedElement(peer, scheme, clientHost);
    out += 'forwarded: ' + join(forwarded, element) + '\r\n';
  }
  if (ownVia !== null) out += 'via: ' + join(via, ownVia) + '\r\n';

  switch (input.body) {
    case 'length':
      out += 'content-length: ' + input.contentLength + '\r\n';
      break;
    case 'chunked':
      out += 'transfer-encoding: chunked\r\n';
      break;
    case 'none':
      // Servers may wait for a body (or answer 411) on a POST/PUT/PATCH that announces none.
      if (input.method === 'POST' || input.method === 'PUT' || input.method === 'PATCH') {
        out += 'content-length: 0\r\n';
      }
      break;
  }
  // No Connection header otherwise: HTTP/1.1 keeps the pooled socket alive by default.
  return input.upgrade ? out + 'connection: upgrade\r\nupgrade: websocket\r\n\r\n' : out + '\r\n';
}

/** Append to a comma-separated list; an empty header value adds no empty element. */
function join(list: string, value: string): string {
  if (value === '') return list;
  return list === '' ? value : list + ', ' + value;
}
