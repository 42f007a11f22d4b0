// TLS termination: keep-alive HTTPS throughput and full TLS handshakes per second, Portcullis
// side by side with nginx configured as in the authentik guide (TLS 1.3 only, HSTS, upstream
// keepalive 10), both with the same certificate, in one run of alternating rounds.
//
//   pnpm --filter @portcullis/benchmarks run bench:tls
//   pnpm --filter @portcullis/benchmarks run bench:tls --rounds 5 --duration 10
//   pnpm --filter @portcullis/benchmarks run bench:tls --help
//
// - keep-alive: autocannon over https (TLS 1.3, no ALPN, so HTTP/1.1 for every peer), GET of the
//   origin's 20-byte body on long-lived connections: what TLS adds to each request.
// - handshakes: each connection does a full TLS 1.3 handshake (no session resumption), one GET
//   with `Connection: close`, and closes. The client side of a handshake costs about as much CPU
//   as the server side, so the load runs in piscina threads and its CPU is reported; on 2 shared
//   cores the CPU each peer spends per handshake is the steadier comparison.
// The upstream leg is plain HTTP to the same origin for every peer, so only TLS termination and
// proxying differ.
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { Piscina } from 'piscina';
import {
  HOST,
  LoadGenerator,
  SkipPeer,
  fmt,
  freePort,
  groupCpuSeconds,
  list,
  machineInfo,
  machineMarkdown,
  makeRunDir,
  nginxBinary,
  portcullisCli,
  readOptions,
  repoRoot,
  roundsTable,
  runRounds,
  sleep,
  startNginx,
  startOrigin,
  startPeers,
  startProcess,
  stopAll,
  stopPeers,
  summarize,
  summaryTable,
  writeResults,
  type LoadSample,
  type Metric,
  type Origin,
  type PeerContext,
  type PeerDef,
  type RunningPeer,
  guideLocation,
  guideUpstream,
} from './runner/index.js';
import type { HandshakeOutcome, HandshakeTask } from './tls-handshake-worker.js';

const cpus = os.availableParallelism();

const specs = {
  rounds: { default: 3, help: 'alternating rounds (each runs every peer once, order rotated)' },
  duration: { default: 5, help: 'seconds measured per peer per round, for each of the two loads' },
  warmup: { default: 1, help: 'seconds of keep-alive warm-up before each peer\'s measurements (discarded)' },
  connections: { default: 50, help: 'keep-alive connections' },
  handshakeConcurrency: { default: 32, help: 'connections being opened at once in the handshake load' },
  handshakeThreads: { default: 2, help: 'piscina threads running the handshake load' },
  peers: { default: 'portcullis-1,portcullis-N,nginx,nginx-ka64', help: 'peers to measure, comma-separated' },
  portcullisWorkers: { default: cpus, help: 'workers of the portcullis-N peer (default: CPU count)' },
  write: { default: 'yes', help: 'write benchmarks/results/tls-<date>.{md,json}: yes | no' },
};

/** One self-signed EC P-256 certificate for every peer, made for this run (nothing committed expires). */
function makeCertificate(runDir: string): { cert: string; key: string } {
  const dir = join(runDir, 'cert');
  mkdirSync(dir, { recursive: true, mode: 0o755 });
  const cert = join(dir, 'fullchain.pem');
  const key = join(dir, 'privkey.pem');
  execFileSync(
    'openssl',
    ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', key, '-out', cert, '-days', '2', '-subj', '/CN=bench.test', '-addext', 'subjectAltName=DNS:bench.test'],
    { stdio: ['ignore', 'pipe', 'pipe'], timeout: 20_000 },
  );
  return { cert, key };
}

