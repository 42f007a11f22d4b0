/**
 * Host names and authorities: the one `host:port` formatter (IPv6 literals in brackets, as in a
 * URI authority, RFC 3986 3.2.2) used by logs, the default upstream Host and listener labels.
 */

/** `host:port`, with an IPv6 literal in brackets (`[::1]:8080`). */
export function formatHostPort(host: string, port: number): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}
