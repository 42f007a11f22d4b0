/**
 * Which upstream response headers reach the client. The frontend frames the body and writes
 * Date itself (as nginx does), so those are dropped with the hop-by-hop headers; a second
 * Content-Length or Transfer-Encoding from us would corrupt the response.
 */
import { addConnectionTokens, equalsLower, isHopByHop } from './hop-by-hop.js';

/**
 * Filter a flat `[name, value, ...]` response header array whose names are in the server's
 * spelling. Repeated headers (two Set-Cookie) stay repeated and in order.
 *
 * The result is written into `out`, which is truncated first. Pass the input itself as `out` to
 * compact it in place without allocating: entries are only ever moved towards the front.
 * By default a new array is returned and the input is left alone.
 */
export function filterResponseHeaders(flat: readonly string[], out: string[] = []): string[] {
  let listed: string[] | null = null;
  let w = 0;
  for (let r = 0; r < flat.length; r += 2) {
    const name = flat[r]!;
    switch (classify(name)) {
      case DROP:
        continue;
      case CONNECTION:
        listed = addConnectionTokens(flat[r + 1]!, listed);
        continue;
    }
    out[w++] = name;
    out[w++] = flat[r + 1]!;
  }
  out.length = w;
  // Connection may come after the names it lists; the rare response that lists any pays for a
  // second pass over what was kept rather than every response paying for a look-ahead.
  return listed === null ? out : dropListed(out, listed);
}

const KEEP = 0;
const DROP = 1;
const CONNECTION = 2;

function classify(name: string): number {
  if (isHopByHop(name)) return equalsLower(name, 'connection') ? CONNECTION : DROP;
  const n = name.length;
  if (n === 4) return equalsLower(name, 'date') ? DROP : KEEP;
  return n === 14 && equalsLower(name, 'content-length') ? DROP : KEEP;
}

function dropListed(headers: string[], listed: readonly string[]): string[] {
  let w = 0;
  for (let r = 0; r < headers.length; r += 2) {
    const name = headers[r]!;
    if (isListed(name, listed)) continue;
    headers[w++] = name;
    headers[w++] = headers[r + 1]!;
  }
  headers.length = w;
  return headers;
}

function isListed(name: string, listed: readonly string[]): boolean {
  for (let i = 0; i < listed.length; i++) {
    if (equalsLower(name, listed[i]!)) return true;
  }
  return false;
}
