/**
 * Checks for single values, shared by the YAML schema and the command line: each returns the
 * typed value or what is wrong and how to fix it (the caller adds file and key).
 */
import { isIP, isIPv6 } from 'node:net';
import { compileCidrs, problemsOf, type ServerAddress } from '@portcullis/core';
import { availableParallelism } from 'node:os';
import { bad, type Checked, describe, ok } from './errors.js';
import { didYouMean, listOf } from './suggest.js';
import { logLevels, type ListenerConfig, type LogLevel } from './types.js';

/** Longest timer Node can arm without overflowing (about 24.8 days). */
const maxDurationMs = 2 ** 31 - 1;

const unitMs: Record<string, number> = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000 };

/**
 * A duration in ms: a number of ms, or a string of one or more `<number><unit>` parts with unit
 * ms, s, m or h ("500ms", "4s", "1m30s", "2h"). Must be > 0.
 */
export function checkDuration(value: unknown, example: string): Checked<number> {
  const fix = `write a duration such as "${example}" (units ms, s, m, h) or a number of milliseconds`;
  let ms: number;
  if (typeof value === 'number') {
    ms = value;
  } else if (typeof value === 'string' && /^\s*\d+(\.\d+)?\s*$/.test(value)) {
    ms = Number(value);
  } else if (typeof value === 'string' && /^\s*(\d+(\.\d+)?\s*(ms|s|m|h)\s*)+$/i.test(value)) {
    ms = 0;
    for (const [, n, unit] of value.matchAll(/(\d+(?:\.\d+)?)\s*(ms|s|m|h)/gi)) ms += Number(n) * unitMs[unit!.toLowerCase()]!;
  } else {
    return bad(`expected a duration, got ${describe(value)}`, fix);
  }
  if (!Number.isFinite(ms) || ms <= 0) return bad(`expected a duration > 0, got ${describe(value)}`, fix);
  ms = Math.round(ms);
  if (ms < 1) return bad(`${describe(value)} is shorter than 1ms`, fix);
  if (ms > maxDurationMs) return bad(`${describe(value)} is longer than the longest timer Node can set (about 24 days)`, `use at most "596h"`);
  return ok(ms);
}

/** 4000 → "4s", 90000 → "1m30s", 250 → "250ms": for messages. */
export function formatDuration(ms: number): string {
  let rest = ms;
  let out = '';
  for (const [unit, size] of [['h', 3_600_000], ['m', 60_000], ['s', 1_000]] as const) {
    if (rest >= size) {
      out += `${Math.floor(rest / size)}${unit}`;
      rest %= size;
    }
  }
  return rest > 0 || out === '' ? `${out}${rest}ms` : out;
}

const sizeUnits: Record<string, number> = { '': 1, b: 1, k: 1024, kib: 1024, m: 1024 ** 2, mib: 1024 ** 2, g: 1024 ** 3, gib: 1024 ** 3 };

/**
 * A size in bytes: a number, or a string `<number><unit>` with unit B, KiB, MiB, GiB or nginx's
 * k, m, g (all powers of 1024). At least `min` bytes.
 */
export function checkSize(value: unknown, example: string, min = 1): Checked<number> {
  const fix = `write a size such as "${example}" (units B, KiB, MiB, GiB, or k, m, g; powers of 1024) or a number of bytes`;
  let bytes: number;
  if (typeof value === 'number') {
    bytes = value;
  } else if (typeof value === 'string') {
    const m = /^\s*(\d+(?:\.\d+)?)\s*([a-z]*)\s*$/i.exec(value);
    const unit = m ? sizeUnits[m[2]!.toLowerCase()] : undefined;
    if (!m || unit === undefined) {
      if (m && /^[kmg]b$/i.test(m[2]!)) return bad(`${describe(value)} is ambiguous (1000 or 1024?)`, `write ${m[1]}${m[2]![0]!.toUpperCase()}iB for powers of 1024`);
      return bad(`expected a size, got ${describe(value)}`, fix);
    }
    bytes = Number(m[1]) * unit;
  } else {
    return bad(`expected a size, got ${describe(value)}`, fix);
  }
  if (!Number.isFinite(bytes) || bytes < min) return bad(`expected a size of at least ${min} bytes, got ${describe(value)}`, fix);
  bytes = Math.round(bytes);
  // uWS keeps sizes in 32-bit integers; 1 GiB is far beyond any sane WebSocket message anyway.
  if (bytes > 1024 ** 3) return bad(`${describe(value)} is more than 1GiB`, 'use at most "1GiB"');
  return ok(bytes);
}

