// Alternating rounds: each round runs every peer once, the order rotated by one each round, so
// that slow drifts of a noisy shared machine spread over all peers instead of landing on one.
import { sleep } from './net.js';
import type { RunningPeer } from './peers.js';

export interface RoundsOptions<S> {
  peers: RunningPeer[];
  rounds: number;
  /** Run before each measurement of a peer; its result is discarded. */
  warmup?: (peer: RunningPeer) => Promise<unknown>;
  measure: (peer: RunningPeer) => Promise<S>;
  /** One-line summary of a sample for the progress log. */
  format: (sample: S) => string;
  log: (msg: string) => void;
  /** Quiet time between measurements (lets closed sockets and GC settle); default 300 ms. */
  pauseMs?: number;
}

export interface Measurement<S> {
  round: number;
  /** 0-based position of the peer within its round. */
  position: number;
  peer: string;
  sample?: S;
  error?: string;
}

export function rotation<T>(items: T[], round: number): T[] {
  const k = items.length === 0 ? 0 : round % items.length;
  return [...items.slice(k), ...items.slice(0, k)];
}

export async function runRounds<S>(opts: RoundsOptions<S>): Promise<Array<Measurement<S>>> {
  const out: Array<Measurement<S>> = [];
  for (let round = 0; round < opts.rounds; round++) {
    const order = rotation(opts.peers, round);
    opts.log(`round ${round + 1}/${opts.rounds}: ${order.map((p) => p.name).join(', ')}`);
    for (const [position, peer] of order.entries()) {
      const m: Measurement<S> = { round: round + 1, position, peer: peer.name };
      try {
        if (opts.warmup) await opts.warmup(peer);
        m.sample = await opts.measure(peer);
        opts.log(`  ${peer.name.padEnd(22)} ${opts.format(m.sample)}`);
      } catch (err) {
        m.error = (err as Error).message;
        opts.log(`  ${peer.name.padEnd(22)} ERROR ${m.error}`);
      }
      out.push(m);
      await sleep(opts.pauseMs ?? 300);
    }
  }
  return out;
}

export function median(values: number[]): number {
  const v = values.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (v.length === 0) return NaN;
  const mid = v.length >> 1;
  return v.length % 2 ? v[mid]! : (v[mid - 1]! + v[mid]!) / 2;
}
