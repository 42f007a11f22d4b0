/**
 * Route selection as nginx does it: the Host picks a virtual host (exact name, else the longest
 * `*.suffix` wildcard, else the routes without hosts), then the longest path prefix within that
 * virtual host picks the route. A virtual host never falls through to another on a path miss.
 */
import { isIPv4, isIPv6 } from 'node:net';
import type { RouteOptions } from '../config/options.js';
import { describeValue, throwProblems, type CheckResult, type ConfigProblem } from '../config/problems.js';

export interface RouteMatch {
  route: RouteOptions;
  /** The request target to send upstream: the URL, or with `stripPrefix` what follows the prefix. */
  target: string;
}

export interface Router {
  /**
   * The route for a request, or null (answer 404).
   * @param host the client's Host header as sent (any case, with or without a port)
   * @param url the request target in origin form, path and query
   */
  match(host: string | undefined, url: string): RouteMatch | null;
}

/**
 * Validate and precompile the routes once.
 * @throws ProxyConfigError listing every malformed prefix (`['routes', i, 'pathPrefix']`) and host
 *   (`['routes', i, 'hosts', j]`), and every route that claims a host and prefix an earlier route
 *   has (`['routes', i]`).
 */
export function compileRoutes(routes: readonly RouteOptions[]): Router {
  const exact = new Map<string, TableBuilder>();
  const wildcards = new Map<string, TableBuilder>();
  let fallback: TableBuilder | null = null;
  const problems: ConfigProblem[] = [];

  for (let index = 0; index < routes.length; index++) {
    const route = routes[index]!;
    const before = problems.length;
    const prefix = checkPathPrefix(route.pathPrefix);
    if (!prefix.ok) problems.push({ path: ['routes', index, 'pathPrefix'], problem: prefix.problem, fix: prefix.fix });
    const hosts: string[] = [];
    route.hosts.forEach((raw, j) => {
      const host = checkRouteHost(raw);
      if (host.ok) hosts.push(host.value);
      else problems.push({ path: ['routes', index, 'hosts', j], problem: host.problem, fix: host.fix });
    });
    // A route with a malformed part would be filed under the wrong key: no overlap check for it.
    if (!prefix.ok || problems.length !== before) continue;
    const add = (table: TableBuilder): void => {
      const problem = table.add(prefix.value, route, index);
      if (problem !== null) problems.push(problem);
    };
    if (hosts.length === 0) add((fallback ??= new TableBuilder('any host')));
    for (const host of hosts) {
      const tables = host.startsWith('*.') ? wildcards : exact;
      const key = host.startsWith('*.') ? host.slice(1) : host;
      let table = tables.get(key);
      if (table === undefined) tables.set(key, (table = new TableBuilder(`host "${host}"`)));
      // One problem per route is enough: the fix (remove it, or change its host or path) is the same.
      if (problems.length === before) add(table);
    }
  }
  throwProblems(problems);

  const exactTables = new Map<string, PathTable>();
  for (const [host, builder] of exact) exactTables.set(host, builder.build());
  // Longest suffix first, so the first `endsWith` that matches is the most specific wildcard.
  const suffixes = [...wildcards.keys()].sort((a, b) => b.length - a.length);
  return new HostRouter(
    exactTables,
    suffixes,
    suffixes.map((s) => wildcards.get(s)!.build()),
    fallback === null ? null : fallback.build(),
  );
}

class HostRouter implements Router {
  private readonly byHost: boolean;

  constructor(
    private readonly exact: Map<string, PathTable>,
    /** `.example.com` for `*.example.com`, longest first. */
    private readonly suffixes: string[],
    private readonly suffixTables: PathTable[],
    private readonly fallback: PathTable | null,
  ) {
    this.byHost = exact.size !== 0 || suffixes.length !== 0;
  }

  match(host: string | undefined, url: string): RouteMatch | null {
    const table = this.byHost && host !== undefined ? this.tableFor(hostKey(host)) : this.fallback;
    return table === null ? null : table.match(url);
  }

  private tableFor(key: string): PathTable | null {
    const table = this.exact.get(key);
    if (table !== undefined) return table;
    const suffixes = this.suffixes;
    for (let i = 0; i < suffixes.length; i++) {
      const suffix = suffixes[i]!;
      // Longer than the suffix: `*.example.com` covers `a.example.com`, never `example.com`.
      if (key.length > suffix.length && key.endsWith(suffix)) return this.suffixTables[i]!;
    }
    return this.fallback;
  }
}

/** The routes of one virtual host, longest prefix first. */
class PathTable {
  constructor(
    /** Normalised prefixes: no trailing slash, so `/` is the empty string. */
    private readonly prefixes: string[],
    private readonly routes: RouteOptions[],
  ) {}

  match(url: string): RouteMatch | null {
    const prefixes = this.prefixes;
    for (let i = 0; i < prefixes.length; i++) {
      const prefix = prefixes[i]!;
      const n = prefix.length;
      if (n !== 0) {
        if (!url.startsWith(prefix)) continue;
        // A prefix ends at a segment boundary: `/api` takes `/api/x` and `/api?q`, not `/apix`.
        if (url.length !== n) {
          const c = url.charCodeAt(n);
          if (c !== 47 && c !== 63) continue;
        }
      }
      const route = this.routes[i]!;
      return { route, target: route.stripPrefix && n !== 0 ? stripped(url, n) : url };
    }
    return null;
  }
}

function stripped(url: string, n: number): string {
  if (url.length === n) return '/';
  // What follows the prefix is `/rest...` or `?query`; the upstream still needs a path.
  return url.charCodeAt(n) === 63 ? '/' + url.slice(n) : url.slice(n);
}