/** A whole number in [min, max]; `fix` says what the number means, with an example. */
export function checkInteger(value: unknown, min: number, max: number, fix: string): Checked<number> {
  const range = max === Infinity ? `>= ${min}` : `from ${min} to ${max}`;
  const n = typeof value === 'string' && /^\s*-?\d+\s*$/.test(value) ? Number(value) : value;
  if (typeof n !== 'number' || !Number.isInteger(n) || n < min || n > max) {
    return bad(`expected a whole number ${range}, got ${describe(value)}`, fix);
  }
  return ok(n);
}

export function checkBoolean(value: unknown, fix: string): Checked<boolean> {
  if (typeof value === 'boolean') return ok(value);
  return bad(`expected true or false, got ${describe(value)}`, fix);
}

const hostLabel = /^(?!-)[A-Za-z0-9_-]{1,63}(?<!-)$/;

/** A DNS name or an IP literal (IPv6 without brackets). */
function isHostName(host: string): boolean {
  if (isIP(host)) return true;
  if (host.length === 0 || host.length > 253) return false;
  const labels = (host.endsWith('.') ? host.slice(0, -1) : host).split('.');
  // A name made of digits and dots only must be a valid IPv4 address (catches 127.0.0.256).
  if (labels.every((l) => /^\d+$/.test(l))) return false;
  return labels.every((l) => hostLabel.test(l));
}

function checkPort(text: string, what: string, example: string): Checked<number> {
  if (!/^\d{1,5}$/.test(text) || Number(text) < 1 || Number(text) > 65535) {
    return bad(`${what} has port ${JSON.stringify(text)}, which is not a port number from 1 to 65535`, `use a port such as ${example}`);
  }
  return ok(Number(text));
}

/**
 * Split `host:port`, `[v6]:port`, `host`, `[v6]`. Returns undefined port when absent; flags an
 * IPv6 address without brackets.
 */
function splitHostPort(text: string): { host: string; port?: string } | { error: 'ipv6-brackets' | 'shape' } {
  if (text.startsWith('[')) {
    const m = /^\[([^\]]*)\](?::(.*))?$/.exec(text);
    if (!m || !isIPv6(m[1]!)) return { error: 'shape' };
    return m[2] === undefined ? { host: m[1]! } : { host: m[1]!, port: m[2] };
  }
  const colons = text.split(':').length - 1;
  if (colons > 1) return { error: 'ipv6-brackets' };
  if (colons === 1) {
    const i = text.indexOf(':');
    return { host: text.slice(0, i), port: text.slice(i + 1) };
  }
  return { host: text };
}

/**
 * A listen address: `host:port`, `[v6]:port`, or a bare port meaning 127.0.0.1:port.
 * YAML may give the bare port as a number.
 */
export function checkListen(value: unknown, examplePort = 8080): Checked<ListenerConfig> {
  const e = examplePort;
  const fix = `write "host:port" such as "127.0.0.1:${e}", "0.0.0.0:${e === 8080 ? 80 : e}" for every IPv4 interface, "[::1]:${e}" for IPv6, or a bare port such as ${e} for 127.0.0.1`;
  if (typeof value === 'number') {
    if (!Number.isInteger(value) || value < 1 || value > 65535) return bad(`port ${value} is not from 1 to 65535`, fix);
    return ok({ host: '127.0.0.1', port: value });
  }
  if (typeof value !== 'string') {
    if (value !== null && typeof value === 'object' && !Array.isArray(value)) {
      return bad('listener objects (for TLS) are not supported yet; a listener is a "host:port" string', fix);
    }
    return bad(`expected a "host:port" string, got ${describe(value)}`, fix);
  }
  const text = value.trim();
  if (/^\d+$/.test(text)) {
    const port = checkPort(text, JSON.stringify(text), String(e));
    return port.ok ? ok({ host: '127.0.0.1', port: port.value }) : port;
  }
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(text)) {
    return bad(`${JSON.stringify(text)} is a URL; a listen address is "host:port" without a scheme`, fix);
  }
  const parts = splitHostPort(text);
  if ('error' in parts) {
    if (parts.error === 'ipv6-brackets') return bad(`${JSON.stringify(text)} looks like an IPv6 address without brackets`, `write it as "[::1]:${e}"`);
    return bad(`${JSON.stringify(text)} is not a "host:port" address`, fix);
  }
  if (parts.host === '' || parts.host === '*') {
    return bad(`${JSON.stringify(text)} has no host`, 'write "0.0.0.0:PORT" to listen on every IPv4 interface, "[::]:PORT" for every IPv6 one, or "127.0.0.1:PORT" for this machine only');
  }
  if (parts.port === undefined) return bad(`${JSON.stringify(text)} has no port`, `add one, e.g. "${text.includes(':') ? `[${parts.host}]` : parts.host}:${e}"`);
  if (!isHostName(parts.host)) return bad(`${JSON.stringify(text)} has an invalid host ${JSON.stringify(parts.host)}`, fix);
  const port = checkPort(parts.port, JSON.stringify(text), `"${text.startsWith('[') ? `[${parts.host}]` : parts.host}:${e}"`);
  return port.ok ? ok({ host: parts.host, port: port.value }) : port;
}

