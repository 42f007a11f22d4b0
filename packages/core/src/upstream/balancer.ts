/**
 * An upstream: its servers' pools and the choice between them (round-robin for now; health
 * checks and other policies come later). Pools are per thread: nothing here is shared.
 */
import type tls from 'node:tls';
import type { UpstreamOptions } from '../config/options.js';
import { Pool } from './pool.js';

export class Upstream {
  readonly options: UpstreamOptions;
  readonly pools: Pool[];
  private next = 0;

  constructor(options: UpstreamOptions) {
    this.options = options;
    const tlsOptions = options.protocol === 'https' ? tlsFor(options) : undefined;
    this.pools = options.servers.map((s) => new Pool(s, options, tlsOptions && { ...tlsOptions, servername: options.tls?.servername ?? sniName(s.host) }));
  }

  /** The next server in round-robin order. */
  pick(): Pool {
    const pools = this.pools;
    if (pools.length === 1) return pools[0]!;
    const p = pools[this.next]!;
    this.next = this.next + 1 === pools.length ? 0 : this.next + 1;
    return p;
  }

  /** The server after `pool`, for trying another one after a connect failure. */
  after(pool: Pool): Pool {
    const i = this.pools.indexOf(pool);
    return this.pools[(i + 1) % this.pools.length]!;
  }

  close(): void {
    for (const p of this.pools) p.close();
  }

  destroy(): void {
    for (const p of this.pools) p.destroy();
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