/** Polls an https URL until it answers 200 with the origin's body. */
async function waitForHttps(url: string, body: string, isDead: () => string | undefined, timeoutMs = 20_000): Promise<void> {
  const { default: https } = await import('node:https');
  const deadline = Date.now() + timeoutMs;
  let last = 'no attempt';
  for (;;) {
    const dead = isDead();
    if (dead) throw new Error(dead);
    try {
      const got = await new Promise<string>((resolve, reject) => {
        const req = https.get(url, { agent: false, rejectUnauthorized: false, timeout: 1000, servername: 'bench.test' }, (res) => {
          let b = '';
          res.setEncoding('utf8');
          res.on('data', (c: string) => (b += c));
          res.on('end', () => (res.statusCode === 200 ? resolve(b) : reject(new Error(`status ${res.statusCode}`))));
        });
        req.on('timeout', () => req.destroy(new Error('timeout')));
        req.on('error', reject);
      });
      if (got === body) return;
      last = `body ${JSON.stringify(got.slice(0, 100))}`;
    } catch (err) {
      last = (err as Error).message;
    }
    if (Date.now() > deadline) throw new Error(`${url} not ready in time (last: ${last})`);
    await sleep(100);
  }
}

function portcullisTlsPeer(name: string, workers: number, cert: { cert: string; key: string }): PeerDef {
  return {
    name,
    start: async (ctx: PeerContext) => {
      const port = await freePort();
      const dir = join(ctx.runDir, name);
      mkdirSync(dir, { recursive: true });
      const configPath = join(dir, 'portcullis.yaml');
      // The authentik example's TLS settings (examples/authentik.yaml), a plain upstream.
      writeFileSync(
        configPath,
        [
          '# written by the Portcullis TLS benchmark',
          `workers: ${workers}`,
          'log: { level: warn, access: false }',
          'listen:',
          `  - address: ${HOST}:${port}`,
          `    tls: { cert: ${cert.cert}, key: ${cert.key}, min_version: TLSv1.3, hsts: { max_age: 63072000 } }`,
          'upstreams:',
          '  authentik:',
          `    servers: [${ctx.origin.host}:${ctx.origin.port}]`,
          '    keepalive: 10',
          '',
        ].join('\n'),
      );
      let ready = false;
      const proc = startProcess({
        name,
        command: process.execPath,
        args: [portcullisCli, '--config', configPath],
        cwd: repoRoot,
        logDir: ctx.runDir,
        onLine: (line) => {
          if (line.includes('"msg":"ready"')) ready = true;
        },
      });
      const url = `https://${HOST}:${port}/`;
      try {
        await waitForHttps(url, ctx.origin.body, () => (proc.hasExited ? `${name} exited:\n${proc.lastLines()}` : undefined));
        const deadline = Date.now() + 2000;
        while (!ready && Date.now() < deadline) await sleep(50);
      } catch (err) {
        await proc.stop();
        throw err;
      }
      return {
        name,
        url,
        detail: `node packages/server/dist/cli.js --config (workers: ${workers}; tls: min_version TLSv1.3, hsts; upstream keepalive 10)`,
        pgids: proc.pgids,
        stop: () => proc.stop(),
      };
    },
  };
}

function nginxTlsPeer(name: string, keepalive: number, cert: { cert: string; key: string }): PeerDef {
  return {
    name,
    start: async (ctx: PeerContext) => {
      const bin = nginxBinary();
      if (!bin) throw new SkipPeer('nginx is not installed (apt-get install -y nginx)');
      const port = await freePort();
      const proc = startNginx(bin, {
        name,
        runDir: ctx.runDir,
        workers: 1,
        http: `
  # The authentik guide's HTTPS server, on loopback, with a plain upstream.${guideUpstream(ctx.origin, keepalive)}
  server {
    listen ${HOST}:${port} ssl http2 backlog=4096;
    ssl_certificate ${cert.cert};
    ssl_certificate_key ${cert.key};
    ssl_protocols TLSv1.3;
    add_header Strict-Transport-Security "max-age=63072000" always;${guideLocation}
  }`,
      });
      const url = `https://${HOST}:${port}/`;
      try {
        await waitForHttps(url, ctx.origin.body, () => (proc.hasExited ? `${name} exited:\n${proc.lastLines()}` : undefined));
      } catch (err) {
        await proc.stop();
        throw err;
      }
      return {
        name,
        url,
        detail: `worker_processes 1; listen ssl http2, ssl_protocols TLSv1.3, HSTS always, upstream keepalive ${keepalive}`,
        pgids: proc.pgids,
        stop: () => proc.stop(),
      };
    },
  };
}

