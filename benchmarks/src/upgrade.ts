// The upgrade benchmark: WebSocket handshakes/s (open, one echo, close) and echo messages/s over
// long-lived connections (64 B, 4 KiB, 64 KiB), through Portcullis with 1 and N workers, direct
// to the origin, node-http-proxy (`ws: true`), nginx and HAProxy with the guide's config, in one
// run of alternating rounds, with ratios to nginx. Then the proxy's resident memory per idle
// proxied WebSocket at 10,000 connections.
//
//   pnpm --filter @portcullis/benchmarks run bench:upgrade
//   pnpm --filter @portcullis/benchmarks run bench:upgrade -- --rounds 5 --peers direct,nginx,portcullis-1
//   ... -- --help
//
// Load: a piscina pool of worker threads, each running its share of the connections with the
// `ws` package as the client (see runner/ws-load-worker.ts). The origin is uWebSockets.js echoing
// every message, in a child process.
import { readFileSync, readdirSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { Piscina } from 'piscina';
import WebSocket from 'ws';
import {
  directPeer,
  distDir,
  fmt,
  freePort,
  groupCpuSeconds,
  floorPeer,
  haproxyPeer,
  HOST,
  list,
  machineInfo,
  machineMarkdown,
  makeRunDir,
  markdownTable,
  median,
  nginxPeer,
  nodeHttpProxyPeer,
  portcullisPeer,
  readOptions,
  runRounds,
  sleep,
  splitEvenly,
  startPeers,
  startProcess,
  stopAll,
  stopPeers,
  waitForHttp,
  writeResults,
  type Origin,
  type PeerDef,
  type RunningPeer,
} from './runner/index.js';
import type { WsLoadOutcome, WsLoadTask } from './runner/ws-load-worker.js';

const cpus = os.availableParallelism();

const specs = {
  rounds: { default: 3, help: 'alternating rounds (each runs every peer once, order rotated)' },
  duration: { default: 4, help: 'seconds measured per metric per peer per round' },
  warmup: { default: 1, help: 'seconds of echo load before each peer is measured (discarded)' },
  connections: { default: 50, help: 'long-lived connections of the echo runs' },
  inflight: { default: 4, help: 'messages each echo connection keeps in flight' },
  handshakeConnections: { default: 20, help: 'concurrent open-echo-close loops of the handshake run' },
  sizes: { default: '64,4096,65536', help: 'echo message sizes in bytes, comma-separated' },
  baseline: {
    default: '',
    help: "another build's packages/server/dist/cli.js, measured as peer baseline-1 (before/after a change)",
  },
  peers: {
    default: 'direct,portcullis-1,portcullis-N,floor,node-http-proxy,nginx,haproxy',
    help: 'peers to measure, comma-separated',
  },
  loadThreads: { default: 2, help: 'piscina worker threads of the load generator' },
  portcullisWorkers: { default: cpus, help: 'workers of the portcullis-N peer (default: CPU count)' },
  idle: { default: 10000, help: 'idle proxied WebSockets for the memory measurement (0: skip it)' },
  idleWorkers: { default: 2, help: 'Portcullis workers for the memory measurement' },
  write: { default: 'yes', help: 'write benchmarks/results/upgrade-<date>.{md,json}: yes | no' },
};

interface Sample {
  handshakes: number;
  /** messages/s per size, keyed by size. */
  echo: Record<string, number>;
  /** The peer's CPU (its own processes; for direct, the origin's) per handshake and per message, µs. */
  handshakeCpu: number;
  echoCpu: Record<string, number>;
  errors: number;
}

const ORIGIN_BODY = 'portcullis-bench-ok\n';

async function startWsOrigin(runDir: string): Promise<Origin> {
  const port = await freePort();
  const proc = startProcess({
    name: 'origin-uws-ws',
    command: process.execPath,
    args: [join(distDir, 'children', 'ws-echo-origin.js'), HOST, String(port), ORIGIN_BODY],
    logDir: runDir,
  });
  const url = `http://${HOST}:${port}/`;
  await waitForHttp(url, { proc, expectBody: ORIGIN_BODY });
  return {
    description: 'uWebSockets.js 20.30 WebSocket echo in a child process',
    host: HOST,
    port,
    url,
    body: ORIGIN_BODY,
    pgids: proc.pgids,
    stop: () => proc.stop(),
  };
}

function catalogue(workers: number, baseline: string): Map<string, PeerDef> {
  return new Map<string, PeerDef>([
    ['direct', directPeer()],
    ['portcullis-1', portcullisPeer({ name: 'portcullis-1', workers: 1 })],
    ['baseline-1', portcullisPeer({ name: 'baseline-1', workers: 1, cli: baseline })],
    ['portcullis-N', portcullisPeer({ name: `portcullis-${workers}`, workers })],
    ['node-http-proxy', nodeHttpProxyPeer()],
    ['nginx', nginxPeer()],
    ['floor', floorPeer('ws-floor-relay.js', 'a bare relay on the same two parts (uWS 20.30 client hop, node:net upstream hop) and none of the proxy: no checks, limits, timers or backpressure, mask key zero; the least this design can cost')],
    ['nginx-N', nginxPeer({ name: `nginx-${workers}`, workers })],
    ['haproxy', haproxyPeer()],
  ]);
}

class WsLoad {
  private readonly pool: Piscina<WsLoadTask, WsLoadOutcome>;
  constructor(readonly threads: number) {
    this.pool = new Piscina({
      filename: new URL('./runner/ws-load-worker.js', import.meta.url).href,
      minThreads: threads,
      maxThreads: threads,
      idleTimeout: 60 * 60 * 1000,
    });
  }

  /**
   * Rate (per second) summed over the threads, the errors, and the CPU `pgids` spent per
   * operation (µs). The CPU is read around the whole task, connection set-up included, and
   * divided by the operations the measured rate would give over that time: a small bias, the
   * same for every peer.
   */
  async run(task: Omit<WsLoadTask, 'connections'>, connections: number, pgids: number[] = []): Promise<{ rate: number; errors: number; cpuUs: number }> {
    const parts = splitEvenly(connections, this.threads);
    const cpu0 = groupCpuSeconds(pgids);
    const t0 = performance.now();
    const outs = await Promise.all(parts.map((c) => this.pool.run({ ...task, connections: c })));
    const cpu = groupCpuSeconds(pgids) - cpu0;
    const wallS = (performance.now() - t0) / 1000;
    const rate = outs.reduce((a, o) => a + o.count / o.durationS, 0);
    return { rate, errors: outs.reduce((a, o) => a + o.errors, 0), cpuUs: (cpu * 1e6) / (rate * wallS) };
  }

  close(): Promise<void> {
    return this.pool.destroy();
  }
}

const wsUrl = (p: RunningPeer): string => p.url.replace(/^http/, 'ws');

// ---- memory per idle WebSocket ------------------------------------------------------------

function rssOf(pid: number): number {
  try {
    const m = /VmRSS:\s+(\d+)\s+kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) * 1024 : 0;
  } catch {
    return 0;
  }
}

