/**
 * One copy of a uWS request, shared by the HTTP and the WebSocket handlers: uWS's `req` dies with
 * the handler's tick, so method, target, headers and the client's address are copied out once,
 * and in the same pass over the headers the head is judged: what uWS 20.30 would mis-frame
 * (request smuggling), and the limits and Host rules every frontend applies (core checkHead).
 *
 * What uWS never hands us cannot be judged here: HTTP/1.0, absolute-form targets, obs-fold, more
 * than ~48 header lines, a head over 4 KiB that arrives in pieces, ... (docs/http-edge.md).
 */
import {
  HeadMeter,
  normalizeAddress,
  REFUSE_FRAMING,
  type ClientRequest,
  type HeadRefusal,
  type RequestLimits,
} from '@portcullis/core';
import type { HttpRequest, HttpResponse } from 'uWebSockets.js';

/** A request as the core sees it, with the frontend's verdict on its head. */
export interface UwsRequest extends ClientRequest {
  /** Why the request is answered here and never proxied (framing, limits, Host), or null. */
  refusal: HeadRefusal | null;
}

const decoder = new TextDecoder('latin1');

// The pass over the headers (forEach) writes into these; one request is copied at a time, all of it
// synchronously, so a module-level visitor needs no closure per request.
let headers: string[] = [];
let contentLength = -1;
let lengthCount = 0;
let te: string | undefined;
let teCount = 0;
let badLength = false;
const meter = new HeadMeter();

function visit(name: string, value: string): void {
  headers.push(name, value);
  // The field line as sent, `name: value`; uWS has already trimmed the value's whitespace.
  meter.field(name, value);
  switch (name) {
    case 'content-length': {
      const n = isDigits(value) ? Number(value) : -1;
      // Two different lengths: uWS frames by the first and would parse the rest as a new request.
      if (n < 0 || (lengthCount > 0 && n !== contentLength)) badLength = true;
      contentLength = n;
      lengthCount++;
      break;
    }
    case 'transfer-encoding':
      te = value;
      teCount++;
      break;
  }
}

/** 1 to 15 ASCII digits: a Content-Length a double holds exactly. */
function isDigits(value: string): boolean {
  const n = value.length;
  if (n === 0 || n > 15) return false;
  for (let i = 0; i < n; i++) {
    const c = value.charCodeAt(i);
    if (c < 48 || c > 57) return false;
  }
  return true;
}

// The last IPv4 client and its text: a worker sees the same few clients request after request.
const lastPeer = new Uint8Array(4);
let lastPeerText = '';

/**
 * The client's address as text (IPv4-mapped IPv6 unwrapped, as normalizeAddress does). An IPv4
 * client's is formatted here from uWS's binary form: the text form costs a libc sprintf
 * (inet_ntop) and a UTF-8 decode per request, measured as about 2,000 instructions.
 */
function peerAddress(res: HttpResponse): string {
  const raw = new Uint8Array(res.getRemoteAddress());
  let o = 0;
  if (raw.length === 16) {
    if (!isMappedIPv4(raw)) return formatIPv6(raw);
    o = 12;
  } else if (raw.length !== 4) return normalizeAddress(decoder.decode(res.getRemoteAddressAsText()));
  const a = raw[o]!;
  const b = raw[o + 1]!;
  const c = raw[o + 2]!;
  const d = raw[o + 3]!;
  if (a !== lastPeer[0] || b !== lastPeer[1] || c !== lastPeer[2] || d !== lastPeer[3] || lastPeerText === '') {
    lastPeer[0] = a;
    lastPeer[1] = b;
    lastPeer[2] = c;
    lastPeer[3] = d;
    lastPeerText = `${a}.${b}.${c}.${d}`;
  }
  return lastPeerText;
}

/**
 * An IPv6 address in RFC 5952 text: lower-case hex groups without leading zeros, the longest run
 * of two or more zero groups (the first of equal runs) as `::`. (uWS 20.30's text form writes all
 * eight groups in full, `0000:...:0001`.)
 */
export function formatIPv6(raw: Uint8Array): string {
  let bestAt = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; ) {
    if (raw[2 * i] !== 0 || raw[2 * i + 1] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && raw[2 * j] === 0 && raw[2 * j + 1] === 0) j++;
    if (j - i > bestLen) {
      bestAt = i;
      bestLen = j - i;
    }
    i = j;
  }
  let out = '';
  for (let i = 0; i < 8; i++) {
    if (i === bestAt) {
      out += '::';
      i += bestLen - 1;
      continue;
    }
    if (out !== '' && !out.endsWith(':')) out += ':';
    out += ((raw[2 * i]! << 8) | raw[2 * i + 1]!).toString(16);
  }
  return out;
}

/** `::ffff:a.b.c.d` (RFC 4291 2.5.5.2). */
function isMappedIPv4(raw: Uint8Array): boolean {
  for (let i = 0; i < 10; i++) if (raw[i] !== 0) return false;
  return raw[10] === 0xff && raw[11] === 0xff;
}

/** Copy `req` (valid only now) into the core's request, with the verdict on its head. */
export function copyRequest(res: HttpResponse, req: HttpRequest, scheme: 'http' | 'https', limits: RequestLimits): UwsRequest {
  // getCaseSensitiveMethod first: getMethod lower-cases the method in place.
  const method = req.getCaseSensitiveMethod();
  const query = req.getQuery();
  const url = query ? `${req.getUrl()}?${query}` : req.getUrl();

  headers = [];
  contentLength = -1;
  lengthCount = 0;
  te = undefined;
  teCount = 0;
  badLength = false;
  // uWS 20.30 takes HTTP/1.1 request lines only, and then requires Host: never optional here.
  meter.start(url.length, false);
  req.forEach(visit);
  const list = headers;
  headers = [];
  const host = meter.host;
  // Written by visit(): TypeScript cannot see that forEach called it.
  const encoding = te as string | undefined;
  let refusal = meter.judge(limits);
  // uWS treats any Transfer-Encoding as chunked: only exactly `chunked`, alone, is framed right.
  if (refusal === null && (badLength || (encoding !== undefined && (teCount > 1 || encoding.toLowerCase() !== 'chunked' || lengthCount > 0)))) {
    refusal = REFUSE_FRAMING;
  }
  const chunked = encoding !== undefined;
  return {
    method,
    url,
    headers: list,
    host,
    // A refused request is never proxied nor logged with its peer: spare the getpeername.
    remoteAddress: refusal === null ? peerAddress(res) : '',
    scheme,
    body: chunked ? 'chunked' : contentLength > 0 ? 'length' : 'none',
    contentLength: !chunked && contentLength > 0 ? contentLength : 0,
    // uWS decodes header bytes as UTF-8 and encodes strings back the same way.
    headerEncoding: 'utf8',
    refusal,
  };
}
