/**
 * The contract between an upstream and its balancing policy. The upstream decides which servers
 * may be chosen (usable primaries, else usable backups); the policy chooses among them. Policies
 * run per request: they allocate nothing per pick and never build a list of candidates.
 */
import type { ClientRequest } from '../../exchange/contract.js';

/** What a policy reads of a server (a Pool implements it). */
export interface Candidate {
  readonly index: number;
  /** 1 to 1000. */
  readonly weight: number;
  readonly backup: boolean;
  /** May be chosen now (healthy, not ejected, not down). */
  readonly usable: boolean;
  /** Requests in flight on it in this thread (least_request). */
  readonly active: number;
  /** `host:port`: names its points on a hash ring, so the ring is the same in every process. */
  readonly label: string;
}

export interface Balancer {
  /**
   * Index (into the servers the policy was built with) of the server for this request, among
   * those with `backup === backup` that are usable; -1 when none is.
   */
  pick(req: ClientRequest, backup: boolean): number;
}
