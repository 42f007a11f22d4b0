/**
 * Smooth weighted round robin, as nginx's `ngx_http_upstream_get_peer`: every usable server's
 * current weight grows by its weight, the largest is chosen and loses the tier's total. Weights
 * 5,1,1 give a a b a c a a: interleaved rather than in bursts, and exact over each cycle.
 */
import type { Candidate } from './policy.js';

export class SmoothRoundRobin {
  private readonly servers: readonly Candidate[];
  private readonly tier: Int32Array;
  /** Per tier position; Float64 so no total of weights can overflow it. */
  private readonly current: Float64Array;

  /** `tier`: the indices of the servers of one tier (primaries or backups), in config order. */
  constructor(servers: readonly Candidate[], tier: Int32Array) {
    this.servers = servers;
    this.tier = tier;
    this.current = new Float64Array(tier.length);
  }

  pick(): number {
    const tier = this.tier;
    const n = tier.length;
    if (n === 1) {
      // Nothing to interleave: skip the bookkeeping.
      const s = tier[0]!;
      return this.servers[s]!.usable ? s : -1;
    }
    const servers = this.servers;
    const current = this.current;
    let best = -1;
    let total = 0;
    for (let i = 0; i < n; i++) {
      const c = servers[tier[i]!]!;
      // As nginx: a server that may not be chosen is left out, and its current weight frozen.
      if (!c.usable) continue;
      const w = c.weight;
      current[i]! += w;
      total += w;
      // Strictly greater: ties go to the first in config order, as in nginx.
      if (best < 0 || current[i]! > current[best]!) best = i;
    }
    if (best < 0) return -1;
    current[best]! -= total;
    return tier[best]!;
  }
}
