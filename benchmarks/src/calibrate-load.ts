// Which shape of autocannon load gets the most out of 2 shared cores? Runs the origin alone
// (`direct`) and nginx (upstream keepalive 64) in front of it, and measures each load shape against both in alternating
// rounds: one autocannon in the main thread (with and without recording every latency),
// autocannon's own `workers`, and a piscina pool of autocannon runs. wrk (C, if installed) is
// measured too as an outside reference for the ceiling. The choice made from it is written down
// in keepalive.ts.
//   pnpm --filter @portcullis/benchmarks run calibrate-load [--rounds 3 --duration 5 ...]
import {
  LoadGenerator,
  findBinary,
  fmt,
  groupCpuSeconds,
  list,
  machineInfo,
  machineMarkdown,
  makeRunDir,
  markdownTable,
  median,
  nginxPeer,
  readOptions,
  runRounds,
  runWrk,
  startOrigin,
  startPeers,
  stopAll,
  writeResults,
  type LoadSample,
  type RunningPeer,
} from './runner/index.js';

const specs = {
  rounds: { default: 3, help: 'alternating rounds' },
  duration: { default: 5, help: 'seconds per measurement' },
  warmup: { default: 1, help: 'seconds of warm-up before each measurement' },
  connections: { default: 50, help: 'keep-alive connections' },
  threads: { default: 2, help: 'threads for the workers and piscina shapes' },
  shapes: { default: 'single,single-norecord,workers,piscina,wrk', help: 'load shapes to compare' },
  targets: { default: 'direct,nginx-ka64', help: 'direct and/or nginx-ka64 (nginx, upstream keepalive 64)' },
  originWorkers: { default: 1, help: 'nginx origin worker processes' },
};

async function main(): Promise<void> {
  const o = readOptions('calibrate-load: compare load-generator shapes', specs);
  const log = (m: string) => console.log(m);
  const machine = machineInfo();
  log(machineMarkdown(machine));
  const runDir = makeRunDir('calibrate');
  const origin = await startOrigin({ runDir, kind: 'auto', workers: o.originWorkers });
  const targets: RunningPeer[] = [];
  const wanted = list(o.targets);
  if (wanted.includes('direct')) targets.push({ name: 'direct', url: origin.url, detail: '', pgids: origin.pgids, stop: async () => {} });
  if (wanted.includes('nginx-ka64')) {
    const { running } = await startPeers([nginxPeer({ name: 'nginx-ka64', keepalive: 64 })], { runDir, origin, log });
    targets.push(...running);
  }

  const gens = new Map<string, LoadGenerator>();
  const shapes = list(o.shapes);
  for (const s of shapes) {
    if (s === 'single') gens.set(s, new LoadGenerator({ mode: 'single', threads: 1 }));
    else if (s === 'single-norecord') gens.set(s, new LoadGenerator({ mode: 'single', threads: 1, recordLatencies: false }));
    else if (s === 'workers') gens.set(s, new LoadGenerator({ mode: 'workers', threads: o.threads }));
    else if (s === 'piscina') gens.set(s, new LoadGenerator({ mode: 'piscina', threads: o.threads }));
    else if (s !== 'wrk') throw new Error(`unknown shape ${s}`);
  }
  const wrk = shapes.includes('wrk') ? findBinary('wrk') : null;
  if (shapes.includes('wrk') && !wrk) log('wrk not installed: skipped');

  // Every (shape, target) pair is one pseudo-peer of the rounds.
  const pairs: RunningPeer[] = [];
  for (const t of targets) {
    for (const s of shapes) {
      if (s === 'wrk' && !wrk) continue;
      pairs.push({ name: `${s} -> ${t.name}`, url: t.url, detail: s, pgids: t.pgids, stop: async () => {} });
    }
  }
  const run = (p: RunningPeer, seconds: number): Promise<LoadSample> =>
    p.detail === 'wrk'
      ? runWrk({ bin: wrk!, url: p.url, connections: o.connections, threads: o.threads, durationS: seconds })
      : gens.get(p.detail)!.run(p.url, o.connections, seconds);
  type Sample = LoadSample & { targetCores: number };
  const measure = async (p: RunningPeer): Promise<Sample> => {
    const before = groupCpuSeconds(p.pgids);
    const s = await run(p, o.duration);
    return { ...s, targetCores: (groupCpuSeconds(p.pgids) - before) / s.durationS };
  };

  try {
    const ms = await runRounds({
      peers: pairs,
      rounds: o.rounds,
      warmup: (p) => run(p, o.warmup),
      measure,
      format: (s) =>
        `${fmt(s.rps, 0)} req/s, p99 ${fmt(s.p99Ms, 2)} ms, load gen ${fmt(s.loadCores, 2)} cores, target ${fmt(s.targetCores, 2)} cores${s.errors ? `, ${s.errors} errors` : ''}`,
      log,
    });
    const rows = pairs.map((p) => {
      const mine = ms.filter((m) => m.peer === p.name && m.sample);
      const rps = mine.map((m) => m.sample!.rps);
      const med = (f: (s: Sample) => number, d: number) => fmt(median(mine.map((m) => f(m.sample!))), d);
      return [
        p.name,
        fmt(median(rps), 0),
        rps.map((v) => fmt(v, 0)).join(', '),
        med((s) => s.p99Ms, 2),
        med((s) => s.loadCores, 2),
        med((s) => s.targetCores, 2),
      ];
    });
    const table = markdownTable(
      ['shape -> target', 'req/s (median)', 'req/s per round', 'p99 ms (median)', 'load-gen cores', 'target cores'],
      rows,
      [false, true, false, true, true, true],
    );
    const md = `# Load-generator calibration\n\n${o.connections} keep-alive connections, ${o.duration} s per run after ${o.warmup} s warm-up, ${o.rounds} alternating rounds, threads ${o.threads}.\nOrigin: ${origin.description}.\n\n${table}\n\n## Machine\n\n${machineMarkdown(machine)}\n`;
    log(`\n${md}`);
    const files = writeResults('load-calibration', md, { options: o, machine, origin: origin.description, measurements: ms });
    log(`written: ${files.join(', ')}`);
  } finally {
    await Promise.all([...gens.values()].map((g) => g.close()));
    await stopAll();
  }
}

main().catch(async (err: unknown) => {
  console.error(err instanceof Error ? err.stack : err);
  await stopAll();
  process.exit(1);
});
