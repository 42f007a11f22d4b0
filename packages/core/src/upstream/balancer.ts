/**
 * An upstream: its servers' pools and the default choice between them (round-robin). Pools are
 * per thread: nothing here is shared. Other policies plug in through the `upstreamPeer` hook
 * (exchange/hooks.ts).
 */
import type tls from 'node:tls';
import type { UpstreamOptions } from '../config/options.js';
import type { UpstreamInfo } from './info.js';
import { Pool } from './pool.js';

export class Upstream implements UpstreamInfo {
  readonly name: string;
  readonly options: UpstreamOptions;
  readonly servers: readonly Pool[];
  private next = 0;

  constructor(options: UpstreamOptions) {
    this.name = options.name;
    this.options = options;
    const tlsOptions = options.protocol === 'https' ? tlsFor(options) : undefined;
    this.servers = options.servers.map(
      (s, i) => new Pool(s, i, options, tlsOptions && { ...tlsOptions, servername: options.tls?.servername ?? sniName(s.host) }),
    );
  }

  /** The next server in round-robin order. */
  pick(): Pool {
    const pools = this.servers;
    if (pools.length === 1) return pools[0]!;
    const p = pools[this.next]!;
    this.next = this.next + 1 === pools.length ? 0 : this.next + 1;
    return p;
  }

  /** The server after `pool`, in list order: where a connect failure tries next. */
  after(pool: Pool): Pool {
    const pools = this.servers;
    return pools[pool.index + 1 === pools.length ? 0 : pool.index + 1]!;
  }

  close(): void {
    for (const p of this.servers) p.close();
  }
}

function tlsFor(o: UpstreamOptions): tls.ConnectionOptions {
  const t = o.tls;
  const opts: tls.ConnectionOptions = { rejectUnauthorized: t?.verify ?? true };
  if (t?.ca) opts.ca = t.ca;
  if (t?.cert) opts.cert = t.cert;
  if (t?.key) opts.key = t.key;
  return opts;
}

/** SNI must be a host name, never an IP literal (RFC 6066 3). */
function sniName(host: string): string | undefined {
  return /^[\d.]+$/.test(host) || host.includes(':') ? undefined : host;
}