interface HandshakeSample {
  rate: number;
  completed: number;
  errors: number;
  errorKinds: Record<string, number>;
  protocols: Record<string, number>;
  loadCores: number;
}

/** Both loads against one peer, and what each cost the peer's processes. */
interface Sample {
  ka: LoadSample & { peerCpuUsPerReq: number };
  hs: HandshakeSample & { peerCpuUsPerHandshake: number; peerCores: number };
}

const metrics: Array<Metric<Sample>> = [
  { key: 'kaRps', label: 'keep-alive req/s', get: (s) => s.ka.rps, digits: 0 },
  { key: 'kaP99', label: 'p99 ms', get: (s) => s.ka.p99Ms, digits: 2 },
  { key: 'hsRate', label: 'handshakes/s', get: (s) => s.hs.rate, digits: 0 },
];
const cpuMetrics: Array<Metric<Sample>> = [
  { key: 'kaCpu', label: 'peer CPU µs/req (keep-alive)', get: (s) => s.ka.peerCpuUsPerReq, digits: 1 },
  { key: 'hsCpu', label: 'peer CPU µs/handshake', get: (s) => s.hs.peerCpuUsPerHandshake, digits: 0 },
  { key: 'hsCores', label: 'peer cores (handshakes)', get: (s) => s.hs.peerCores, digits: 2 },
  { key: 'hsLoad', label: 'load-gen cores (handshakes)', get: (s) => s.hs.loadCores, digits: 2 },
];
const rawMetrics: Array<Metric<Sample>> = [
  { key: 'kaRps', label: 'req/s', get: (s) => s.ka.rps, digits: 0 },
  { key: 'hsRate', label: 'hs/s', get: (s) => s.hs.rate, digits: 0 },
  { key: 'errors', label: 'errors', get: (s) => s.ka.errors + s.hs.errors, digits: 0 },
];

