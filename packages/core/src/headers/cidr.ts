/**
 * Address lists (trusted proxies) compiled once into typed arrays, so that asking whether the
 * peer of a request is in the list is a parse of one short string and a few integer compares.
 */
import { describeValue, throwProblems, type ConfigProblem } from '../config/problems.js';

/** A compiled list of IPv4/IPv6 addresses and CIDR ranges. */
export interface AddressMatcher {
  /** Number of ranges in the list (0: `contains` always answers false without parsing). */
  readonly size: number;
  /**
   * True when `ip` (a bare IPv4 or IPv6 address; an IPv6 zone is ignored) is in the list. An
   * IPv4-mapped IPv6 address (`::ffff:1.2.3.4`) is checked against the IPv4 ranges too.
   * Anything that is not an address answers false.
   */
  contains(ip: string): boolean;
}

const CIDR_FIX =
  'write an address range such as "10.0.0.0/8", "192.168.1.10/32" or "fd00::/8", or a single address ' +
  'such as "10.1.2.3"';

/**
 * Compile a list of addresses and CIDRs. Host bits below the prefix are ignored, as nginx does
 * (`10.1.2.3/8` is `10.0.0.0/8`). An IPv4-mapped IPv6 range of /96 or longer is stored as the
 * IPv4 range it maps, so `::ffff:10.0.0.0/104` also matches `10.1.2.3`.
 * @throws ProxyConfigError with one problem per invalid entry, at its index (`[1]`).
 */
export function compileCidrs(list: readonly string[]): AddressMatcher {
  const v4: number[] = [];
  const v6: number[] = [];
  const problems: ConfigProblem[] = [];
  for (let index = 0; index < list.length; index++) {
    const entry: unknown = list[index];
    if (typeof entry !== 'string') {
      problems.push({ path: [index], problem: `expected an address or CIDR string, got ${describeValue(entry)}`, fix: CIDR_FIX });
      continue;
    }
    const why = compileEntry(entry.trim(), v4, v6);
    if (why !== null) {
      problems.push({ path: [index], problem: `${JSON.stringify(entry)} is not an IP address or CIDR range (${why})`, fix: CIDR_FIX });
    }
  }
  throwProblems(problems);
  if (v4.length === 0 && v6.length === 0) return EMPTY;
  return new CidrMatcher(Int32Array.from(v4), Int32Array.from(v6));
}

/**
 * The form addresses are logged and forwarded in: an IPv4-mapped IPv6 address becomes the IPv4
 * address (`::ffff:1.2.3.4` → `1.2.3.4`), other IPv6 addresses are lower-cased. Returns `ip`
 * itself when nothing changes, which is the case for every address Node gives for IPv4 peers.
 */
export function normalizeAddress(ip: string): string {
  const colon = ip.indexOf(':');
  if (colon === -1) return ip;
  if (colon === 0 && ip.length > 7 && isMappedPrefix(ip) && ip.indexOf('.', 7) !== -1) return ip.slice(7);
  for (let i = 0; i < ip.length; i++) {
    const c = ip.charCodeAt(i);
    if (c >= 65 && c <= 90) return ip.toLowerCase();
  }
  return ip;
}

const EMPTY: AddressMatcher = {
  size: 0,
  contains: () => false,
};

// Scratch for the address being checked; `contains` is synchronous, so one buffer suffices.
const words = new Int32Array(4);
const groups = new Uint16Array(8);

class CidrMatcher implements AddressMatcher {
  readonly size: number;

  /**
   * @param v4 pairs of (network, mask) as int32
   * @param v6 octets of (4 network words, 4 mask words) as int32
   */
  constructor(
    private readonly v4: Int32Array,
    private readonly v6: Int32Array,
  ) {
    this.size = v4.length / 2 + v6.length / 8;
  }

  contains(ip: string): boolean {
    if (ip.indexOf(':') === -1) {
      const a = parseIPv4(ip, 0, ip.length);
      return a !== -1 && this.matchV4(a | 0);
    }
    let end = ip.indexOf('%');
    if (end === -1) end = ip.length;
    if (!parseIPv6(ip, 0, end)) return false;
    if (words[0] === 0 && words[1] === 0 && words[2] === 0xffff && this.matchV4(words[3]!)) return true;
    return this.matchV6();
  }

  private matchV4(a: number): boolean {
    const v4 = this.v4;
    for (let i = 0; i < v4.length; i += 2) {
      if ((a & v4[i + 1]!) === v4[i]) return true;
    }
    return false;
  }

  private matchV6(): boolean {
    const v6 = this.v6;
    const w0 = words[0]!;
    const w1 = words[1]!;
    const w2 = words[2]!;
    const w3 = words[3]!;
    for (let i = 0; i < v6.length; i += 8) {
      if (
        (w0 & v6[i + 4]!) === v6[i] &&
        (w1 & v6[i + 5]!) === v6[i + 1] &&
        (w2 & v6[i + 6]!) === v6[i + 2] &&
        (w3 & v6[i + 7]!) === v6[i + 3]
      ) {
        return true;
      }
    }
    return false;
  }
}

