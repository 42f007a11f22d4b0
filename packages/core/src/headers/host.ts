/**
 * Host names and authorities: the one `host:port` formatter (IPv6 literals in brackets, as in a
 * URI authority, RFC 3986 3.2.2) used by logs, the default upstream Host and listener labels; and
 * the checks every frontend applies to a request head before the core sees it (the Host field,
 * RFC 9110 7.2 / RFC 9112 3.2, and the size limits), so that both frontends refuse the same
 * requests with the same answers.
 */
import { isIPv6 } from 'node:net';
import type { RequestLimits } from '../config/options.js';

/** `host:port`, with an IPv6 literal in brackets (`[::1]:8080`). */
export function formatHostPort(host: string, port: number): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}

// RFC 3986 reg-name characters: unreserved (ALPHA DIGIT - . _ ~) and sub-delims
// (! $ & ' ( ) * + , ; =). Percent-encoding, which RFC 3986 also allows, is left out on purpose:
// the router matches the name as written while an origin may decode it, and a Host that routes
// one way and reads another is what the check is there to stop. No client sends one (names
// outside ASCII travel as IDNA `xn--` labels).
const REG_NAME = new Uint8Array(128);
for (let c = 0; c < 128; c++) {
  const alnum = (c >= 48 && c <= 57) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122);
  if (alnum || "-._~!$&'()*+,;=".includes(String.fromCharCode(c))) REG_NAME[c] = 1;
}

/**
 * Whether `value` is a valid Host field value, `uri-host [ ":" port ]`: a non-empty reg-name (an
 * IPv4 address is one) or a bracketed IPv6 address, then optionally a colon and a port of at most
 * 5 digits up to 65535 (RFC 3986 allows any digits; an origin that wraps a larger one would read
 * another port than the one routed on). IPvFuture and zone IDs are refused. One pass over the
 * characters, no allocation but for a bracketed literal.
 */
export function checkHost(value: string): boolean {
  const n = value.length;
  if (n === 0) return false;
  let i = 0;
  if (value.charCodeAt(0) === 91 /* [ */) {
    const close = value.indexOf(']');
    if (close < 3) return false;
    for (i = 1; i < close; i++) {
      const c = value.charCodeAt(i);
      const hex = (c >= 48 && c <= 58) /* 0-9 : */ || (c >= 65 && c <= 70) || (c >= 97 && c <= 102) || c === 46;
      if (!hex) return false;
    }
    if (!isIPv6(value.slice(1, close))) return false;
    i = close + 1;
  } else {
    for (; i < n; i++) {
      const c = value.charCodeAt(i);
      if (c === 58 /* : */) break;
      if (c >= 128 || REG_NAME[c] === 0) return false;
    }
    if (i === 0) return false;
  }
  if (i === n) return true;
  if (value.charCodeAt(i) !== 58) return false;
  // An empty port (`example.com:`) is allowed by RFC 3986 and means the default one.
  const digits = n - i - 1;
  if (digits > 5) return false;
  let port = 0;
  for (i++; i < n; i++) {
    const c = value.charCodeAt(i);
    if (c < 48 || c > 57) return false;
    port = port * 10 + (c - 48);
  }
  return port <= 65535;
}

/** Why a request head is refused before it reaches the core: status, reason and a one-line body. */
export interface HeadRefusal {
  readonly status: 400 | 414 | 431;
  readonly reason: string;
  readonly message: string;
}

