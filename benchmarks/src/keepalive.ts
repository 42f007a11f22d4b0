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
  groupCpu,
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
  wrkBinary,
  type LoadMode,
  type LoadSample,
  type Metric,
  type PeerDef,
  type RatioColumn,
  type RunningPeer,
} from './runner/index.js';

// LOAD_CHOICE: wrk (`-t1`) when installed, else one autocannon in the main thread.
//
// wrk: autocannon in one Node thread needs about a core to drive 50 connections, more CPU than
// the proxy under test, and on 2 cores it competes with the proxy and the origin for them: every
// peer's req/s then says as much about the load generator as about the peer, and the ratios
// between peers shrink (calibrate-load: wrk -t2 got 120k req/s to `direct` and 63k to nginx
// where autocannon got 93k and 49k). wrk (C, epoll) drives the same 50 connections with a
// fraction of that CPU. One wrk thread: a second one only takes CPU from the proxy and origin.
//
// Among autocannon's shapes, measured with `calibrate-load` (50 connections, nginx origin with
// 1 worker, alternating rounds; results/load-calibration-*.md):
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
const LOAD_CHOICE = 'auto';

/** `auto` → wrk if installed, else autocannon `single`. */
function resolveLoad(load: string): LoadMode {
  if (load === 'auto') return wrkBinary() ? 'wrk' : 'single';
  if (!(loadModes as readonly string[]).includes(load)) throw new Error(`--load must be auto or one of ${loadModes.join(', ')}`);
  return load as LoadMode;
}

const cpus = os.availableParallelism();

