// Keep-alive HTTP/1.1 GET throughput of a 20-byte response, Portcullis side by side with the
// origin itself, nginx, HAProxy and node-http-proxy, in one run of alternating rounds.
//
//   pnpm bench                                   (repo root: 3 rounds of 5 s, all peers)
//   pnpm bench --rounds 5 --duration 10 --peers direct,nginx,portcullis-1
//   BENCH_ROUNDS=5 pnpm bench                    (every flag has a BENCH_* variable)
//   pnpm bench --help
//
// Load generation: see the comment at LOAD_CHOICE for what was measured and chosen.
import os from 'node:os';
import {
  LoadGenerator,
  directPeer,
  floorPeer,
  fmt,
  groupCpuSeconds,
  haproxyPeer,
  list,
  loadModes,
  machineInfo,
  machineMarkdown,
  makeRunDir,
  nginxPeer,
  nodeHttpProxyPeer,
  uwsUpstreamClientPeer,
  portcullisPeer,
  readOptions,
  roundsTable,
  runRounds,
  startOrigin,
  startPeers,
  stopAll,
  stopPeers,
  summarize,
  summaryTable,
  writeResults,
  type LoadMode,
  type LoadSample,
  type Metric,
  type PeerDef,
  type RunningPeer,
} from './runner/index.js';

// LOAD_CHOICE: one autocannon in the main thread. Measured with `calibrate-load` (50
// connections, nginx origin with 1 worker, alternating rounds; results/load-calibration-*.md):
//
//   median req/s (5 rounds x 4 s)    -> direct   -> nginx (keepalive 64)   load-gen cores
//   single (main thread)               92,985       48,901                  1.00 / 0.58
//   autocannon workers: 2              90,537       46,997                  1.14 / 0.71
//   piscina, 2 threads x 25 conns      86,876       50,066                  1.05 / 0.65
//   (wrk -t2, C, for reference, 3 rounds: 120,456 and 63,411)
//
// More load threads do not raise the ceiling on 2 cores: against `direct` one autocannon thread
// saturates one core and the origin takes most of the other, so extra threads only fight them
// for CPU (round-to-round spread 55-100k dwarfs the differences); against a proxy the load
// generator is not even saturated (0.6 cores): the proxy and the origin are the limit. Extra
// threads did cost latency (p99 to direct: 1.15 ms single, 3.0 ms workers, 3.95 ms piscina), and
// `workers` loses autocannon's per-response events, so sub-ms percentiles. So: single, and no
// piscina here. Recording every latency (for sub-ms p99) cost nothing measurable (single with
// vs without: 76k vs 79k to direct, 49k vs 41k to nginx, 3 rounds). Re-measure on other
// machines: `pnpm --filter @portcullis/benchmarks run calibrate-load`; `--load piscina|workers`.
const LOAD_CHOICE: LoadMode = 'single';

const cpus = os.availableParallelism();

const specs = {
  rounds: { default: 3, help: 'alternating rounds (each runs every peer once, order rotated)' },
  duration: { default: 5, help: 'seconds measured per peer per round' },
  warmup: { default: 1, help: 'seconds of warm-up load before each measurement (discarded)' },
  connections: { default: 50, help: 'keep-alive connections' },
  baseline: {
    default: '',
    help: "another build's packages/server/dist/cli.js, measured as peer baseline-1 (before/after a change)",
  },
  peers: {
    default: 'direct,portcullis-1,portcullis-N,portcullis-1-pipe,floor,uws+node-http,uws+undici,node-http-proxy,nginx,nginx-ka64,haproxy',
    help: 'peers to measure, comma-separated',
  },
  load: { default: LOAD_CHOICE as string, help: `load generator shape: ${loadModes.join(' | ')}` },
  loadThreads: { default: 2, help: 'threads of the workers / piscina load shapes' },
  portcullisWorkers: { default: cpus, help: 'workers of the portcullis-N peer (default: CPU count)' },
  // Pipelining pays when requests share few sockets: measured (CPU µs/req of the worker, wrk -c50)
  // 1 socket x 50: 11.7-12.8, 2 x 32: 12.9-14.1, 4 x 16: 14.1-15.2, no pipelining: 18.8-19.5.
  pipelining: { default: 32, help: 'upstream pipelining depth of the portcullis-1-pipe peer' },
  pipeSockets: { default: 2, help: 'upstream sockets (keepalive) of the portcullis-1-pipe peer' },
  origin: { default: 'auto', help: 'origin: auto (nginx if installed, else uWS) | nginx | uws' },
  originWorkers: { default: 1, help: 'nginx origin worker processes' },
  write: { default: 'yes', help: 'write benchmarks/results/keepalive-<date>.{md,json}: yes | no' },
};

