// A peer is one thing under test that answers HTTP on a loopback URL: the origin itself, a
// Portcullis configuration, nginx, HAProxy, node-http-proxy... A benchmark lists peer
// definitions; the runner starts them all once, measures them in alternating rounds and stops
// them at the end.

export interface Origin {
  /** What serves the origin, e.g. "nginx 1.22.1 (return 200, 1 worker)". */
  description: string;
  host: string;
  port: number;
  url: string;
  /** The exact body every request gets (peers are checked to return it). */
  body: string;
  /** Process groups whose CPU time is the origin's (empty if unknown). */
  pgids: number[];
  stop(): Promise<void>;
}

export interface PeerContext {
  /** This run's temp dir (configs, pid files, logs). */
  runDir: string;
  origin: Origin;
  log(msg: string): void;
}

export interface RunningPeer {
  name: string;
  /** The URL the load generator hits. */
  url: string;
  /** How it was started (command line or config summary), for the report. */
  detail: string;
  /** Process groups whose CPU time is this peer's (see cpu.ts); empty if unknown. */
  pgids: number[];
  stop(): Promise<void>;
}

export interface PeerDef {
  name: string;
  start(ctx: PeerContext): Promise<RunningPeer>;
}

/** Thrown by `start` when a peer cannot run here (binary absent, feature missing). */
export class SkipPeer extends Error {}

export interface StartedPeers {
  running: RunningPeer[];
  /** Peers that were not measured, with the reason (absent binary, failed start...). */
  skipped: Array<{ name: string; reason: string }>;
}

/** Starts peers one after the other (so start-up CPU does not overlap); failures are skipped. */
export async function startPeers(defs: PeerDef[], ctx: PeerContext): Promise<StartedPeers> {
  const out: StartedPeers = { running: [], skipped: [] };
  for (const def of defs) {
    try {
      const p = await def.start(ctx);
      ctx.log(`  started ${def.name}: ${p.url}  (${p.detail})`);
      out.running.push(p);
    } catch (err) {
      const skipped = err instanceof SkipPeer;
      const reason = (err as Error).message;
      ctx.log(`  ${skipped ? 'skipped' : 'FAILED to start'} ${def.name}: ${reason}`);
      out.skipped.push({ name: def.name, reason: skipped ? reason : `failed to start: ${reason}` });
    }
  }
  return out;
}

export async function stopPeers(peers: RunningPeer[]): Promise<void> {
  await Promise.allSettled(peers.map((p) => p.stop()));
}