const specs = {
  rounds: { default: 3, help: 'alternating rounds (each runs every peer once, order rotated)' },
  duration: { default: 5, help: 'seconds measured per peer per round' },
  warmup: { default: 1, help: 'seconds of warm-up load before each measurement (discarded)' },
  connections: { default: 50, help: 'keep-alive connections' },
  baseline: {
    default: '',
    help: "another build's packages/server/dist/cli.js, measured as peers baseline-1 and baseline-1-nolog (before/after a change)",
  },
  peers: {
    default: 'direct,portcullis-1,portcullis-1-nolog,portcullis-N,portcullis-1-pipe,floor,uws+node-http,uws+undici,node-http-proxy,nginx,nginx-ka64,haproxy',
    help: 'peers to measure, comma-separated',
  },
  load: {
    default: LOAD_CHOICE as string,
    help: `load generator: auto (wrk -t1 if installed, else single) | ${loadModes.join(' | ')} (single/workers/piscina: autocannon)`,
  },
  loadThreads: { default: 2, help: 'threads of the workers / piscina load shapes (wrk always runs -t1)' },
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
    // `-1` is what a user who changes nothing gets (access log on, to /dev/null here); `-1-nolog`
    // is the proxy's work alone (`--no-access-log`), the peer named portcullis-1 before.
    ['portcullis-1', portcullisPeer({ name: 'portcullis-1', workers: 1, accessLog: true })],
    ['portcullis-1-nolog', portcullisPeer({ name: 'portcullis-1-nolog', workers: 1 })],
    // The same two with the admin endpoint on, which turns on the per-request metrics: what
    // counting costs (issue 10's bound: at most 3% more CPU per request).
    ['portcullis-1-metrics', portcullisPeer({ name: 'portcullis-1-metrics', workers: 1, accessLog: true, metrics: true })],
    ['portcullis-1-nolog-metrics', portcullisPeer({ name: 'portcullis-1-nolog-metrics', workers: 1, metrics: true })],
    ['baseline-1', portcullisPeer({ name: 'baseline-1', workers: 1, cli: o.baseline, accessLog: true })],
    ['baseline-1-nolog', portcullisPeer({ name: 'baseline-1-nolog', workers: 1, cli: o.baseline })],
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

/**
 * A load sample plus the CPU the peer's own processes spent on it (for `direct`: the origin's),
 * per request in user space, in the kernel and in total, and in cores.
 */
type Sample = LoadSample & { peerCores: number; peerUserUsPerReq: number; peerSysUsPerReq: number; peerCpuUsPerReq: number };

const metrics: Array<Metric<Sample>> = [
  { key: 'rps', label: 'req/s', get: (s) => s.rps, digits: 0 },
  { key: 'p50Ms', label: 'p50 ms', get: (s) => s.p50Ms, digits: 2 },
  { key: 'p99Ms', label: 'p99 ms', get: (s) => s.p99Ms, digits: 2 },
  { key: 'peerUserUsPerReq', label: 'user µs/req', get: (s) => s.peerUserUsPerReq, digits: 1 },
  { key: 'peerSysUsPerReq', label: 'sys µs/req', get: (s) => s.peerSysUsPerReq, digits: 1 },
  { key: 'peerCpuUsPerReq', label: 'CPU µs/req', get: (s) => s.peerCpuUsPerReq, digits: 1 },
];
const cpuMetrics: Array<Metric<Sample>> = [
  { key: 'peerCores', label: 'peer cores', get: (s) => s.peerCores, digits: 2 },
  { key: 'loadCores', label: 'load-gen cores', get: (s) => s.loadCores, digits: 2 },
];
const rawMetrics: Array<Metric<Sample>> = [
  { key: 'rps', label: 'req/s', get: (s) => s.rps, digits: 0 },
  { key: 'p99Ms', label: 'p99 ms', get: (s) => s.p99Ms, digits: 2 },
  { key: 'peerUserUsPerReq', label: 'user', get: (s) => s.peerUserUsPerReq, digits: 1 },
  { key: 'peerSysUsPerReq', label: 'sys µs/req', get: (s) => s.peerSysUsPerReq, digits: 1 },
  { key: 'errors', label: 'errors', get: (s) => s.errors, digits: 0 },
];

/**
 * The ratio columns of the main table, for the reference peers that were measured: req/s against
 * nginx (the guide's config), nginx-ka64 and floor; CPU per request against nginx-ka64 and floor,
 * and user-space CPU per request against floor (what Portcullis's own code adds to uWS and Node).
 */
function ratioColumns(names: string[]): RatioColumn[] {
  const has = (p: string) => names.includes(p);
  const cols: RatioColumn[] = [];
  for (const b of ['nginx', 'nginx-ka64', 'floor']) if (has(b)) cols.push({ metric: 'rps', baseline: b, label: `req/s vs ${b}` });
  // Neither nginx measured: the origin is the reference for req/s, as before.
  if (!has('nginx') && !has('nginx-ka64') && has('direct')) cols.unshift({ metric: 'rps', baseline: 'direct', label: 'req/s vs direct' });
  for (const b of ['nginx-ka64', 'floor']) if (has(b)) cols.push({ metric: 'peerCpuUsPerReq', baseline: b, label: `CPU/req vs ${b}` });
  if (has('floor')) cols.push({ metric: 'peerUserUsPerReq', baseline: 'floor', label: 'user CPU/req vs floor' });
  return cols;
}

/** "**errors in 1/3 runs: read 12, non-2xx/3xx 3**" for a peer whose runs had errors, by peer. */
function errorFlags(names: string[], measurements: Array<{ peer: string; sample?: Sample }>): Record<string, string> {
  const flags: Record<string, string> = {};
  for (const peer of names) {
    const mine = measurements.filter((m) => m.peer === peer && m.sample);
    const bad = mine.filter((m) => m.sample!.errors > 0);
    if (bad.length === 0) continue;
    const kinds: Record<string, number> = {};
    for (const m of bad) for (const [k, v] of Object.entries(m.sample!.errorKinds)) kinds[k] = (kinds[k] ?? 0) + v;
    const total = bad.reduce((a, m) => a + m.sample!.errors, 0);
    const detail = Object.keys(kinds).length ? Object.entries(kinds).map(([k, v]) => `${k} ${v}`).join(', ') : `${total}`;
    flags[peer] = `**errors in ${bad.length}/${mine.length} runs: ${detail}**`;
  }
  return flags;
}

async function main(): Promise<void> {
  const o = readOptions('pnpm bench: keep-alive HTTP/1.1 throughput of Portcullis and its peers', specs);
  const loadMode = resolveLoad(o.load);
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
  // wrk: one thread (see LOAD_CHOICE).
  const load = new LoadGenerator({ mode: loadMode, threads: loadMode === 'wrk' ? 1 : o.loadThreads });
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
        const cpu0 = groupCpu(p.pgids);
        const s = await load.run(p.url, o.connections, o.duration);
        const cpu1 = groupCpu(p.pgids);
        if (s.requests === 0) throw new Error(`no response in ${o.duration} s (${s.errors} errors)`);
        const user = cpu1.user - cpu0.user;
        const sys = cpu1.system - cpu0.system;
        return {
          ...s,
          peerCores: (user + sys) / s.durationS,
          peerUserUsPerReq: (user * 1e6) / s.requests,
          peerSysUsPerReq: (sys * 1e6) / s.requests,
          peerCpuUsPerReq: ((user + sys) * 1e6) / s.requests,
        };
      },
      format: (s) =>
        `${fmt(s.rps, 0).padStart(8)} req/s  p50 ${fmt(s.p50Ms, 2)} ms  p99 ${fmt(s.p99Ms, 2).padStart(6)} ms  ` +
        `peer ${fmt(s.peerUserUsPerReq, 1)}+${fmt(s.peerSysUsPerReq, 1)}=${fmt(s.peerCpuUsPerReq, 1)} µs/req (user+sys) ${fmt(s.peerCores, 2)} cores  load gen ${fmt(s.loadCores, 2)} cores` +
        `${s.errors ? `  ${s.errors} ERRORS ${JSON.stringify(s.errorKinds)}` : ''}`,
      log,
    });

    const names = running.map((p) => p.name);
    const summaries = summarize(names, measurements, [...metrics, ...cpuMetrics]);
    const ratios = ratioColumns(names);
    const flags = errorFlags(names, measurements);
    const table = summaryTable(summaries, metrics, ratios, flags);
    const cpuTable = summaryTable(summaries, cpuMetrics);
    const raw = roundsTable(names, o.rounds, measurements, rawMetrics);
    const errorsSeen = measurements.some((m) => (m.sample?.errors ?? 0) > 0 || m.error);

    const md = [
      `# Keep-alive throughput, ${started.toISOString().slice(0, 16).replace('T', ' ')} UTC`,
      '',
      `HTTP/1.1 GET of a 20-byte body over ${o.connections} keep-alive connections, ${o.duration} s per peer per round after ${o.warmup} s of warm-up, ${o.rounds} rounds, peer order rotated each round. Every figure is the median over the rounds. CPU µs/req is the CPU time of the peer's own processes (all of them: master and workers; for \`direct\`, the origin's) per response, read from /proc/<pid>/stat around each run, in user space (\`user\`), in the kernel (\`sys\`) and in total; proxies' figures exclude the origin's CPU. A ratio column is the peer's median over the reference peer's median: for req/s higher is better, for CPU/req lower is better (CPU/req vs floor is what this peer costs per request against a bare uWS + node:net relay; user CPU/req vs floor, the same for its user-space share only, where a proxy's own code shows). A peer flagged with errors had socket errors or non-2xx/3xx responses in some runs: its figures are suspect. \`nginx\` runs the authentik guide's config (upstream \`keepalive 10\`), \`nginx-ka64\` the same with \`keepalive 64\`: with 50 client connections and only 10 idle upstream sockets kept, nginx opens a new upstream connection for a large share of requests (a 3 s run left about 14,000 sockets in TIME-WAIT towards the origin).`,
      '',
      table,
      '',
      '## Per round',
      '',
      `req/s / p99 ms / peer CPU µs per request in user space / in the kernel / errors (socket errors, timeouts and non-2xx/3xx); (#k) = position in the round.`,
      '',
      raw,
      '',
      '## CPU',
      '',
      "What each measurement cost, medians over the rounds: the peer's own processes (for `direct`, the origin's) in cores, and the load generator's cores (wrk: its process's CPU; autocannon: the benchmark process's). On a shared machine CPU per request (main table) moves much less than req/s.",
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
        ratios,
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