export interface ServerTarget extends ServerAddress {
  /** Present when the address was written as a URL. */
  protocol?: 'http' | 'https';
  /** The port was left out (then it is 80 or 443 by protocol). */
  defaultPort?: boolean;
}

/**
 * An upstream server: `host:port`, `[v6]:port`, `host`, or `http(s)://host[:port]` with no path.
 * A missing port is filled in later from the upstream's protocol.
 */
export function checkServer(value: unknown): Checked<ServerTarget> {
  const fix = 'write "host:port" such as "127.0.0.1:9000", or a URL such as "http://127.0.0.1:9000" or "https://app.internal"';
  if (typeof value !== 'string') return bad(`expected a server address string, got ${describe(value)}`, fix);
  const text = value.trim();
  const scheme = /^([a-z][a-z0-9+.-]*):\/\//i.exec(text);
  if (scheme) {
    const protocol = scheme[1]!.toLowerCase();
    if (protocol !== 'http' && protocol !== 'https') {
      return bad(`${JSON.stringify(text)} uses the scheme "${protocol}"; upstreams speak http or https`, `write "http://…" or "https://…"`);
    }
    let url: URL;
    try {
      url = new URL(text);
    } catch {
      return bad(`${JSON.stringify(text)} is not a valid URL`, fix);
    }
    if (url.username || url.password) {
      return bad(`${JSON.stringify(text)} contains a user name or password`, 'remove the credentials; Portcullis passes the client\'s Authorization header through');
    }
    if ((url.pathname !== '/' && url.pathname !== '') || url.search || url.hash || /^[a-z]+:\/\/[^/]+\/./i.test(text)) {
      return bad(
        `${JSON.stringify(text)} has a path, query or fragment, but a server address names only a host and port: the request path is passed upstream unchanged`,
        `write "${protocol}://${url.host}"; to send only some paths to this upstream, or to remove a path prefix, use a route with "path" and "strip_prefix" in a config file`,
      );
    }
    const host = url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname;
    if (!isHostName(host)) return bad(`${JSON.stringify(text)} has an invalid host`, fix);
    const defaultPort = url.port === '';
    return ok({ protocol, host, port: defaultPort ? (protocol === 'https' ? 443 : 80) : Number(url.port), defaultPort });
  }
  if (text.includes('/')) {
    return bad(
      `${JSON.stringify(text)} has a path, but a server address names only a host and port: the request path is passed upstream unchanged`,
      'write just "host:port"; to send only some paths to this upstream, or to remove a path prefix, use a route with "path" and "strip_prefix" in a config file',
    );
  }
  const parts = splitHostPort(text);
  if ('error' in parts) {
    if (parts.error === 'ipv6-brackets') return bad(`${JSON.stringify(text)} looks like an IPv6 address without brackets`, 'write it as "[::1]:9000"');
    return bad(`${JSON.stringify(text)} is not a server address`, fix);
  }
  if (!isHostName(parts.host)) return bad(`${JSON.stringify(text)} has an invalid host ${JSON.stringify(parts.host)}`, fix);
  if (parts.port === undefined) return ok({ host: parts.host, port: 80, defaultPort: true });
  const port = checkPort(parts.port, JSON.stringify(text), `"${text.startsWith('[') ? `[${parts.host}]` : parts.host}:9000"`);
  return port.ok ? ok({ host: parts.host, port: port.value }) : port;
}

/**
 * Give every server of one upstream the same protocol: the one written in its URLs (they must
 * agree), else http. Servers written without a port get 80 or 443.
 */
export function unifyProtocol(
  servers: readonly ServerTarget[],
): Checked<{ protocol: 'http' | 'https'; servers: ServerAddress[] }> {
  const written = new Set(servers.map((s) => s.protocol).filter((p) => p !== undefined));
  if (written.size > 1) {
    return bad('mixes http:// and https:// servers, but one upstream speaks one protocol', 'split them into two upstreams, or use the same scheme for all');
  }
  const protocol = written.has('https') ? 'https' : 'http';
  return ok({
    protocol,
    // weight, backup and down (the mapping form) stay as written; absent means the default.
    servers: servers.map(({ protocol: _, defaultPort, ...s }) => ({ ...s, port: defaultPort ? (protocol === 'https' ? 443 : 80) : s.port })),
  });
}

