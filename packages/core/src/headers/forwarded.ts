/**
 * Whom to believe about the client: the trust decision and the values Portcullis adds to
 * X-Forwarded-For/-Proto/-Host, Forwarded (RFC 7239) and Via for one request.
 *
 * A peer that is not a trusted proxy could have written anything in those headers, so they are
 * replaced by what the proxy itself saw; a trusted proxy's are extended, as nginx's
 * `$proxy_add_x_forwarded_for` does.
 */
import { compileCidrs, normalizeAddress, type AddressMatcher } from './cidr.js';
import type { ForwardingOptions } from '../config/options.js';
import { describeValue, problemsOf, throwProblems, type ConfigProblem } from '../config/problems.js';

export interface CompiledForwarding {
  /** The trusted proxies; `isTrusted` is the question to ask of a peer. */
  readonly trustedProxies: AddressMatcher;
  /** Add an RFC 7239 `Forwarded` element. */
  readonly forwarded: boolean;
  /** The Via element this proxy adds (`1.1 portcullis`), or null for none. */
  readonly via: string | null;
}

/**
 * Validate and precompile the forwarding options once.
 * @throws ProxyConfigError listing every invalid trusted proxy entry
 *   (`['forwarding', 'trustedProxies', i]`) and a Via pseudonym that is not a token
 *   (`['forwarding', 'via']`), so one run names them all.
 */
export function compileForwarding(opts: ForwardingOptions): CompiledForwarding {
  const problems: ConfigProblem[] = [];
  let via: string | null = null;
  if (opts.via !== false) {
    const pseudonym = typeof opts.via === 'string' ? opts.via.trim() : '';
    if (isToken(pseudonym)) {
      via = '1.1 ' + pseudonym;
    } else {
      problems.push({
        path: ['forwarding', 'via'],
        problem: `expected a pseudonym that is one HTTP token (letters, digits and !#$%&'*+-.^_\`|~, no spaces), got ${describeValue(opts.via)}`,
        fix: 'write a name such as "portcullis", or false for no Via header',
      });
    }
  }
  let trustedProxies: AddressMatcher | undefined;
  for (const p of problemsOf(() => (trustedProxies = compileCidrs(opts.trustedProxies)))) {
    problems.push({ ...p, path: ['forwarding', 'trustedProxies', ...p.path] });
  }
  throwProblems(problems);
  return { trustedProxies: trustedProxies!, forwarded: opts.forwarded, via };
}

/** Whether the client connection comes from a trusted proxy (its forwarding headers are kept). */
export function isTrusted(peer: string, compiled: CompiledForwarding): boolean {
  const trusted = compiled.trustedProxies;
  return trusted.size !== 0 && trusted.contains(peer);
}

/**
 * The address of the client for the access log: the peer, unless the peer is a trusted proxy;
 * then the rightmost X-Forwarded-For entry that is not itself a trusted proxy, or the leftmost
 * entry when every one is trusted. Entries right of the first untrusted one could only have been
 * added by proxies we trust, while anything left of it may be forged by the client.
 */
export function clientAddress(peer: string, headers: readonly string[], compiled: CompiledForwarding): string {
  if (!isTrusted(peer, compiled)) return peer;
  const trusted = compiled.trustedProxies;
  let leftmost: string | null = null;
  // Later X-Forwarded-For headers continue the list of earlier ones, so walk headers backwards too.
  for (let h = headers.length - 2; h >= 0; h -= 2) {
    if (headers[h] !== 'x-forwarded-for') continue;
    const value = headers[h + 1]!;
    let end = value.length;
    while (end > 0) {
      const comma = value.lastIndexOf(',', end - 1);
      let s = comma + 1;
      let e = end;
      while (s < e && isOws(value.charCodeAt(s))) s++;
      while (e > s && isOws(value.charCodeAt(e - 1))) e--;
      if (e > s) {
        const entry = normalizeAddress(value.slice(s, e));
        if (!trusted.contains(entry)) return entry;
        leftmost = entry;
      }
      end = comma === -1 ? 0 : comma;
    }
  }
  return leftmost ?? peer;
}

/**
 * One RFC 7239 forwarded-element for this hop: `for=<peer>;proto=<scheme>[;host=<host>]`.
 * IPv6 addresses are bracketed and quoted (`for="[::1]"`); other values are quoted when they
 * are not tokens (a Host with a port is).
 */
export function forwardedElement(peer: string, scheme: 'http' | 'https', host: string | undefined): string {
  const forNode = peer.indexOf(':') !== -1 ? '"[' + peer + ']"' : tokenOrQuoted(peer);
  const element = 'for=' + forNode + ';proto=' + scheme;
  return host === undefined || host === '' ? element : element + ';host=' + tokenOrQuoted(host);
}

function tokenOrQuoted(value: string): string {
  if (isToken(value)) return value;
  let quoted = '"';
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if (c === 34 || c === 92) quoted += '\\';
    quoted += value[i];
  }
  return quoted + '"';
}

// tchar of RFC 9110 §5.6.2, indexed by char code.
const TCHAR = new Uint8Array(128);
for (const c of "!#$%&'*+-.^_`|~") TCHAR[c.charCodeAt(0)] = 1;
for (let c = 48; c <= 57; c++) TCHAR[c] = 1;
for (let c = 65; c <= 90; c++) TCHAR[c] = TCHAR[c + 32] = 1;

function isToken(value: string): boolean {
  if (value.length === 0) return false;
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if (c > 127 || TCHAR[c] === 0) return false;
  }
  return true;
}

function isOws(c: number): boolean {
  return c === 32 || c === 9;
}
