/**
 * The balancing policies of an upstream (`upstreams.<name>.balance`), built once per upstream and
 * thread. Each tier (primaries, backups) has its own state, as nginx keeps backups in a separate
 * peer list: a request served by a backup does not disturb the primaries' rotation.
 */
import type { BalancePolicy, HashKey } from '../../config/options.js';
import type { ClientRequest } from '../../exchange/contract.js';
import { HashRing } from './hash-ring.js';
import { keyReader } from './hash-key.js';
import { LeastRequest } from './least-request.js';
import type { Balancer, Candidate } from './policy.js';
import { WeightedRandom, Xorshift32 } from './random.js';
import { SmoothRoundRobin } from './round-robin.js';

export type { Balancer, Candidate } from './policy.js';

/** One tier's policy. */
interface TierPolicy {
  pick(req: ClientRequest): number;
}

class Tiered implements Balancer {
  constructor(
    private readonly primaries: TierPolicy,
    private readonly backups: TierPolicy,
  ) {}

  pick(req: ClientRequest, backup: boolean): number {
    return (backup ? this.backups : this.primaries).pick(req);
  }
}

/**
 * `servers[i].index === i`; their weights, backup flags and labels are read once, here; `usable`
 * and `active` at every pick. `clientAddress` is the client as the trust rules see it (the
 * `client_ip` hash key). The `hash` policy builds its rings here (md5, 40 digests per unit of
 * weight and server): build once, not per request.
 */
export function createBalancer(
  options: { balance: BalancePolicy; hashKey?: HashKey },
  servers: readonly Candidate[],
  clientAddress: (req: ClientRequest) => string,
): Balancer {
  servers.forEach((s, i) => {
    if (s.index !== i) throw new Error(`balancer: server ${i} has index ${s.index}`);
  });
  const primaries = tierOf(servers, false);
  const backups = tierOf(servers, true);
  switch (options.balance) {
    case 'round_robin':
      return new Tiered(new SmoothRoundRobin(servers, primaries), new SmoothRoundRobin(servers, backups));
    case 'least_request': {
      const rng = new Xorshift32();
      return new Tiered(new LeastRequest(servers, primaries, rng), new LeastRequest(servers, backups, rng));
    }
    case 'random': {
      const rng = new Xorshift32();
      return new Tiered(new WeightedRandom(servers, primaries, rng), new WeightedRandom(servers, backups, rng));
    }
    case 'hash': {
      if (!options.hashKey) throw new Error('balancer: the hash policy needs a hash key');
      const keyOf = keyReader(options.hashKey, clientAddress);
      return new Tiered(
        new HashRing(servers, primaries, keyOf, new SmoothRoundRobin(servers, primaries)),
        new HashRing(servers, backups, keyOf, new SmoothRoundRobin(servers, backups)),
      );
    }
  }
}

function tierOf(servers: readonly Candidate[], backup: boolean): Int32Array {
  let n = 0;
  for (const s of servers) if (s.backup === backup) n++;
  const tier = new Int32Array(n);
  n = 0;
  for (const s of servers) if (s.backup === backup) tier[n++] = s.index;
  return tier;
}