/**
 * A trusted proxy (`--trust-proxy`): a CIDR such as "10.0.0.0/8" or "fd00::/8", or a single
 * address. The rule is the core's (compileCidrs), so what passes here is exactly what it accepts.
 */
export function checkCidr(value: unknown): Checked<string> {
  const text = typeof value === 'string' ? value.trim() : value;
  const [problem] = problemsOf(() => compileCidrs([text as string]));
  return problem === undefined ? ok(text as string) : bad(problem.problem, problem.fix);
}

/** A Host header value to send upstream: `name` or `name:port`. */
export function checkHostHeader(value: unknown): Checked<string> {
  const fix = 'write a host name such as "app.internal" or "app.internal:8080"';
  if (typeof value !== 'string') return bad(`expected a host name, got ${describe(value)}`, fix);
  const parts = splitHostPort(value);
  if ('error' in parts || !isHostName(parts.host) || (parts.port !== undefined && !checkPort(parts.port, '', '').ok)) {
    return bad(`${JSON.stringify(value)} is not a valid Host header value`, fix);
  }
  return ok(value);
}

/**
 * A duration that may be turned off: `off`, `false` or 0 give 0 (what the core reads as "none"),
 * anything else is a duration as {@link checkDuration} reads it.
 */
export function checkDurationOrOff(value: unknown, example: string): Checked<number> {
  if (value === 'off' || value === false || value === 0 || value === '0') return ok(0);
  const checked = checkDuration(value, example);
  return checked.ok ? checked : bad(checked.problem, `${checked.fix}, or off`);
}

/** Loopback addresses only (127.0.0.0/8, ::1, localhost): the admin endpoint's default kind. */
export function isLoopback(host: string): boolean {
  const h = host.toLowerCase().replace(/\.$/, '');
  if (h === 'localhost' || h === '::1') return true;
  return isIP(h) === 4 && h.startsWith('127.');
}

/**
 * Whether two listening hosts can take the same connections: the same host, a wildcard (`::`
 * takes IPv4 too on a dual-stack system, 0.0.0.0 every IPv4 address), or a name (it may resolve
 * to either).
 */
export function hostsOverlap(a: string, b: string): boolean {
  const x = a.toLowerCase();
  const y = b.toLowerCase();
  if (x === y || x === '::' || y === '::' || !isIP(x) || !isIP(y)) return true;
  return isIP(x) === 4 && isIP(y) === 4 && (x === '0.0.0.0' || y === '0.0.0.0');
}

/** Names of upstreams: used in logs and metrics, so kept simple. */
export function checkUpstreamName(name: string): Checked<string> {
  if (!/^[A-Za-z0-9][A-Za-z0-9_-]*$/.test(name)) {
    return bad(`the upstream name ${JSON.stringify(name)} has characters other than letters, digits, "-" and "_"`, 'rename it, e.g. "app" or "api-v2"');
  }
  return ok(name);
}

/** Names of routes (`routes[].name`): a label in metrics, so kept simple. */
export function checkRouteName(value: unknown): Checked<string> {
  const fix = 'use letters, digits, "-", "_" and ".", e.g. "api" or "static.v2"';
  if (typeof value !== 'string' && typeof value !== 'number') return bad(`expected a name, got ${describe(value)}`, fix);
  const name = String(value).trim();
  if (!/^[A-Za-z0-9_.-]+$/.test(name)) {
    return bad(`the route name ${JSON.stringify(name)} has ${name === '' ? 'no characters' : 'characters other than letters, digits, "-", "_" and "."'}`, fix);
  }
  return ok(name);
}

/** Worker processes: a whole number >= 1, or "auto" for one per CPU. */
export function checkWorkers(value: unknown): Checked<number> {
  if (value === 'auto') return { ok: true, value: availableParallelism() };
  return checkInteger(value, 1, Infinity, 'set it to the number of worker processes, e.g. 4, or "auto" for one per CPU');
}

export function checkLogLevel(value: unknown): Checked<LogLevel> {
  if (typeof value === 'string' && (logLevels as readonly string[]).includes(value.toLowerCase())) {
    return { ok: true, value: value.toLowerCase() as LogLevel };
  }
  const guess = typeof value === 'string' ? didYouMean(value, logLevels) : undefined;
  return {
    ok: false,
    problem: `expected a log level, got ${describe(value)}${guess ? ` (did you mean "${guess}"?)` : ''}`,
    fix: `use one of ${listOf(logLevels)}`,
  };
}