/** Pids in process group `pgid`, except the leader (the supervisor): the workers. */
function workersOf(pgid: number): number[] {
  const out: number[] = [];
  for (const e of readdirSync('/proc')) {
    if (!/^\d+$/.test(e) || Number(e) === pgid) continue;
    try {
      const stat = readFileSync(`/proc/${e}/stat`, 'utf8');
      const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (Number(rest[2]) === pgid) out.push(Number(e));
    } catch {
      /* gone */
    }
  }
  return out;
}

async function openMany(url: string, n: number, log: (m: string) => void): Promise<WebSocket[]> {
  const out: WebSocket[] = [];
  const batch = 250;
  for (let i = 0; i < n; i += batch) {
    const k = Math.min(batch, n - i);
    const opened = await Promise.allSettled(
      Array.from(
        { length: k },
        () =>
          new Promise<WebSocket>((resolve, reject) => {
            const ws = new WebSocket(url, { perMessageDeflate: false });
            ws.once('open', () => resolve(ws));
            ws.once('error', reject);
          }),
      ),
    );
    for (const r of opened) if (r.status === 'fulfilled') out.push(r.value);
    if (i % 2000 === 0) log(`    ${out.length} open`);
  }
  return out;
}

interface IdleResult {
  connections: number;
  workers: number;
  rssBeforeMiB: number;
  rssAfterMiB: number;
  perConnectionKiB: number;
}

async function idleMemory(runDir: string, origin: Origin, n: number, workers: number, log: (m: string) => void): Promise<IdleResult> {
  const peer = await portcullisPeer({ name: `portcullis-idle-${workers}`, workers }).start({ runDir, origin, log });
  try {
    const pgid = peer.pgids[0]!;
    const pids = workersOf(pgid);
    const url = wsUrl(peer);
    // Warm up: code paths compiled, pools and timers in place.
    const warm = await openMany(url, 100, () => {});
    for (const w of warm) w.close();
    await sleep(1500);
    const before = pids.reduce((a, p) => a + rssOf(p), 0);
    const sockets = await openMany(url, n, log);
    await sleep(3000);
    const after = pids.reduce((a, p) => a + rssOf(p), 0);
    for (const s of sockets) s.terminate();
    await sleep(500);
    return {
      connections: sockets.length,
      workers: pids.length,
      rssBeforeMiB: before / 2 ** 20,
      rssAfterMiB: after / 2 ** 20,
      perConnectionKiB: (after - before) / sockets.length / 1024,
    };
  } finally {
    await peer.stop();
  }
}

