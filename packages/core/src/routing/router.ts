/**
 * Route selection as nginx does it: the Host picks a virtual host (exact name, else the longest
 * `*.suffix` wildcard, else the routes without hosts), then the longest path prefix within that
 * virtual host picks the route. A virtual host never falls through to another on a path miss.
 */
import type { RouteOptions } from '../config/options.js';

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
 * @throws Error naming the route (by index) and what to fix, for a malformed host or prefix or
 *   two routes that claim the same host and prefix.
 */
export function compileRoutes(routes: readonly RouteOptions[]): Router {
  const exact = new Map<string, TableBuilder>();
  const wildcards = new Map<string, TableBuilder>();
  let fallback: TableBuilder | null = null;

  for (let index = 0; index < routes.length; index++) {
    const route = routes[index]!;
    const prefix = compilePrefix(route.pathPrefix, index);
    if (route.hosts.length === 0) {
      fallback ??= new TableBuilder('any host');
      fallback.add(prefix, route, index);
      continue;
    }
    for (const raw of route.hosts) {
      const host = compileHost(raw, index);
      if (host.startsWith('*.')) {
        const suffix = host.slice(1);
        let table = wildcards.get(suffix);
        if (table === undefined) wildcards.set(suffix, (table = new TableBuilder(`host "${host}"`)));
        table.add(prefix, route, index);
      } else {
        let table = exact.get(host);
        if (table === undefined) exact.set(host, (table = new TableBuilder(`host "${host}"`)));
        table.add(prefix, route, index);
      }
    }
  }

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

  add(prefix: string, route: RouteOptions, index: number): void {
    const twin = this.entries.find((e) => e.prefix === prefix);
    if (twin !== undefined) {
      throw new Error(
        `routes[${twin.index}] and routes[${index}] both claim ${this.label} with path prefix ` +
          `"${prefix || '/'}": remove one, or give them different hosts or prefixes`,
      );
    }
    this.entries.push({ prefix, route, index });
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

function compilePrefix(raw: string, index: number): string {
  const prefix = raw === '' ? '/' : raw;
  if (typeof prefix !== 'string' || prefix.charCodeAt(0) !== 47 || /[?#\s]/.test(prefix)) {
    throw new Error(
      `routes[${index}].pathPrefix ${JSON.stringify(raw)} is invalid: expected a path starting ` +
        `with "/" and without query, fragment or spaces, e.g. "/" or "/api"`,
    );
  }
  let end = prefix.length;
  while (end > 0 && prefix.charCodeAt(end - 1) === 47) end--;
  return prefix.slice(0, end);
}

function compileHost(raw: string, index: number): string {
  const fail = (why: string): never => {
    throw new Error(
      `routes[${index}].hosts entry ${JSON.stringify(raw)} is invalid: ${why}; expected a host ` +
        `name such as "example.com", a wildcard such as "*.example.com", or an IP address ` +
        `(IPv6 in brackets, "[::1]"); leave hosts empty for a route that takes any host`,
    );
  };
  if (typeof raw !== 'string') return fail('not a string');
  let host = raw.trim().toLowerCase();
  if (host.endsWith('.')) host = host.slice(0, -1);
  if (host === '') return fail('it is empty');
  if (/[\s/?#@]/.test(host)) return fail('host names cannot contain spaces, "/", "?", "#" or "@"');
  if (host.charCodeAt(0) !== 91 && host.indexOf(':') !== host.lastIndexOf(':')) host = '[' + host + ']';
  if (host.charCodeAt(0) === 91) {
    if (!host.endsWith(']')) return fail('a port cannot be matched; remove it');
    return host;
  }
  if (host.indexOf(':') !== -1) return fail('a port cannot be matched; remove it');
  const star = host.indexOf('*');
  if (star !== -1 && (star !== 0 || !host.startsWith('*.') || host.length < 3 || host.indexOf('*', 1) !== -1)) {
    return fail('a wildcard must be a whole leading label, as in "*.example.com"');
  }
  if (host.includes('..')) return fail('it has an empty label');
  return host;
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
