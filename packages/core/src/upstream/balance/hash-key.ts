/**
 * The key the `hash` policy hashes, read from a request. An absent key (no such header or cookie)
 * is `undefined`; so is an empty one, which would otherwise send every such client to one server.
 */
import type { HashKey } from '../../config/options.js';
import type { ClientRequest } from '../../exchange/contract.js';

export type KeyReader = (req: ClientRequest) => string | undefined;

/**
 * `clientAddress`: the client as the trust rules see it (the forwarded address behind a trusted
 * proxy), so clients behind one trusted load balancer are not all hashed to one server.
 */
export function keyReader(key: HashKey, clientAddress: (req: ClientRequest) => string): KeyReader {
  switch (key.kind) {
    case 'client_ip':
      return (req) => clientAddress(req) || undefined;
    case 'uri':
      return (req) => req.url || undefined;
    case 'header': {
      // Request header names arrive lower-cased.
      const name = key.name.toLowerCase();
      return (req) => headerValue(req.headers, name);
    }
    case 'cookie': {
      // Cookie names are case-sensitive (RFC 6265 5.4): kept as configured.
      const name = key.name;
      return (req) => cookieValue(req.headers, name);
    }
  }
}

/** The first value of header `name` (lower-case), if not empty. */
export function headerValue(headers: readonly string[], name: string): string | undefined {
  for (let i = 0; i < headers.length; i += 2) {
    if (headers[i] === name) return headers[i + 1] || undefined;
  }
  return undefined;
}

/**
 * The value of cookie `name` in the Cookie header(s) (`a=1; b=2`, possibly split over several
 * headers), trimmed of blanks; the first one wins. Scans in place: the returned substring is the
 * only allocation.
 */
export function cookieValue(headers: readonly string[], name: string): string | undefined {
  for (let i = 0; i < headers.length; i += 2) {
    if (headers[i] !== 'cookie') continue;
    const v = headers[i + 1]!;
    const len = v.length;
    let pos = 0;
    while (pos < len) {
      while (pos < len && isBlank(v.charCodeAt(pos))) pos++;
      const end = v.indexOf(';', pos);
      const pairEnd = end < 0 ? len : end;
      if (v.startsWith(name, pos)) {
        let p = pos + name.length;
        while (p < pairEnd && isBlank(v.charCodeAt(p))) p++;
        // `=` right after the name (and blanks): not a longer name that merely starts with it.
        if (p < pairEnd && v.charCodeAt(p) === 0x3d) {
          p++;
          while (p < pairEnd && isBlank(v.charCodeAt(p))) p++;
          let q = pairEnd;
          while (q > p && isBlank(v.charCodeAt(q - 1))) q--;
          return q > p ? v.slice(p, q) : undefined;
        }
      }
      pos = pairEnd + 1;
    }
  }
  return undefined;
}

function isBlank(c: number): boolean {
  return c === 0x20 || c === 0x09;
}