// ---- main -----------------------------------------------------------------------------------

async function main(): Promise<void> {
  const o = readOptions('bench:upgrade: WebSocket handshakes and echo messages through Portcullis and its peers', specs);
  const sizes = list(o.sizes).map(Number);
  const started = new Date();
  const log = (m: string): void => console.log(m);
  const machine = machineInfo();
  log(`# upgrade benchmark, ${started.toISOString()}\n${machineMarkdown(machine)}\n`);
  const defs = catalogue(o.portcullisWorkers, o.baseline);
  const selected: PeerDef[] = [];
  for (const name of list(o.peers)) {
    const def = defs.get(name);
    if (!def) throw new Error(`unknown peer ${name}; known: ${[...defs.keys()].join(', ')}`);
    if (name === 'portcullis-N' && o.portcullisWorkers === 1) continue;
    selected.push(def);
  }
  const runDir = makeRunDir('upgrade');
  const load = new WsLoad(o.loadThreads);
  let running: RunningPeer[] = [];
  let origin: Origin | undefined;
  try {
    origin = await startWsOrigin(runDir);
    log(`origin: ${origin.description} at ${origin.url}`);
    const peers = await startPeers(selected, { runDir, origin, log });
    running = peers.running;
    if (running.length === 0) throw new Error('no peer could be started');

    const measurements = await runRounds<Sample>({
      peers: running,
      rounds: o.rounds,
      warmup: (p) => load.run({ kind: 'echo', url: wsUrl(p), durationS: o.warmup, size: 64, inflight: o.inflight, binary: true }, o.connections),
      measure: async (p) => {
        const url = wsUrl(p);
        const hs = await load.run({ kind: 'handshake', url, durationS: o.duration, size: 16, inflight: 1, binary: false }, o.handshakeConnections, p.pgids);
        const echo: Record<string, number> = {};
        const echoCpu: Record<string, number> = {};
        let errors = hs.errors;
        for (const size of sizes) {
          const r = await load.run({ kind: 'echo', url, durationS: o.duration, size, inflight: o.inflight, binary: true }, o.connections, p.pgids);
          echo[size] = r.rate;
          echoCpu[size] = r.cpuUs;
          errors += r.errors;
        }
        if (hs.rate === 0) throw new Error(`no handshake completed (${hs.errors} errors)`);
        return { handshakes: hs.rate, echo, handshakeCpu: hs.cpuUs, echoCpu, errors };
      },
      format: (s) =>
        `${fmt(s.handshakes, 0).padStart(7)} hs/s (${fmt(s.handshakeCpu, 0)} µs)  ${sizes.map((z) => `${z} B: ${fmt(s.echo[z]!, 0)} msg/s (${fmt(s.echoCpu[z]!, 1)} µs)`).join('  ')}${s.errors ? `  ${s.errors} ERRORS` : ''}`,
      log,
      pauseMs: 500,
    });

    let idle: IdleResult | null = null;
    if (o.idle > 0) {
      await stopPeers(running);
      running = [];
      log(`\nidle memory: ${o.idle} WebSockets through portcullis with ${o.idleWorkers} workers`);
      idle = await idleMemory(runDir, origin, o.idle, o.idleWorkers, log);
      log(`  ${idle.connections} open: workers' RSS ${idle.rssBeforeMiB.toFixed(1)} -> ${idle.rssAfterMiB.toFixed(1)} MiB, ${idle.perConnectionKiB.toFixed(2)} KiB per idle WebSocket`);
    }

    const names = [...new Set(measurements.map((m) => m.peer))];
    const metricKeys: Array<{ key: string; label: string; get: (s: Sample) => number }> = [
      { key: 'handshakes', label: 'handshakes/s', get: (s) => s.handshakes },
      ...sizes.map((z) => ({ key: `echo${z}`, label: `${z >= 1024 ? `${z / 1024} KiB` : `${z} B`} msg/s`, get: (s: Sample) => s.echo[z]! })),
    ];
    const medians = new Map<string, Record<string, number>>();
    for (const n of names) {
      const ok = measurements.filter((m) => m.peer === n && m.sample).map((m) => m.sample!);
      medians.set(n, Object.fromEntries(metricKeys.map((k) => [k.key, median(ok.map(k.get))])));
    }
    const base = medians.get('nginx');
    const rows = names.map((n) => [
      n,
      ...metricKeys.map((k) => {
        const v = medians.get(n)![k.key]!;
        const b = base?.[k.key];
        return `${fmt(v, 0)}${b && Number.isFinite(v) ? ` (${(v / b).toFixed(2)}x)` : ''}`;
      }),
    ]);
    const table = markdownTable(['peer', ...metricKeys.map((k) => `${k.label} (median)`)], rows, [false, ...metricKeys.map(() => true)]);
    const cpuKeys: Array<{ label: string; get: (s: Sample) => number }> = [
      { label: 'µs/handshake', get: (s) => s.handshakeCpu },
      ...sizes.map((z) => ({ label: `µs/${z >= 1024 ? `${z / 1024} KiB` : `${z} B`} msg`, get: (s: Sample) => s.echoCpu[z]! })),
    ];
    const cpuTable = markdownTable(
      ['peer', ...cpuKeys.map((k) => `${k.label} (median)`)],
      names.map((n) => {
        const ok = measurements.filter((m) => m.peer === n && m.sample).map((m) => m.sample!);
        return [n, ...cpuKeys.map((k) => fmt(median(ok.map(k.get)), 1))];
      }),
      [false, ...cpuKeys.map(() => true)],
    );
    const perRound = markdownTable(
      ['peer', ...Array.from({ length: o.rounds }, (_, i) => `round ${i + 1}`)],
      names.map((n) => [
        n,
        ...Array.from({ length: o.rounds }, (_, i) => {
          const m = measurements.find((x) => x.peer === n && x.round === i + 1);
          if (!m) return '-';
          if (!m.sample) return `error: ${m.error?.split('\n')[0] ?? ''}`;
          return `${metricKeys.map((k) => fmt(k.get(m.sample!), 0)).join(' / ')}${m.sample.errors ? ` (${m.sample.errors} err)` : ''} (#${m.position + 1})`;
        }),
      ]),
    );
    const md = [
      `# WebSocket (upgrade) benchmark, ${started.toISOString().slice(0, 16).replace('T', ' ')} UTC`,
      '',
      `Handshakes: ${o.handshakeConnections} concurrent loops of open, one 16-byte echo, close. Echo: ${o.connections} long-lived connections, each keeping ${o.inflight} binary messages in flight. ${o.duration} s per metric per peer per round, ${o.rounds} rounds, order rotated; medians, and in parentheses the ratio to nginx.`,
      '',
      table,
      '',
      idle
        ? `Idle memory: ${idle.connections} idle proxied WebSockets through Portcullis (${idle.workers} workers; a worker holds two sockets per WebSocket and the file limit here is ${fdLimit()}): workers' RSS ${idle.rssBeforeMiB.toFixed(1)} MiB before, ${idle.rssAfterMiB.toFixed(1)} MiB after, **${idle.perConnectionKiB.toFixed(2)} KiB per idle proxied WebSocket**.`
        : 'Idle memory: not measured (--idle 0).',
      '',
      '## CPU',
      '',
      "What each operation cost the peer's own processes (for `direct`, the origin's), medians over the rounds. On a shared machine this moves much less than the rates.",
      '',
      cpuTable,
      '',
      '## Per round',
      '',
      `${metricKeys.map((k) => k.label).join(' / ')}, (#k) = position in the round.`,
      '',
      perRound,
      '',
      '## Setup',
      '',
      `- origin: ${origin.description}`,
      `- load: piscina pool of ${o.loadThreads} worker threads, the \`ws\` package as client (bufferutil masking), connections split evenly`,
      ...peers.running.map((p) => `- ${p.name}: ${p.detail}`),
      ...peers.skipped.map((s) => `- ${s.name}: **not measured**: ${s.reason.split('\n')[0]}`),
      '',
      '## Machine',
      '',
      machineMarkdown(machine),
      '',
      `Command: \`pnpm --filter @portcullis/benchmarks run bench:upgrade ${process.argv.slice(2).join(' ')}\``,
      '',
    ].join('\n');
    log(`\n${md}`);
    if (o.write !== 'no') {
      const files = writeResults('upgrade', md, { benchmark: 'upgrade', started: started.toISOString(), options: o, machine, medians: Object.fromEntries(medians), idle, measurements });
      log(`written: ${files.join(', ')}`);
    }
  } finally {
    await load.close();
    await stopPeers(running);
    await origin?.stop();
    await stopAll();
  }
}

function fdLimit(): string {
  try {
    const m = /Max open files\s+(\d+)\s+(\d+)/.exec(readFileSync('/proc/self/limits', 'utf8'));
    return m ? `${m[1]} (hard ${m[2]})` : 'unknown';
  } catch {
    return 'unknown';
  }
}

main().catch(async (err: unknown) => {
  console.error(err instanceof Error ? err.stack : err);
  await stopAll();
  process.exit(1);
});