async function main(): Promise<void> {
  const o = readOptions('bench:tls: HTTPS keep-alive throughput and TLS handshakes per second, Portcullis vs nginx', specs);
  const started = new Date();
  const log = (m: string) => console.log(m);
  const machine = machineInfo();
  log(`# TLS benchmark, ${started.toISOString()}\n${machineMarkdown(machine)}\n`);

  const runDir = makeRunDir('tls');
  const cert = makeCertificate(runDir);
  const n = o.portcullisWorkers;
  const catalogue = new Map<string, PeerDef>([
    ['portcullis-1', portcullisTlsPeer('portcullis-1', 1, cert)],
    ['portcullis-N', portcullisTlsPeer(`portcullis-${n}`, n, cert)],
    ['nginx', nginxTlsPeer('nginx', 10, cert)],
    ['nginx-ka64', nginxTlsPeer('nginx-ka64', 64, cert)],
  ]);
  const selected = list(o.peers).map((name) => {
    const def = catalogue.get(name) ?? [...catalogue.values()].find((d) => d.name === name);
    if (!def) throw new Error(`unknown peer ${name}; known: ${[...catalogue.keys()].join(', ')}`);
    return def;
  });

  const load = new LoadGenerator({ mode: 'single', threads: 1 });
  const pool = new Piscina<HandshakeTask, HandshakeOutcome>({
    filename: new URL('./tls-handshake-worker.js', import.meta.url).href,
    minThreads: o.handshakeThreads,
    maxThreads: o.handshakeThreads,
    idleTimeout: 60 * 60 * 1000,
  });
  let running: RunningPeer[] = [];
  let origin: Origin | undefined;
  try {
    origin = await startOrigin({ runDir, kind: 'auto', workers: 1 });
    log(`origin: ${origin.description} at ${origin.url}`);
    const peers = await startPeers(selected, { runDir, origin, log });
    running = peers.running;
    if (running.length === 0) throw new Error('no peer could be started');

    const handshakes = async (p: RunningPeer): Promise<HandshakeSample & { peerCpuUsPerHandshake: number; peerCores: number }> => {
      const url = new URL(p.url);
      const per = Math.max(1, Math.round(o.handshakeConcurrency / o.handshakeThreads));
      const cpu0 = groupCpuSeconds(p.pgids);
      const load0 = process.cpuUsage();
      const t0 = process.hrtime.bigint();
      const outs = await Promise.all(
        Array.from({ length: o.handshakeThreads }, () => pool.run({ host: url.hostname, port: Number(url.port), concurrency: per, durationS: o.duration })),
      );
      const wall = Number(process.hrtime.bigint() - t0) / 1e9;
      const used = process.cpuUsage(load0);
      const cpu = groupCpuSeconds(p.pgids) - cpu0;
      const completed = outs.reduce((a, x) => a + x.completed, 0);
      const errorKinds: Record<string, number> = {};
      const protocols: Record<string, number> = {};
      for (const x of outs) {
        for (const [k, v] of Object.entries(x.errorKinds)) errorKinds[k] = (errorKinds[k] ?? 0) + v;
        for (const [k, v] of Object.entries(x.protocols)) protocols[k] = (protocols[k] ?? 0) + v;
      }
      if (completed === 0) throw new Error(`no handshake completed (${JSON.stringify(errorKinds)})`);
      return {
        rate: completed / wall,
        completed,
        errors: outs.reduce((a, x) => a + x.errors, 0),
        errorKinds,
        protocols,
        loadCores: (used.user + used.system) / 1e6 / wall,
        peerCpuUsPerHandshake: (cpu * 1e6) / completed,
        peerCores: cpu / wall,
      };
    };

    const measurements = await runRounds<Sample>({
      peers: running,
      rounds: o.rounds,
      warmup: o.warmup > 0 ? (p) => load.run(p.url, o.connections, o.warmup) : undefined,
      measure: async (p) => {
        const cpu0 = groupCpuSeconds(p.pgids);
        const ka = await load.run(p.url, o.connections, o.duration);
        const cpu = groupCpuSeconds(p.pgids) - cpu0;
        if (ka.requests === 0) throw new Error(`no keep-alive response in ${o.duration} s (${ka.errors} errors)`);
        await sleep(300);
        const hs = await handshakes(p);
        return { ka: { ...ka, peerCpuUsPerReq: (cpu * 1e6) / ka.requests }, hs };
      },
      format: (s) =>
        `keep-alive ${fmt(s.ka.rps, 0).padStart(7)} req/s p99 ${fmt(s.ka.p99Ms, 2)} ms ${fmt(s.ka.peerCpuUsPerReq, 1)} µs/req | ` +
        `handshakes ${fmt(s.hs.rate, 0).padStart(6)}/s ${fmt(s.hs.peerCpuUsPerHandshake, 0)} µs/hs, load gen ${fmt(s.hs.loadCores, 2)} cores` +
        `${s.ka.errors + s.hs.errors ? `  ERRORS ${JSON.stringify({ ...s.ka.errorKinds, ...s.hs.errorKinds })}` : ''}` +
        `  ${JSON.stringify(s.hs.protocols)}`,
      log,
    });

    const names = running.map((p) => p.name);
    const summaries = summarize(names, measurements, [...metrics, ...cpuMetrics]);
    const baselines = ['nginx', 'nginx-ka64'].filter((b) => names.includes(b));
    const ratios = baselines.flatMap((baseline) => [
      { metric: 'kaRps', baseline },
      { metric: 'hsRate', baseline },
    ]);
    // Two ratios per baseline: say which metric each column compares.
    const [head, ...body] = summaryTable(summaries, metrics, ratios).split('\n');
    const labels = ratios.map((r) => `${r.metric === 'kaRps' ? 'keep-alive' : 'handshakes'} vs ${r.baseline}`);
    const table = [head!.split(' | ').slice(0, metrics.length + 1).concat(labels).join(' | ') + ' |', ...body].join('\n');
    const cpuTable = summaryTable(summaries, cpuMetrics);
    const raw = roundsTable(names, o.rounds, measurements, rawMetrics);
    const ratioNote = baselines.length
      ? '"keep-alive vs X" and "handshakes vs X" are ratios of the medians. `nginx` runs the guide\'s `keepalive 10` upstream, `nginx-ka64` keeps 64 idle upstream connections (with 50 clients and 10 kept, nginx opens a new upstream connection for many requests).'
      : 'nginx was not measured: no ratios.';

    const md = [
      `# TLS termination, ${started.toISOString().slice(0, 16).replace('T', ' ')} UTC`,
      '',
      `Keep-alive: HTTPS GET of a 20-byte body over ${o.connections} keep-alive TLS 1.3 connections (autocannon, HTTP/1.1). Handshakes: ${o.handshakeConcurrency} concurrent loops (${o.handshakeThreads} piscina threads) each opening a new TLS 1.3 connection (full handshake, no resumption), one GET with \`Connection: close\`, close. ${o.duration} s per load per peer per round after ${o.warmup} s of warm-up, ${o.rounds} rounds, peer order rotated. Medians over the rounds. Every peer uses the same EC P-256 certificate and the authentik guide's TLS settings (TLS 1.3 only, HSTS); the upstream is plain HTTP to the same origin.`,
      '',
      table,
      '',
      ratioNote,
      '',
      '## CPU',
      '',
      "CPU time of the peer's own processes per request and per handshake (the origin's excluded), and the handshake load generator's cores: the client side of a handshake costs about as much as the server side, so on 2 shared cores handshakes/s is bounded by the load generator as much as by the peer; µs per handshake compares the peers' own cost.",
      '',
      cpuTable,
      '',
      '## Per round',
      '',
      'keep-alive req/s / handshakes/s / errors (both loads); (#k) = position in the round.',
      '',
      raw,
      '',
      '## Setup',
      '',
      `- origin: ${origin.description}`,
      `- keep-alive load: ${load.describe()}`,
      ...running.map((p) => `- ${p.name}: ${p.detail}`),
      ...peers.skipped.map((s) => `- ${s.name}: **not measured**: ${s.reason.split('\n')[0]}`),
      '',
      '## Machine',
      '',
      machineMarkdown(machine),
      `- load average at the end: ${os.loadavg().map((x) => x.toFixed(2)).join(' ')}`,
      '',
      `Command: \`${['pnpm --filter @portcullis/benchmarks run bench:tls', ...process.argv.slice(2)].join(' ')}\``,
      '',
    ].join('\n');
    log(`\n${md}`);
    if (o.write !== 'no') {
      const files = writeResults('tls', md, {
        benchmark: 'tls',
        started: started.toISOString(),
        options: o,
        machine,
        origin: origin.description,
        peers: running.map((p) => ({ name: p.name, detail: p.detail })),
        skipped: peers.skipped,
        summary: summaries,
        baselines,
        measurements,
      });
      log(`written: ${files.join(', ')}`);
    }
  } finally {
    await load.close();
    await pool.destroy();
    await stopPeers(running);
    await origin?.stop();
    await stopAll();
  }
}

main().catch(async (err: unknown) => {
  console.error(err instanceof Error ? err.message : err);
  await stopAll();
  process.exit(1);
});