class TableBuilder {
  private readonly entries: { prefix: string; route: RouteOptions; index: number }[] = [];

  constructor(private readonly label: string) {}

  /** Adds the route, or returns why not: an earlier route has the same prefix here. */
  add(prefix: string, route: RouteOptions, index: number): ConfigProblem | null {
    const twin = this.entries.find((e) => e.prefix === prefix);
    if (twin !== undefined) {
      return {
        path: ['routes', index],
        problem: `${this.label} with path "${prefix || '/'}" is already routed by routes[${twin.index}], so this route would never be used for it`,
        fix: 'remove one of the two, or change its host or path',
      };
    }
    this.entries.push({ prefix, route, index });
    return null;
  }

  build(): PathTable {
    // Stable sort: equal lengths cannot both match one URL, so their order does not matter.
    const sorted = [...this.entries].sort((a, b) => b.prefix.length - a.prefix.length);
    return new PathTable(
      sorted.map((e) => e.prefix),
      sorted.map((e) => e.route),
    );
  }
}

/** A path prefix as the tables key it: starts with "/", no query or fragment, no trailing "/". */
function checkPathPrefix(raw: unknown): CheckResult<string> {
  const fix = 'write a path prefix that starts with "/", such as "/api/"';
  if (typeof raw !== 'string') return { ok: false, problem: `expected a path, got ${describeValue(raw)}`, fix };
  const prefix = raw === '' ? '/' : raw;
  if (prefix.charCodeAt(0) !== 47) {
    const isUrl = /^[a-z][a-z0-9+.-]*:\/\//i.test(prefix);
    return {
      ok: false,
      problem: `${JSON.stringify(raw)} does not start with "/"`,
      fix: isUrl ? 'write a path only, without scheme and host, such as "/api/"' : `write "/${raw}"`,
    };
  }
  if (/[?#\s]/.test(prefix)) {
    return { ok: false, problem: `${JSON.stringify(raw)} contains a query, fragment or whitespace; routes match the path only`, fix };
  }
  let end = prefix.length;
  while (end > 0 && prefix.charCodeAt(end - 1) === 47) end--;
  return { ok: true, value: prefix.slice(0, end) };
}

const HOST_FIX =
  'write a host name such as "example.com", "*.example.com" to match its subdomains (the only wildcard ' +
  'allowed is a leading "*."), or an IP address (IPv6 in brackets, "[::1]")';
const hostLabel = /^(?!-)[a-z0-9_-]{1,63}(?<!-)$/;

/**
 * A route host as the router keys it: lower-case, without trailing dot, IPv6 in brackets; or what
 * is wrong with it. The server checks the names of its routes with this too, so a name the
 * server accepts is exactly one the router can match.
 */
export function checkRouteHost(raw: unknown): CheckResult<string> {
  const bad = (problem: string, fix = HOST_FIX): CheckResult<string> => ({ ok: false, problem, fix });
  if (typeof raw !== 'string') return bad(`expected a host name, got ${describeValue(raw)}`);
  let host = raw.trim().toLowerCase();
  if (host.endsWith('.') && host.length > 1) host = host.slice(0, -1);
  const quoted = JSON.stringify(raw);
  if (host === '' || host === '*') return bad(`${quoted} matches nothing specific`, 'leave out the host names to match any host');
  if (/^[a-z][a-z0-9+.-]*:\/\//.test(host)) return bad(`${quoted} is a URL, not a host name`);
  if (isIPv6(host)) return { ok: true, value: `[${host}]` };
  if (host.startsWith('[')) {
    const inner = /^\[([^\]]+)\]$/.exec(host)?.[1];
    return inner !== undefined && isIPv6(inner) ? { ok: true, value: host } : bad(`${quoted} is not a valid host`);
  }
  if (/:\d*$/.test(host)) {
    return bad(`${quoted} has a port; routes match the host name whatever the port`, `write "${host.replace(/:\d*$/, '')}"`);
  }
  const wildcard = host.startsWith('*.');
  const rest = wildcard ? host.slice(2) : host;
  if (rest.includes('*')) return bad(`${quoted} has a "*" that is not a leading "*."`);
  if (isIPv4(rest)) return wildcard ? bad(`${quoted} puts a wildcard before an IP address`) : { ok: true, value: host };
  const labels = rest.split('.');
  // A name of digits and dots only would be an IPv4 address, and this one is not (127.0.0.256).
  if (rest.length > 253 || labels.every((l) => /^\d+$/.test(l)) || !labels.every((l) => hostLabel.test(l))) {
    return bad(`${quoted} is not a valid host name`);
  }
  return { ok: true, value: host };
}

/**
 * The Host header as a table key: lower-case, without port or trailing dot. Allocates nothing
 * for the common already-lower-case host without a port.
 */
function hostKey(host: string): string {
  let end = host.length;
  if (host.charCodeAt(0) === 91) {
    const close = host.indexOf(']');
    if (close !== -1) end = close + 1;
  } else {
    const colon = host.indexOf(':');
    if (colon !== -1) end = colon;
  }
  if (end > 0 && host.charCodeAt(end - 1) === 46) end--;
  let upper = false;
  for (let i = 0; i < end; i++) {
    const c = host.charCodeAt(i);
    if (c >= 65 && c <= 90) {
      upper = true;
      break;
    }
  }
  const key = end === host.length ? host : host.slice(0, end);
  return upper ? key.toLowerCase() : key;
}