function peerCatalogue(o: { portcullisWorkers: number; pipelining: number; pipeSockets: number; baseline: string }): Map<string, PeerDef> {
  const n = o.portcullisWorkers;
  const defs: Array<[string, PeerDef]> = [
    ['direct', directPeer()],
    ['portcullis-1', portcullisPeer({ name: 'portcullis-1', workers: 1 })],
    ['baseline-1', portcullisPeer({ name: 'baseline-1', workers: 1, cli: o.baseline })],
    // Named after its worker count on this machine (portcullis-2 on 2 cores).
    ['portcullis-N', portcullisPeer({ name: `portcullis-${n}`, workers: n })],
    [
      'portcullis-1-pipe',
      portcullisPeer({ name: `portcullis-1-pipe${o.pipelining}x${o.pipeSockets}`, workers: 1, pipelining: o.pipelining, keepalive: o.pipeSockets }),
    ],
    // The upstream legs Portcullis's own HTTP/1.1 engine was chosen against, behind the same uWS.
    ['uws+node-http', uwsUpstreamClientPeer('http')],
    ['uws+undici', uwsUpstreamClientPeer('undici')],
    ['floor', floorPeer('http-floor-relay.js', 'a bare relay on the same two parts (uWS 20.30 frontend, keep-alive node:net sockets upstream) and none of the proxy: request head copied as it came, no forwarded headers, routing, limits or timers, responses assumed whole in one read; the least this design can cost')],
    ['node-http-proxy', nodeHttpProxyPeer()],
    ['nginx', nginxPeer()],
    ['nginx-ka64', nginxPeer({ name: 'nginx-ka64', keepalive: 64 })],
    ['haproxy', haproxyPeer()],
  ];
  return new Map(defs);
}

/** A load sample plus the CPU the peer's own processes spent on it (for `direct`: the origin's). */
type Sample = LoadSample & { peerCores: number; peerCpuUsPerReq: number };

const metrics: Array<Metric<Sample>> = [
  { key: 'rps', label: 'req/s', get: (s) => s.rps, digits: 0 },
  { key: 'p99Ms', label: 'p99 ms', get: (s) => s.p99Ms, digits: 2 },
];
const cpuMetrics: Array<Metric<Sample>> = [
  { key: 'peerCpuUsPerReq', label: 'peer CPU µs/req', get: (s) => s.peerCpuUsPerReq, digits: 1 },
  { key: 'peerCores', label: 'peer cores', get: (s) => s.peerCores, digits: 2 },
  { key: 'loadCores', label: 'load-gen cores', get: (s) => s.loadCores, digits: 2 },
];
const rawMetrics: Array<Metric<Sample>> = [
  ...metrics,
  { key: 'peerCpuUsPerReq', label: 'µs/req', get: (s) => s.peerCpuUsPerReq, digits: 1 },
  { key: 'errors', label: 'errors', get: (s) => s.errors, digits: 0 },
];

