/**
 * Weighted random among the usable servers of a tier, and the PRNG the random policies share.
 */
import type { Candidate } from './policy.js';

/**
 * xorshift32 (Marsaglia): a few integer operations per number, no allocation. Quality is ample for
 * spreading requests; nothing here needs to be unpredictable.
 */
export class Xorshift32 {
  private x: number;

  constructor(seed: number = (Math.random() * 0x100000000) >>> 0) {
    // Zero is xorshift's one fixed point.
    this.x = seed | 0 || 0x9e3779b9 | 0;
  }

  /** Uniform in [0, 2^32). */
  next(): number {
    let x = this.x;
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    this.x = x;
    return x >>> 0;
  }

  /** Uniform integer in [0, n), n <= 2^21: multiply-shift, which uses the high (better) bits. */
  below(n: number): number {
    return ((this.next() * n) / 0x100000000) >>> 0;
  }

  /** Uniform in [0, 1). */
  unit(): number {
    return this.next() / 0x100000000;
  }
}

/** Rejection sampling this many times before the exact linear fallback. */
const ATTEMPTS = 4;

export class WeightedRandom {
  private readonly servers: readonly Candidate[];
  private readonly tier: Int32Array;
  /** Cumulative weights of the tier: cum[i] = weight of positions 0..i. */
  private readonly cum: Float64Array;
  private readonly rng: Xorshift32;

  constructor(servers: readonly Candidate[], tier: Int32Array, rng: Xorshift32) {
    this.servers = servers;
    this.tier = tier;
    this.rng = rng;
    this.cum = new Float64Array(tier.length);
    let sum = 0;
    for (let i = 0; i < tier.length; i++) this.cum[i] = sum += servers[tier[i]!]!.weight;
  }

  pick(): number {
    const tier = this.tier;
    const n = tier.length;
    if (n === 0) return -1;
    if (n === 1) {
      const s = tier[0]!;
      return this.servers[s]!.usable ? s : -1;
    }
    const cum = this.cum;
    // Draw among all servers and retry on an unusable one: accepted draws are weighted exactly
    // among the usable servers, and the usual case (all usable) costs one draw and a bisection.
    for (let a = 0; a < ATTEMPTS; a++) {
      const r = this.rng.unit() * cum[n - 1]!;
      let lo = 0;
      let hi = n - 1;
      while (lo < hi) {
        const mid = (lo + hi) >>> 1;
        if (cum[mid]! > r) hi = mid;
        else lo = mid + 1;
      }
      const s = tier[lo]!;
      if (this.servers[s]!.usable) return s;
    }
    // Most servers unusable: sum the usable weights, then walk to the drawn one.
    return this.scan();
  }

  private scan(): number {
    const tier = this.tier;
    const servers = this.servers;
    let total = 0;
    for (let i = 0; i < tier.length; i++) {
      const c = servers[tier[i]!]!;
      if (c.usable) total += c.weight;
    }
    if (total === 0) return -1;
    let r = this.rng.unit() * total;
    let last = -1;
    for (let i = 0; i < tier.length; i++) {
      const c = servers[tier[i]!]!;
      if (!c.usable) continue;
      last = tier[i]!;
      r -= c.weight;
      if (r < 0) return last;
    }
    // Rounding left r at 0: the last usable server.
    return last;
  }
}
