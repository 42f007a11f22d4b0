/**
 * Envoy's least_request: the power of two random choices. Two distinct usable servers of the tier
 * are drawn and the less loaded wins; load is requests in flight in this thread, and with weights
 * `(active + 1) / weight` (lower wins). Two choices avoid both the herd that "always the least
 * loaded" sends to one server between updates and the cost of scanning every server.
 */
import type { Candidate } from './policy.js';
import type { Xorshift32 } from './random.js';

/** Draws per choice before the linear fallback (many servers unusable). */
const ATTEMPTS = 4;

export class LeastRequest {
  private readonly servers: readonly Candidate[];
  private readonly tier: Int32Array;
  private readonly rng: Xorshift32;
  /** Equal weights: compare the active counts alone. */
  private readonly unweighted: boolean;

  constructor(servers: readonly Candidate[], tier: Int32Array, rng: Xorshift32) {
    this.servers = servers;
    this.tier = tier;
    this.rng = rng;
    let unweighted = true;
    for (let i = 1; i < tier.length; i++) {
      if (servers[tier[i]!]!.weight !== servers[tier[0]!]!.weight) unweighted = false;
    }
    this.unweighted = unweighted;
  }

  pick(): number {
    const tier = this.tier;
    const n = tier.length;
    if (n === 0) return -1;
    if (n === 1) {
      const s = tier[0]!;
      return this.servers[s]!.usable ? s : -1;
    }
    const pa = this.sample(-1);
    if (pa < 0) return -1;
    const pb = this.sample(pa);
    const a = this.servers[tier[pa]!]!;
    if (pb < 0) return a.index; // the only usable one
    const b = this.servers[tier[pb]!]!;
    // Ties keep the first draw, itself uniform: equal loads spread evenly.
    if (this.unweighted) return b.active < a.active ? b.index : a.index;
    // (b.active + 1) / b.weight < (a.active + 1) / a.weight, without dividing.
    return (b.active + 1) * a.weight < (a.active + 1) * b.weight ? b.index : a.index;
  }

  /**
   * A uniformly drawn tier position of a usable server other than `exclude` (a position, or -1),
   * or -1 when there is none. Never builds the list of usable servers.
   */
  private sample(exclude: number): number {
    const tier = this.tier;
    const servers = this.servers;
    const n = tier.length;
    for (let a = 0; a < ATTEMPTS; a++) {
      let p: number;
      if (exclude < 0) p = this.rng.below(n);
      else {
        // Uniform among the other n - 1 positions.
        p = this.rng.below(n - 1);
        if (p >= exclude) p++;
      }
      if (servers[tier[p]!]!.usable) return p;
    }
    // From a random start so the fallback does not always favour the same server.
    const start = this.rng.below(n);
    for (let i = 0; i < n; i++) {
      const p = start + i < n ? start + i : start + i - n;
      if (p !== exclude && servers[tier[p]!]!.usable) return p;
    }
    return -1;
  }
}
