/**
 * Consistent hashing on a ring, ketama style (nginx `hash $key consistent`). Each server owns
 * 160 x weight points placed by md5 of its label, so the ring is the same in every process and
 * across restarts, and removing a server moves only its own keys (about 1/N). A key goes to the
 * first point at or after its hash; an unusable server's keys go on to the next points' servers
 * and come back, unchanged, once it is usable again.
 */
import crypto from 'node:crypto';
import type { ClientRequest } from '../../exchange/contract.js';
import type { KeyReader } from './hash-key.js';
import type { Candidate } from './policy.js';
import type { SmoothRoundRobin } from './round-robin.js';

/** Points per unit of weight (ketama's and nginx's 160). */
const POINTS_PER_WEIGHT = 160;
/**
 * At most this many points per server (weight 100): more buys no better balance, only ring size
 * and build time. Weights above 100 are therefore treated as 100 on the ring.
 */
const MAX_POINTS = 16_000;
/** Ring steps walked past unusable servers before checking whether any server is usable. */
const WALK_BEFORE_CHECK = 64;
/** Sort keys pack hash * 2^21 + server rank, exact in a double (2^32 x 2^21 = 2^53). */
const RANK_SPAN = 0x200000;

export class HashRing {
  private readonly servers: readonly Candidate[];
  private readonly tier: Int32Array;
  /** Point positions, ascending. */
  private readonly points: Uint32Array;
  /** The server index owning each point. */
  private readonly owners: Int32Array;
  private readonly keyOf: KeyReader;
  private readonly fallback: SmoothRoundRobin;

  /**
   * `tier`: the server indices of one tier. `fallback` chooses when a request has no key: smooth
   * weighted round robin of the same tier (Envoy falls back to random; round robin spreads the
   * keyless requests more evenly and the same way nginx's default does).
   */
  constructor(servers: readonly Candidate[], tier: Int32Array, keyOf: KeyReader, fallback: SmoothRoundRobin) {
    if (tier.length >= RANK_SPAN) throw new RangeError('too many servers for a hash ring');
    this.servers = servers;
    this.tier = tier;
    this.keyOf = keyOf;
    this.fallback = fallback;

    // Equal hashes (rare) are ordered by label, then config order: stable when other servers
    // are added or removed, unlike the index alone.
    const byLabel = Array.from(tier).sort((a, b) => {
      const la = servers[a]!.label;
      const lb = servers[b]!.label;
      return la < lb ? -1 : la > lb ? 1 : a - b;
    });
    let total = 0;
    for (const s of byLabel) total += pointsOf(servers[s]!);
    const keys = new Float64Array(total);
    let k = 0;
    for (let rank = 0; rank < byLabel.length; rank++) {
      const c = servers[byLabel[rank]!]!;
      const n = pointsOf(c);
      // As ketama: one md5 of `label-i` gives four points (its four little-endian words).
      for (let i = 0; i < n / 4; i++) {
        const d = md5(`${c.label}-${i}`);
        for (let j = 0; j < 4; j++) keys[k++] = d.readUInt32LE(j * 4) * RANK_SPAN + rank;
      }
    }
    keys.sort();
    this.points = new Uint32Array(total);
    this.owners = new Int32Array(total);
    for (let i = 0; i < total; i++) {
      const key = keys[i]!;
      const rank = key % RANK_SPAN;
      this.points[i] = (key - rank) / RANK_SPAN;
      this.owners[i] = byLabel[rank]!;
    }
  }

  pick(req: ClientRequest): number {
    const key = this.keyOf(req);
    if (key === undefined) return this.fallback.pick();
    return this.lookup(hash32(key));
  }

  /** The first usable server at or after `hash` on the ring, or -1. */
  lookup(hash: number): number {
    const points = this.points;
    const n = points.length;
    if (n === 0) return -1;
    let lo = 0;
    let hi = n;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (points[mid]! < hash) lo = mid + 1;
      else hi = mid;
    }
    let p = lo === n ? 0 : lo;
    const servers = this.servers;
    for (let step = 0; step < n; step++) {
      const s = this.owners[p]!;
      if (servers[s]!.usable) return s;
      // A whole tier down would walk the whole ring: check cheaply once the walk grows long.
      if (step === WALK_BEFORE_CHECK && !this.anyUsable()) return -1;
      if (++p === n) p = 0;
    }
    return -1;
  }

  private anyUsable(): boolean {
    for (let i = 0; i < this.tier.length; i++) if (this.servers[this.tier[i]!]!.usable) return true;
    return false;
  }
}

/**
 * The one-shot crypto.hash (Node 20.12+) is about 2.5 times faster than createHash per digest,
 * which is most of a large ring's build time.
 */
const md5: (s: string) => Buffer =
  typeof crypto.hash === 'function'
    ? (s) => crypto.hash('md5', s, 'buffer')
    : (s) => crypto.createHash('md5').update(s).digest();

function pointsOf(c: Candidate): number {
  return Math.min(POINTS_PER_WEIGHT * c.weight, MAX_POINTS);
}

/**
 * MurmurHash3 x86_32 (seed 0) of the key's UTF-16LE bytes, read straight from the string's code
 * units: no encoding, no allocation, full avalanche (the ring's md5 points are uniform, so the
 * keys' hashes must be too), and no random seed, so every process maps a key alike.
 */
export function hash32(s: string): number {
  const n = s.length;
  let h = 0;
  let i = 0;
  for (; i + 1 < n; i += 2) {
    let k = s.charCodeAt(i) | (s.charCodeAt(i + 1) << 16);
    k = Math.imul(k, 0xcc9e2d51);
    k = (k << 15) | (k >>> 17);
    k = Math.imul(k, 0x1b873593);
    h ^= k;
    h = (h << 13) | (h >>> 19);
    h = (Math.imul(h, 5) + 0xe6546b64) | 0;
  }
  if (i < n) {
    let k = s.charCodeAt(i);
    k = Math.imul(k, 0xcc9e2d51);
    k = (k << 15) | (k >>> 17);
    k = Math.imul(k, 0x1b873593);
    h ^= k;
  }
  h ^= n * 2;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}
