/**
 * An upstream's HTTP/1.1 response head as an HTTP/2 header block (RFC 9113 8.2.2, 8.3.2): no
 * reason phrase, names lower-case, connection-specific fields never sent (the core already drops
 * the hop-by-hop ones and whatever Connection lists; `http2-settings` is dropped here too, as
 * node:http2 refuses to send any of them and would throw).
 *
 * node:http2 takes headers as an object: repeated fields become arrays, except the fields Node
 * allows once only (it throws on a second Content-Type, say); of those the first is kept, as
 * HTTP/1.1 recipients do in practice.
 */
import type { OutgoingHttpHeaders } from 'node:http2';
import { isExtraName } from '../headers/extra-headers.js';

/** node:http2's single-value fields (lib/internal/http2/util.js, kSingleValueHeaders). */
const SINGLE = new Set([
  'access-control-allow-credentials',
  'access-control-max-age',
  'access-control-request-method',
  'age',
  'authorization',
  'content-encoding',
  'content-language',
  'content-length',
  'content-location',
  'content-md5',
  'content-range',
  'content-type',
  'date',
  'dnt',
  'etag',
  'expires',
  'from',
  'host',
  'if-match',
  'if-modified-since',
  'if-none-match',
  'if-range',
  'if-unmodified-since',
  'last-modified',
  'location',
  'max-forwards',
  'proxy-authorization',
  'range',
  'referer',
  'retry-after',
  'tk',
  'upgrade-insecure-requests',
  'user-agent',
  'x-content-type-options',
]);

/**
 * Lower-case spellings of the header names seen, by the upstream's spelling: a name comes back as
 * the same string each time, so it is hashed and internalized as a property key once, not once
 * per response (`toLowerCase()` makes a new string each time, and V8 must look each up in its
 * string table to use it as a key: measured with callgrind, 2-3k instructions per response).
 * Bounded: past `MAX_NAMES`, names are lower-cased without being kept.
 */
const lowerNames = new Map<string, string>();
const MAX_NAMES = 1024;

function lowerName(name: string): string {
  let lower = lowerNames.get(name);
  if (lower === undefined) {
    lower = name.toLowerCase();
    if (lowerNames.size < MAX_NAMES) lowerNames.set(name, lower);
  }
  return lower;
}

/**
 * Never on HTTP/2: node:http2 throws ERR_HTTP2_INVALID_CONNECTION_HEADERS for each. The core has
 * dropped the hop-by-hop ones already (and whatever Connection lists); HTTP2-Settings is not one.
 */
function connectionSpecific(name: string): boolean {
  switch (name.length) {
    case 2:
      return name === 'te';
    case 7:
      return name === 'upgrade';
    case 10:
      return name === 'connection' || name === 'keep-alive';
    case 14:
      return name === 'http2-settings';
    case 16:
      return name === 'proxy-connection';
    case 17:
      return name === 'transfer-encoding';
    default:
      return false;
  }
}

/**
 * The block for `status` and the flat `[name, value, ...]` upstream `headers`, with `extra`
 * (lower-case names: HSTS) replacing any upstream field of the same name.
 */
export function h2ResponseHeaders(status: number, headers: readonly string[], extra: readonly string[]): OutgoingHttpHeaders {
  const out: OutgoingHttpHeaders = { ':status': status };
  for (let i = 0; i < headers.length; i += 2) {
    const name = lowerName(headers[i]!);
    if (connectionSpecific(name) || name.charCodeAt(0) === 58 /* : */ || (extra.length !== 0 && isExtraName(name, extra))) continue;
    const value = headers[i + 1]!;
    const had = out[name];
    if (had === undefined) out[name] = value;
    else if (SINGLE.has(name)) continue;
    else if (Array.isArray(had)) had.push(value);
    else out[name] = [had as string, value];
  }
  for (let i = 0; i < extra.length; i += 2) out[extra[i]!] = extra[i + 1]!;
  return out;
}