// One object each, made once: a refusal allocates nothing on the way to its answer.
export const REFUSE_URL: HeadRefusal = { status: 414, reason: 'URI Too Long', message: '414 URI Too Long: the request target is longer than limits.max_url_length\n' };
export const REFUSE_HEADER_LINE: HeadRefusal = {
  status: 431,
  reason: 'Request Header Fields Too Large',
  message: '431 Request Header Fields Too Large: a header field is longer than limits.max_header_size\n',
};
export const REFUSE_HEADERS: HeadRefusal = {
  status: 431,
  reason: 'Request Header Fields Too Large',
  message: '431 Request Header Fields Too Large: more header bytes or fields than limits.max_headers_size or limits.max_headers\n',
};
export const REFUSE_HOST_MISSING: HeadRefusal = { status: 400, reason: 'Bad Request', message: '400 Bad Request: an HTTP/1.1 request without a Host header\n' };
export const REFUSE_HOST_TWICE: HeadRefusal = { status: 400, reason: 'Bad Request', message: '400 Bad Request: more than one Host header\n' };
export const REFUSE_HOST_INVALID: HeadRefusal = { status: 400, reason: 'Bad Request', message: '400 Bad Request: the Host header is not a valid host[:port]\n' };
export const REFUSE_TARGET: HeadRefusal = { status: 400, reason: 'Bad Request', message: '400 Bad Request: the request target is not a path or an http(s) URL with a valid host\n' };
export const REFUSE_FRAMING: HeadRefusal = { status: 400, reason: 'Bad Request', message: '400 Bad Request: ambiguous message framing\n' };

/**
 * What a frontend measured of a request head while copying it: the request-target's length, the
 * header field lines (each `name: value`, counted as name + 2 + value characters), the Host
 * fields, and whether the request may go without a Host (HTTP/1.0, RFC 9112 3.2).
 */
export interface HeadMeasure {
  urlLength: number;
  fields: number;
  /** Sum of the field lines' sizes. */
  fieldBytes: number;
  /** The longest field line. */
  longestField: number;
  hostCount: number;
  /** The (first) Host value, or undefined. */
  host: string | undefined;
  hostOptional: boolean;
}

/**
 * Measures a request head while a frontend copies it, field line by field line, then judges it
 * (checkHead). One per frontend module: a request is measured and judged synchronously, so the
 * meter is reused and a request allocates nothing for it.
 */
export class HeadMeter implements HeadMeasure {
  urlLength = 0;
  fields = 0;
  fieldBytes = 0;
  longestField = 0;
  hostCount = 0;
  host: string | undefined = undefined;
  hostOptional = false;

  /** Start a request: its target's length, and whether it may omit Host (HTTP/1.0). */
  start(urlLength: number, hostOptional: boolean): void {
    this.urlLength = urlLength;
    this.hostOptional = hostOptional;
    this.fields = 0;
    this.fieldBytes = 0;
    this.longestField = 0;
    this.hostCount = 0;
    this.host = undefined;
  }

  /** One field line; `name` lower-case. True when it is the first Host field. */
  field(name: string, value: string): boolean {
    const size = name.length + 2 + value.length;
    this.fields++;
    this.fieldBytes += size;
    if (size > this.longestField) this.longestField = size;
    if (name !== 'host' || this.hostCount++ !== 0) return false;
    this.host = value;
    return true;
  }

  /** The verdict (see checkHead); the meter lets go of the Host value. */
  judge(limits: RequestLimits): HeadRefusal | null {
    const refusal = checkHead(this, limits);
    this.host = undefined;
    return refusal;
  }
}

/**
 * The refusal for a request head, or null to proxy it: 414 for a long target, 431 for a field line
 * or all fields past the limits, 400 for a missing (HTTP/1.1), repeated or malformed Host. In the
 * order nginx reads a head: the request line, the sizes, then the Host.
 */
export function checkHead(m: HeadMeasure, limits: RequestLimits): HeadRefusal | null {
  if (m.urlLength > limits.maxUrlLength) return REFUSE_URL;
  if (m.longestField > limits.maxHeaderSize) return REFUSE_HEADER_LINE;
  if (m.fieldBytes > limits.maxHeadersSize || m.fields > limits.maxHeaders) return REFUSE_HEADERS;
  if (m.hostCount === 0) return m.hostOptional ? null : REFUSE_HOST_MISSING;
  if (m.hostCount > 1) return REFUSE_HOST_TWICE;
  return checkHost(m.host!) ? null : REFUSE_HOST_INVALID;
}