/** Appends one entry to `v4`/`v6`; returns what is wrong with it, or null. */
function compileEntry(entry: string, v4: number[], v6: number[]): string | null {
  const slash = entry.indexOf('/');
  const addrEnd = slash === -1 ? entry.length : slash;
  const isV6 = entry.indexOf(':') !== -1;
  const maxPrefix = isV6 ? 128 : 32;
  let prefix = maxPrefix;
  if (slash !== -1) {
    prefix = parseDecimal(entry, slash + 1, entry.length);
    if (prefix === -1) return `the prefix length after "/" must be a decimal number`;
    if (prefix > maxPrefix) return `prefix length ${prefix} is out of range 0-${maxPrefix} for ${isV6 ? 'IPv6' : 'IPv4'}`;
  }
  if (addrEnd === 0) return 'the address is empty';

  if (!isV6) {
    const a = parseIPv4(entry, 0, addrEnd);
    if (a === -1) return 'not a valid IPv4 address (four decimal numbers 0-255 without leading zeros)';
    const mask = maskBits(prefix);
    v4.push(a & mask, mask);
    return null;
  }

  if (entry.indexOf('%') !== -1) return 'zone indexes ("%eth0") cannot be used in a range';
  if (!parseIPv6(entry, 0, addrEnd)) return 'not a valid IPv6 address';
  if (prefix >= 96 && words[0] === 0 && words[1] === 0 && words[2] === 0xffff) {
    const mask = maskBits(prefix - 96);
    v4.push(words[3]! & mask, mask);
    return null;
  }
  const masks = [0, 0, 0, 0];
  for (let w = 0; w < 4; w++) masks[w] = maskBits(Math.max(0, Math.min(32, prefix - 32 * w)));
  v6.push(
    words[0]! & masks[0]!,
    words[1]! & masks[1]!,
    words[2]! & masks[2]!,
    words[3]! & masks[3]!,
    masks[0]!,
    masks[1]!,
    masks[2]!,
    masks[3]!,
  );
  return null;
}

/** The int32 mask with the top `bits` bits set (0-32). */
function maskBits(bits: number): number {
  return bits === 0 ? 0 : -1 << (32 - bits);
}

/** A decimal number without sign or leading zeros, or -1. */
function parseDecimal(s: string, start: number, end: number): number {
  if (start >= end || end - start > 3) return -1;
  if (s.charCodeAt(start) === 48 && end - start > 1) return -1;
  let n = 0;
  for (let i = start; i < end; i++) {
    const d = s.charCodeAt(i) - 48;
    if (d < 0 || d > 9) return -1;
    n = n * 10 + d;
  }
  return n;
}

/**
 * Dotted-quad IPv4 in `s[start, end)` as an unsigned 32-bit number, or -1. Leading zeros are
 * refused because some resolvers read them as octal (`010.0.0.1` is 8.0.0.1 to inet_aton).
 */
function parseIPv4(s: string, start: number, end: number): number {
  let result = 0;
  let parts = 0;
  let i = start;
  while (parts < 4) {
    let octet = 0;
    const first = i;
    while (i < end) {
      const d = s.charCodeAt(i) - 48;
      if (d < 0 || d > 9) break;
      octet = octet * 10 + d;
      i++;
    }
    const digits = i - first;
    if (digits === 0 || digits > 3 || octet > 255 || (digits > 1 && s.charCodeAt(first) === 48)) return -1;
    result = result * 256 + octet;
    parts++;
    if (parts < 4) {
      if (i >= end || s.charCodeAt(i) !== 46) return -1;
      i++;
    }
  }
  return i === end ? result : -1;
}

/**
 * IPv6 in `s[start, end)` into `words` (four int32, network order); false if malformed.
 * Accepts `::` compression and a trailing dotted IPv4 (`::ffff:1.2.3.4`, `64:ff9b::1.2.3.4`).
 */
function parseIPv6(s: string, start: number, end: number): boolean {
  let count = 0;
  let gap = -1;
  let i = start;
  if (end - start < 2) return false;
  if (s.charCodeAt(i) === 58) {
    if (s.charCodeAt(i + 1) !== 58) return false;
    gap = 0;
    i += 2;
  }
  while (i < end) {
    if (count === 8) return false;
    let value = 0;
    let j = i;
    while (j < end && j - i < 5) {
      const h = hexValue(s.charCodeAt(j));
      if (h === -1) break;
      value = value * 16 + h;
      j++;
    }
    if (j < end && s.charCodeAt(j) === 46) {
      if (count > 6) return false;
      const a = parseIPv4(s, i, end);
      if (a === -1) return false;
      groups[count++] = a >>> 16;
      groups[count++] = a & 0xffff;
      i = end;
      break;
    }
    if (j === i || j - i > 4) return false;
    groups[count++] = value;
    i = j;
    if (i === end) break;
    if (s.charCodeAt(i) !== 58) return false;
    i++;
    if (i === end) return false;
    if (s.charCodeAt(i) === 58) {
      if (gap !== -1) return false;
      gap = count;
      i++;
    }
  }
  if (gap === -1) {
    if (count !== 8) return false;
  } else {
    if (count > 7) return false;
    // Slide the groups after `::` to the end and zero the gap.
    const tail = count - gap;
    for (let k = 1; k <= tail; k++) groups[8 - k] = groups[count - k]!;
    for (let k = gap; k < 8 - tail; k++) groups[k] = 0;
  }
  for (let w = 0; w < 4; w++) words[w] = (groups[2 * w]! << 16) | groups[2 * w + 1]!;
  return true;
}

function hexValue(c: number): number {
  if (c >= 48 && c <= 57) return c - 48;
  const l = c | 0x20;
  if (l >= 97 && l <= 102) return l - 87;
  return -1;
}

function isMappedPrefix(ip: string): boolean {
  // `::ffff:` in any case.
  return (
    ip.charCodeAt(1) === 58 &&
    ip.charCodeAt(6) === 58 &&
    (ip.charCodeAt(2) | 0x20) === 102 &&
    (ip.charCodeAt(3) | 0x20) === 102 &&
    (ip.charCodeAt(4) | 0x20) === 102 &&
    (ip.charCodeAt(5) | 0x20) === 102
  );
}
