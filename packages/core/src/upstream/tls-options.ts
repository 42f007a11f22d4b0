/**
 * How Portcullis talks TLS to an upstream's servers: the proxy's pools and the active health
 * checks use these same rules, so a probe reaches a server exactly as requests do.
 */
import type tls from 'node:tls';
import type { UpstreamOptions } from '../config/options.js';

/** Verification, CA and client certificate of an https upstream. */
export function tlsFor(o: UpstreamOptions): tls.ConnectionOptions {
  const t = o.tls;
  const opts: tls.ConnectionOptions = { rejectUnauthorized: t?.verify ?? true };
  if (t?.ca) opts.ca = t.ca;
  if (t?.cert) opts.cert = t.cert;
  if (t?.key) opts.key = t.key;
  return opts;
}

/** SNI must be a host name, never an IP literal (RFC 6066 3). */
export function sniName(host: string): string | undefined {
  return /^[\d.]+$/.test(host) || host.includes(':') ? undefined : host;
}