async function main(): Promise<void> {
  const o = readOptions('pnpm bench: keep-alive HTTP/1.1 throughput of Portcullis and its peers', specs);
  if (!(loadModes as readonly string[]).includes(o.load)) throw new Error(`--load must be one of ${loadModes.join(', ')}`);
  if (!['auto', 'nginx', 'uws'].includes(o.origin)) throw new Error('--origin must be auto, nginx or uws');
  const started = new Date();
  const log = (m: string) => console.log(m);
  const machine = machineInfo();
  log(`# keep-alive benchmark, ${started.toISOString()}\n${machineMarkdown(machine)}\n`);

  const catalogue = peerCatalogue(o);
  const selected: PeerDef[] = [];
  const notes: string[] = [];
  for (const name of list(o.peers)) {
    const def = catalogue.get(name) ?? [...catalogue.values()].find((d) => d.name === name);
    if (!def) throw new Error(`unknown peer ${name}; known: ${[...catalogue.keys()].join(', ')}`);
    if (name === 'portcullis-N' && o.portcullisWorkers === 1 && list(o.peers).includes('portcullis-1')) {
      notes.push('portcullis-N skipped: the CPU count is 1, the same as portcullis-1');
      continue;
    }
    selected.push(def);
  }

  const runDir = makeRunDir('keepalive');
  const load = new LoadGenerator({ mode: o.load as LoadMode, threads: o.loadThreads });
  let running: RunningPeer[] = [];
  try {
    const origin = await startOrigin({ runDir, kind: o.origin as 'auto' | 'nginx' | 'uws', workers: o.originWorkers });
    log(`origin: ${origin.description} at ${origin.url}`);
    log(`load: ${load.describe()}, ${o.connections} connections, ${o.warmup} s warm-up + ${o.duration} s per peer per round`);
    const peers = await startPeers(selected, { runDir, origin, log });
    running = peers.running;
    const skipped = peers.skipped;
    if (running.length === 0) throw new Error('no peer could be started');

    const measurements = await runRounds({
      peers: running,
      rounds: o.rounds,
      warmup: o.warmup > 0 ? (p) => load.run(p.url, o.connections, o.warmup) : undefined,
      measure: async (p): Promise<Sample> => {
        const cpu0 = groupCpuSeconds(p.pgids);
        const s = await load.run(p.url, o.connections, o.duration);
        const cpu = groupCpuSeconds(p.pgids) - cpu0;
        if (s.requests === 0) throw new Error(`no response in ${o.duration} s (${s.errors} errors)`);
        return { ...s, peerCores: cpu / s.durationS, peerCpuUsPerReq: (cpu * 1e6) / s.requests };
      },
      format: (s) =>
        `${fmt(s.rps, 0).padStart(8)} req/s  p50 ${fmt(s.p50Ms, 2)} ms  p99 ${fmt(s.p99Ms, 2).padStart(6)} ms  ` +
        `peer ${fmt(s.peerCpuUsPerReq, 1)} µs/req ${fmt(s.peerCores, 2)} cores  load gen ${fmt(s.loadCores, 2)} cores` +
        `${s.errors ? `  ${s.errors} ERRORS ${JSON.stringify(s.errorKinds)}` : ''}`,
      log,
    });

    const names = running.map((p) => p.name);
    const summaries = summarize(names, measurements, [...metrics, ...cpuMetrics]);
    // "vs nginx" is against the authentik guide's config (upstream keepalive 10); nginx-ka64
    // (keepalive 64, the baseline of performance.md) gets its own column when measured.
    const baselines = ['nginx', 'nginx-ka64'].filter((b) => names.includes(b));
    if (baselines.length === 0 && names.includes('direct')) baselines.push('direct');
    const table = summaryTable(summaries, metrics, baselines.map((baseline) => ({ metric: 'rps', baseline })));
    const cpuTable = summaryTable(summaries, cpuMetrics);
    const raw = roundsTable(names, o.rounds, measurements, rawMetrics);
    const errorsSeen = measurements.some((m) => (m.sample?.errors ?? 0) > 0 || m.error);

    const md = [
      `# Keep-alive throughput, ${started.toISOString().slice(0, 16).replace('T', ' ')} UTC`,
      '',
      `HTTP/1.1 GET of a 20-byte body over ${o.connections} keep-alive connections, ${o.duration} s per peer per round after ${o.warmup} s of warm-up, ${o.rounds} rounds, peer order rotated each round. req/s and p99 are the medians over the rounds; "vs X" is the ratio of the req/s medians. \`nginx\` runs the authentik guide's config (upstream \`keepalive 10\`), \`nginx-ka64\` the same with \`keepalive 64\` as in performance.md: with 50 client connections and only 10 idle upstream sockets kept, nginx opens a new upstream connection for a large share of requests (a 3 s run left about 14,000 sockets in TIME-WAIT towards the origin).`,
      '',
      table,
      '',
      '## Per round',
      '',
      `req/s / p99 ms / peer CPU µs per request / errors (connection errors, timeouts and non-2xx); (#k) = position in the round.`,
      '',
      raw,
      '',
      '## CPU',
      '',
      "What each measurement cost, medians over the rounds: the CPU time of the peer's own processes (for `direct`, the origin's) per request and in cores, and the load generator's cores. On a shared machine these move much less than req/s. Proxies' figures exclude the origin's CPU.",
      '',
      cpuTable,
      '',
      '## Setup',
      '',
      `- origin: ${origin.description}`,
      `- load: ${load.describe()}`,
      ...running.map((p) => `- ${p.name}: ${p.detail}`),
      ...skipped.map((s) => `- ${s.name}: **not measured**: ${oneLine(s.reason)}`),
      ...notes.map((n) => `- ${n}`),
      ...(errorsSeen ? ['- **some runs had errors**: see the per-round table'] : []),
      '',
      '## Machine',
      '',
      machineMarkdown(machine),
      `- load average at the end: ${os.loadavg().map((x) => x.toFixed(2)).join(' ')} (other work on the machine shows here; the CPU table is the steadier view)`,
      '',
      `Command: \`${['pnpm bench', ...process.argv.slice(2)].join(' ')}\``,
      '',
    ].join('\n');

    log(`\n${md}`);
    for (const s of skipped) if (s.reason.includes('\n')) log(`--- ${s.name}: full reason ---\n${s.reason}\n`);
    if (o.write !== 'no') {
      const files = writeResults('keepalive', md, {
        benchmark: 'keepalive',
        started: started.toISOString(),
        options: o,
        machine,
        origin: origin.description,
        load: load.describe(),
        peers: running.map((p) => ({ name: p.name, detail: p.detail })),
        skipped,
        notes,
        summary: summaries,
        baselines,
        measurements,
      });
      log(`written: ${files.join(', ')}`);
    }
  } finally {
    await load.close();
    await stopPeers(running);
    await stopAll();
  }
}

/** A multi-line reason (a process's last output) on one line for the report. */
function oneLine(reason: string): string {
  const lines = reason.split('\n').map((l) => l.trim()).filter(Boolean);
  const text = lines.length <= 1 ? (lines[0] ?? '') : `${lines[0]} ... ${lines.slice(-3).join(' / ')}`;
  return text.length > 600 ? `${text.slice(0, 600)}...` : text;
}

main().catch(async (err: unknown) => {
  console.error(err instanceof Error ? err.message : err);
  await stopAll();
  process.exit(1);
});
