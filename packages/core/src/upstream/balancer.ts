/**
 * An upstream: its servers' pools, which of them may be chosen (health), and the balancing policy
 * that chooses (balance/). Pools are per thread: nothing here is shared.
 *
 * Tiers: the usable primary servers; when none is, the usable backups (nginx `backup`); when none
 * is either, no server (the exchange answers 503 and names the upstream).
 */
import type { BalancePolicy, UpstreamOptions } from '../config/options.js';
import type { ClientRequest } from '../exchange/contract.js';
import { PassiveHealth, type EjectionListener } from './passive-health.js';
import { createBalancer } from './balance/index.js';
import type { Balancer } from './balance/policy.js';
import type { UpstreamInfo } from './info.js';
import { Pool } from './pool.js';
import { sniName, tlsFor } from './tls-options.js';
import { formatHostPort } from '../headers/host.js';

export class Upstream implements UpstreamInfo {
  readonly name: string;
  readonly balance: BalancePolicy;
  readonly options: UpstreamOptions;
  readonly servers: readonly Pool[];
  readonly passive: PassiveHealth;
  private readonly balancer: Balancer;
  private readonly hasBackups: boolean;
  /** The only server, when there is one: no policy to run. */
  private readonly single: Pool | null;
  /** What a server's pool depends on besides its address: equal keys let a reload keep the pool. */
  private readonly connectionKey: string;
  /** Pools this upstream opened itself (not taken over from the configuration before). */
  readonly created: number;

  /**
   * `previous`: the upstream of the same name in the configuration before a reload; its pools are
   * taken over (with their sockets and health) for servers at the same address, when the
   * connection settings are the same.
   */
  constructor(options: UpstreamOptions, clientAddress: (req: ClientRequest) => string, ejections: EjectionListener, previous?: Upstream) {
    this.name = options.name;
    this.balance = options.balance;
    this.options = options;
    this.connectionKey = connectionKey(options);
    const reusable = previous !== undefined && previous.connectionKey === this.connectionKey ? new Map(previous.servers.map((p) => [p.label, p])) : null;
    const tlsOptions = options.protocol === 'https' ? tlsFor(options) : undefined;
    let created = 0;
    this.servers = options.servers.map((s, i) => {
      const label = formatHostPort(s.host, s.port);
      const kept = reusable?.get(label);
      if (kept !== undefined) {
        reusable!.delete(label);
        kept.adopt(s, i);
        return kept;
      }
      created++;
      return new Pool(s, i, options, tlsOptions && { ...tlsOptions, servername: options.tls?.servername ?? sniName(s.host) });
    });
    this.created = created;
    this.single = this.servers.length === 1 ? this.servers[0]! : null;
    this.hasBackups = this.servers.some((s) => s.backup);
    this.balancer = createBalancer(options, this.servers, clientAddress);
    this.passive = new PassiveHealth(options.passiveHealth, this.servers, ejections);
  }

  /** The server for this request by the policy, or null when no server may be used. */
  pick(req: ClientRequest): Pool | null {
    const single = this.single;
    if (single !== null) return single.usable ? single : null;
    let i = this.balancer.pick(req, false);
    if (i < 0 && this.hasBackups) i = this.balancer.pick(req, true);
    return i < 0 ? null : this.servers[i]!;
  }

  /**
   * Where a retry goes: the next usable server after `from` in list order that this request has
   * not tried (`tried`: a bit per server index below 31), primaries first, then backups; or null.
   */
  next(from: Pool, tried: number): Pool | null {
    const pools = this.servers;
    const n = pools.length;
    for (let tier = 0; tier < 2; tier++) {
      const backup = tier === 1;
      if (backup && !this.hasBackups) break;
      for (let k = 1; k <= n; k++) {
        const p = pools[(from.index + k) % n]!;
        if (p.backup !== backup || !p.usable) continue;
        if (p.index < 31 && (tried & (1 << p.index)) !== 0) continue;
        if (p === from) continue;
        return p;
      }
      // Backups serve retries only once no primary is left to try.
    }
    return null;
  }

  /** Why no server may be used, for the 503's log line: how many are down, unhealthy, ejected. */
  describeUnavailable(): string {
    const counts = { down: 0, unhealthy: 0, ejected: 0 };
    for (const p of this.servers) {
      const h = p.health;
      if (h !== 'up') counts[h]++;
    }
    const parts = Object.entries(counts).filter(([, n]) => n > 0).map(([state, n]) => `${n} ${state}`);
    return `no usable server in upstream "${this.name}" (${parts.join(', ') || 'none up'})`;
  }

  /**
   * A reload replaced this upstream: pools not in `kept` drain (idle sockets close now, busy ones
   * after their response); requests still in flight here report no more to passive health, whose
   * ejections are now the new upstream's. Returns how many pools drain.
   */
  retire(kept: ReadonlySet<Pool>): number {
    this.passive.close();
    let drained = 0;
    for (const p of this.servers) {
      if (kept.has(p)) continue;
      p.close();
      drained++;
    }
    return drained;
  }

  close(): void {
    this.passive.close();
    for (const p of this.servers) p.close();
  }
}

/** The settings a pool's sockets depend on (protocol, TLS, limits and timeouts), as one string. */
function connectionKey(o: UpstreamOptions): string {
  const t = o.tls;
  const pem = (v: string | Buffer | undefined): string | null => (v === undefined ? null : typeof v === 'string' ? v : v.toString('base64'));
  return JSON.stringify([
    o.protocol,
    t === undefined ? null : [t.verify, t.servername ?? null, pem(t.ca), pem(t.cert), pem(t.key)],
    o.keepalive,
    o.maxConnections,
    o.idleTimeout,
    o.maxRequestsPerSocket,
    o.connectTimeout,
    o.readTimeout,
    o.sendTimeout,
    o.pipelining,
  ]);
}
