// HTTP/2 termination: GET throughput of a 20-byte response over TLS 1.3 with ALPN h2, many
// streams per connection, Portcullis side by side with nginx configured as in the authentik guide
// and with a bare node:http2 relay (the floor), in one run of alternating rounds.
//
//   pnpm --filter @portcullis/benchmarks run bench:h2
//   pnpm --filter @portcullis/benchmarks run bench:h2 --rounds 5 --duration 10
//   pnpm --filter @portcullis/benchmarks run bench:h2 --help
//
// Load: h2load (nghttp2-client), one thread, `--connections` x `--streams` requests in flight, a
// warm-up in the same connections, then the measured window; the peer's CPU is read from /proc
// exactly around that window (h2load prints its edges as they happen). Every peer runs one
// worker, uses the same certificate, and relays to the same origin over plain HTTP/1.1 keep-alive
// sockets, so only the HTTP/2 frontend and the proxying between differ.
import { execFile, execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import http2 from 'node:http2';
import os from 'node:os';
import { join } from 'node:path';
import {
  HOST,
  SkipPeer,
  distDir,
  fmt,
  freePort,
  groupCpu,
  guideLocation,
  guideUpstream,
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
  versionOf,
  writeResults,
  type CpuTimes,
  type ManagedProcess,
  type Metric,
  type Origin,
  type PeerContext,
  type PeerDef,
  type RatioColumn,
  type RunningPeer,
} from './runner/index.js';
import { h2loadArgs, h2loadBinary, runH2load, type H2loadSample } from './runner/h2load-run.js';

const specs = {
  rounds: { default: 3, help: 'alternating rounds (each runs every peer once, order rotated)' },
  duration: { default: 8, help: 'seconds measured per peer per round (h2load -D)' },
  warmup: { default: 2, help: 'seconds of load before each measurement, in the same connections (h2load --warm-up-time)' },
  // 8 x 8 = 64 requests in flight, the upstream keep-alive budget of every peer: no peer opens
  // upstream connections in the window. With -m16 (128 in flight) nginx-h2 opened about 2,300
  // upstream connections a second (13,700 sockets in TIME-WAIT after a 6 s run), 4 µs/req more.
  connections: { default: 8, help: 'h2load client connections (-c)' },
  streams: { default: 8, help: 'concurrent streams per connection (-m)' },
  baseline: {
    default: '',
    help: "another build's packages/server/dist/cli.js, measured as peers baseline-h2 and baseline-h2-nolog (add them to --peers)",
  },
  peers: { default: 'nginx-h2,floor-h2,portcullis-h2,portcullis-h2-nolog', help: 'peers to measure, comma-separated' },
  write: { default: 'yes', help: 'write benchmarks/results/h2-<date>.{md,json}: yes | no' },
};

/** Idle upstream sockets every peer may keep (nginx-ka64's `keepalive 64`; the floor's cap). */
const UPSTREAM_KEEPALIVE = 64;

interface Certificate {
  cert: string;
  key: string;
}

/** One self-signed EC P-256 certificate for every peer, made for this run, as tls.ts makes it. */
function makeCertificate(runDir: string): Certificate {
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

/** One GET over a fresh HTTP/2 connection (ALPN h2 only, no SNI: h2load sends none to an IP). */
function getH2(url: string, timeoutMs = 1000): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const session = http2.connect(url, { rejectUnauthorized: false, ALPNProtocols: ['h2'] });
    const timer = setTimeout(() => session.destroy(new Error(`timeout after ${timeoutMs} ms`)), timeoutMs);
    const done = (err: Error | null, r?: { status: number; body: string }) => {
      clearTimeout(timer);
      session.close();
      if (err) reject(err);
      else resolve(r!);
    };
    session.on('error', (err) => done(err));
    const req = session.request({ ':path': '/' });
    let status = 0;
    let body = '';
    req.setEncoding('utf8');
    req.on('response', (h) => (status = Number(h[':status'])));
    req.on('data', (c: string) => (body += c));
    req.on('end', () => done(null, { status, body }));
    req.on('error', (err) => done(err));
  });
}

/** Polls an https URL over HTTP/2 until it answers 200 with the origin's body. */
async function waitForH2(url: string, body: string, isDead: () => string | undefined, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = 'no attempt';
  for (;;) {
    const dead = isDead();
    if (dead) throw new Error(dead);
    try {
      const r = await getH2(url);
      if (r.status === 200 && r.body === body) return;
      last = `status ${r.status}, body ${JSON.stringify(r.body.slice(0, 100))}`;
    } catch (err) {
      last = (err as Error).message;
    }
    if (Date.now() > deadline) throw new Error(`${url} not ready in time (last: ${last})`);
    await sleep(100);
  }
}

/** Waits for a peer's process to answer over HTTP/2, or stops it and throws. */
async function waitOrStop(proc: ManagedProcess, url: string, ctx: PeerContext, fatal: () => string | undefined = () => undefined): Promise<void> {
  try {
    await waitForH2(url, ctx.origin.body, () => (proc.hasExited ? `${proc.name} exited:\n${proc.lastLines()}` : fatal()));
  } catch (err) {
    await proc.stop();
    throw err;
  }
}

/**
 * nginx with the authentik guide's HTTPS server block (`listen ssl http2`, TLS 1.3 only, HSTS
 * `always`) and proxying, one worker, upstream `keepalive 64` (nginx-ka64's: with the guide's 10
 * and a hundred streams in flight nginx would open an upstream connection for most requests).
 */
function nginxH2Peer(cert: Certificate): PeerDef {
  const name = 'nginx-h2';
  return {
    name,
    start: async (ctx) => {
      const bin = nginxBinary();
      if (!bin) throw new SkipPeer('nginx is not installed (apt-get install -y nginx)');
      const port = await freePort();
      const proc = startNginx(bin, {
        name,
        runDir: ctx.runDir,
        workers: 1,
        http: `
  # The authentik guide's HTTPS server, on loopback, with a plain upstream.${guideUpstream(ctx.origin, UPSTREAM_KEEPALIVE)}
  server {
    listen ${HOST}:${port} ssl http2 backlog=4096;
    ssl_certificate ${cert.cert};
    ssl_certificate_key ${cert.key};
    ssl_protocols TLSv1.3;
    add_header Strict-Transport-Security "max-age=63072000" always;
    # Not the guide's: nginx ends an HTTP/2 connection with a GOAWAY after keepalive_requests
    # (1000) requests, and h2load does not reconnect, so the default would stop the load within
    # the warm-up. What it leaves out is one TLS handshake per 1000 requests per connection.
    keepalive_requests 100000000;${guideLocation}
  }`,
      });
      const url = `https://${HOST}:${port}/`;
      await waitOrStop(proc, url, ctx);
      return {
        name,
        url,
        detail: `worker_processes 1; listen ssl http2, ssl_protocols TLSv1.3, HSTS always; upstream keepalive ${UPSTREAM_KEEPALIVE}, proxy_http_version 1.1, Connection "" (the guide's map); keepalive_requests 100000000 (h2load does not reconnect after the default 1000's GOAWAY); other settings nginx's defaults`,
        pgids: proc.pgids,
        stop: () => proc.stop(),
      };
    },
  };
}

/** The floor: `children/h2-floor-relay.js`, node:http2 and node:net sockets and nothing else. */
function floorH2Peer(cert: Certificate): PeerDef {
  const name = 'floor-h2';
  return {
    name,
    start: async (ctx) => {
      const port = await freePort();
      const proc = startProcess({
        name,
        command: process.execPath,
        // The young generation Portcullis gives its HTTP/2 workers (server/src/cluster/worker-flags.ts):
        // the floor gets the same Node, so the ratio is of the proxies' own work.
        args: ['--min-semi-space-size=16', '--max-semi-space-size=32', join(distDir, 'children', 'h2-floor-relay.js'), HOST, String(port), ctx.origin.host, String(ctx.origin.port), cert.cert, cert.key],
        logDir: ctx.runDir,
      });
      const url = `https://${HOST}:${port}/`;
      await waitOrStop(proc, url, ctx);
      return {
        name,
        url,
        detail: `node --min-semi-space-size=16 --max-semi-space-size=32 (the young generation of Portcullis's HTTP/2 workers); node:http2 createSecureServer (TLS 1.3, ALPN h2) relaying each stream as a fixed-form GET over at most ${UPSTREAM_KEEPALIVE} keep-alive node:net sockets (idle stack, wait list), responses assumed whole in one read; no proxy logic: the least a Node HTTP/2 frontend can cost`,
        pgids: proc.pgids,
        stop: () => proc.stop(),
      };
    },
  };
}

interface PortcullisH2Options {
  name: string;
  /** Another build's cli.js (`--baseline`), '' when not given; default this checkout's. */
  cli?: string;
  /** true: the default logging (access log on, level info, stdout to /dev/null); false: `--no-access-log --log-level warn`. */
  accessLog: boolean;
}

/**
 * `portcullis check` on the config first: a build without the `http2` listener key refuses it
 * with a config error, and the peer is skipped with that error rather than failing to start.
 */
function checkConfig(cli: string, args: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    execFile(process.execPath, [cli, 'check', ...args], { cwd: repoRoot, timeout: 20_000 }, (err, _stdout, stderr) => {
      if (!err) return resolve();
      const msg = (stderr.trim() || err.message).split('\n').slice(0, 5).join(' / ');
      // The refusal of a build without it: "listen[0].http2: unknown key. Fix: remove it; ...".
      if (/http2: unknown key/.test(msg)) reject(new SkipPeer(`this build has no HTTP/2 listener yet (\`${cli} check\` refuses the \`http2\` key): ${msg}`));
      else reject(new Error(`\`portcullis check\` refused the benchmark's config: ${msg}`));
    });
  });
}

/** Portcullis from its CLI with a YAML config: one worker, a TLS 1.3 listener with `http2: true`. */
function portcullisH2Peer(opts: PortcullisH2Options, cert: Certificate): PeerDef {
  const { name } = opts;
  return {
    name,
    start: async (ctx) => {
      if (opts.cli === '') throw new SkipPeer("no --baseline given (another build's packages/server/dist/cli.js)");
      const cli = opts.cli ?? portcullisCli;
      if (!existsSync(cli)) throw new SkipPeer(`${cli} does not exist (build the server first: pnpm build)`);
      const port = await freePort();
      const dir = join(ctx.runDir, name);
      mkdirSync(dir, { recursive: true });
      const configPath = join(dir, 'portcullis.yaml');
      // The authentik example's TLS settings (examples/authentik.yaml) with HTTP/2 on, and the
      // same upstream budget as nginx-h2 (keepalive 64).
      writeFileSync(
        configPath,
        [
          '# written by the Portcullis HTTP/2 benchmark',
          'workers: 1',
          'listen:',
          `  - address: ${HOST}:${port}`,
          `    tls: { cert: ${cert.cert}, key: ${cert.key}, min_version: TLSv1.3, hsts: { max_age: 63072000 } }`,
          '    http2: true',
          'upstreams:',
          '  authentik:',
          `    servers: [${ctx.origin.host}:${ctx.origin.port}]`,
          `    keepalive: ${UPSTREAM_KEEPALIVE}`,
          '',
        ].join('\n'),
      );
      const logging = opts.accessLog ? [] : ['--no-access-log', '--log-level', 'warn'];
      const args = ['--config', configPath, ...logging];
      await checkConfig(cli, args);
      let fatal: string | undefined;
      const proc = startProcess({
        name,
        command: process.execPath,
        args: [cli, ...args],
        cwd: repoRoot,
        logDir: ctx.runDir,
        // Every access-log line piped to us would cost this process CPU (see processes.ts).
        stdout: opts.accessLog ? 'discard' : 'pipe',
        onLine: (line) => {
          // An error-level log line (pino level >= 50) while starting: give up at once.
          if (fatal === undefined && /"level":\s*(5\d|6\d)/.test(line)) fatal = line;
        },
      });
      const url = `https://${HOST}:${port}/`;
      // One worker: it is ready once it answers (that worker listens).
      await waitOrStop(proc, url, ctx, () => (fatal === undefined ? undefined : `${name} logged an error while starting:\n${proc.lastLines()}`));
      return {
        name,
        url,
        detail:
          `node ${opts.cli ?? 'packages/server/dist/cli.js'} --config (workers: 1; listen tls: min_version TLSv1.3, hsts; http2: true; upstream keepalive ${UPSTREAM_KEEPALIVE})` +
          (opts.accessLog ? ' (default logging: access log on, level info; stdout to /dev/null)' : ' --no-access-log --log-level warn'),
        pgids: proc.pgids,
        stop: () => proc.stop(),
      };
    },
  };
}

/**
 * An h2load run plus the CPU the peer's own processes spent in its measured window, per request
 * in user space, in the kernel and in total, and in cores.
 */
type Sample = H2loadSample & { peerCores: number; peerUserUsPerReq: number; peerSysUsPerReq: number; peerCpuUsPerReq: number };

const metrics: Array<Metric<Sample>> = [
  { key: 'rps', label: 'req/s', get: (s) => s.rps, digits: 0 },
  { key: 'meanMs', label: 'mean ms', get: (s) => s.meanMs, digits: 2 },
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
  { key: 'meanMs', label: 'mean ms', get: (s) => s.meanMs, digits: 2 },
  { key: 'peerUserUsPerReq', label: 'user', get: (s) => s.peerUserUsPerReq, digits: 1 },
  { key: 'peerSysUsPerReq', label: 'sys µs/req', get: (s) => s.peerSysUsPerReq, digits: 1 },
  { key: 'errors', label: 'errors', get: (s) => s.errors, digits: 0 },
];

/**
 * The ratio columns of the main table, for the reference peers that were measured: req/s and
 * CPU per request against nginx-h2, CPU per request and its user-space share against floor-h2
 * (what a peer's own code adds to Node's HTTP/2 and the upstream sockets).
 */
function ratioColumns(names: string[]): RatioColumn[] {
  const cols: RatioColumn[] = [];
  if (names.includes('nginx-h2')) {
    cols.push({ metric: 'rps', baseline: 'nginx-h2', label: 'req/s vs nginx-h2' });
    cols.push({ metric: 'peerCpuUsPerReq', baseline: 'nginx-h2', label: 'CPU/req vs nginx-h2' });
  }
  if (names.includes('floor-h2')) {
    cols.push({ metric: 'peerCpuUsPerReq', baseline: 'floor-h2', label: 'CPU/req vs floor-h2' });
    cols.push({ metric: 'peerUserUsPerReq', baseline: 'floor-h2', label: 'user CPU/req vs floor-h2' });
  }
  return cols;
}

/** The issue's targets for a Portcullis peer with one worker. */
const TARGET_RPS_VS_NGINX = 0.5;
const TARGET_CPU_VS_FLOOR = 1.15;

/** One row per Portcullis peer: its two ratios against the targets, `n/a` without the reference. */
function targetsTable(summaries: Array<{ peer: string; medians: Record<string, number> }>): string | undefined {
  const of = (peer: string, key: string) => summaries.find((s) => s.peer === peer)?.medians[key];
  const ratio = (peer: string, key: string, ref: string) => {
    const v = of(peer, key);
    const b = of(ref, key);
    return v !== undefined && b !== undefined && Number.isFinite(v) && b > 0 ? v / b : NaN;
  };
  const verdict = (r: number, ok: boolean) => (Number.isFinite(r) ? `${r.toFixed(2)}x ${ok ? 'met' : '**not met**'}` : 'n/a');
  const rows = summaries
    .filter((s) => /^(portcullis|baseline)-/.test(s.peer))
    .map((s) => {
      const rps = ratio(s.peer, 'rps', 'nginx-h2');
      const cpu = ratio(s.peer, 'peerCpuUsPerReq', 'floor-h2');
      return `| ${s.peer} | ${verdict(rps, rps >= TARGET_RPS_VS_NGINX)} | ${verdict(cpu, cpu <= TARGET_CPU_VS_FLOOR)} |`;
    });
  if (rows.length === 0) return undefined;
  return [
    `| peer | req/s vs nginx-h2 (target >= ${TARGET_RPS_VS_NGINX.toFixed(2)}x) | CPU/req vs floor-h2 (target <= ${TARGET_CPU_VS_FLOOR.toFixed(2)}x) |`,
    '| --- | ---: | ---: |',
    ...rows,
  ].join('\n');
}

/** "**errors in 1/3 runs: non-2xx/3xx 12, errored 3**" for a peer whose runs had errors, by peer. */
function errorFlags(names: string[], measurements: Array<{ peer: string; sample?: Sample }>): Record<string, string> {
  const flags: Record<string, string> = {};
  for (const peer of names) {
    const mine = measurements.filter((m) => m.peer === peer && m.sample);
    const bad = mine.filter((m) => m.sample!.errors > 0);
    if (bad.length === 0) continue;
    const kinds: Record<string, number> = {};
    for (const m of bad) for (const [k, v] of Object.entries(m.sample!.errorKinds)) kinds[k] = (kinds[k] ?? 0) + v;
    flags[peer] = `**errors in ${bad.length}/${mine.length} runs: ${Object.entries(kinds).map(([k, v]) => `${k} ${v}`).join(', ')}**`;
  }
  return flags;
}

async function main(): Promise<void> {
  const o = readOptions('bench:h2: HTTP/2 (TLS 1.3, ALPN h2) throughput and CPU per request, Portcullis vs nginx and a node:http2 floor', specs);
  const bin = h2loadBinary();
  if (!bin) throw new Error('h2load is not installed (apt-get install -y nghttp2-client)');
  const started = new Date();
  const log = (m: string) => console.log(m);
  const machine = machineInfo();
  const h2loadVersion = versionOf(bin, '--version') ?? 'h2load';
  log(`# HTTP/2 benchmark, ${started.toISOString()}\n${machineMarkdown(machine)}\n- load: ${h2loadVersion}\n`);

  const runDir = makeRunDir('h2');
  const cert = makeCertificate(runDir);
  const catalogue = new Map<string, PeerDef>([
    ['nginx-h2', nginxH2Peer(cert)],
    ['floor-h2', floorH2Peer(cert)],
    // `-h2` is what a user who changes nothing gets (access log on, to /dev/null here); `-nolog`
    // is the proxy's work alone, as the keep-alive benchmark's portcullis-1 and -1-nolog.
    ['portcullis-h2', portcullisH2Peer({ name: 'portcullis-h2', accessLog: true }, cert)],
    ['portcullis-h2-nolog', portcullisH2Peer({ name: 'portcullis-h2-nolog', accessLog: false }, cert)],
    ['baseline-h2', portcullisH2Peer({ name: 'baseline-h2', cli: o.baseline, accessLog: true }, cert)],
    ['baseline-h2-nolog', portcullisH2Peer({ name: 'baseline-h2-nolog', cli: o.baseline, accessLog: false }, cert)],
  ]);
  const selected = list(o.peers).map((name) => {
    const def = catalogue.get(name);
    if (!def) throw new Error(`unknown peer ${name}; known: ${[...catalogue.keys()].join(', ')}`);
    return def;
  });

  const command = (url: string) => `h2load ${h2loadArgs({ bin, url, connections: o.connections, streams: o.streams, durationS: o.duration, warmupS: o.warmup }).join(' ')}`;
  let running: RunningPeer[] = [];
  let origin: Origin | undefined;
  try {
    origin = await startOrigin({ runDir, kind: 'auto', workers: 1 });
    log(`origin: ${origin.description} at ${origin.url}`);
    log(`load: ${command('https://127.0.0.1:PORT/')} per peer per round`);
    const peers = await startPeers(selected, { runDir, origin, log });
    running = peers.running;
    if (running.length === 0) throw new Error('no peer could be started');

    const measurements = await runRounds<Sample>({
      peers: running,
      rounds: o.rounds,
      // The warm-up is h2load's own, in the connections it then measures.
      measure: async (p) => {
        let cpu0: CpuTimes | undefined;
        let cpu1: CpuTimes | undefined;
        const s = await runH2load({
          bin,
          url: p.url,
          connections: o.connections,
          streams: o.streams,
          durationS: o.duration,
          warmupS: o.warmup,
          onWindow: (edge) => {
            if (edge === 'start') cpu0 = groupCpu(p.pgids);
            else cpu1 = groupCpu(p.pgids);
          },
        });
        if (s.requests === 0) {
          throw new Error(
            `no response in the ${o.duration} s window (protocol ${s.protocol}; ${s.trafficBytes} bytes in the whole run, warm-up included: ` +
              `${s.trafficBytes > 0 ? 'the peer answered and then stopped, e.g. closed the connections with a GOAWAY, after which h2load does not reconnect' : 'nothing answered'})`,
          );
        }
        if (!cpu0 || !cpu1 || !Number.isFinite(s.windowS)) throw new Error("h2load printed no 'Main benchmark duration' lines: no CPU window");
        const user = cpu1.user - cpu0.user;
        const sys = cpu1.system - cpu0.system;
        return {
          ...s,
          peerCores: (user + sys) / s.windowS,
          peerUserUsPerReq: (user * 1e6) / s.requests,
          peerSysUsPerReq: (sys * 1e6) / s.requests,
          peerCpuUsPerReq: ((user + sys) * 1e6) / s.requests,
        };
      },
      format: (s) =>
        `${fmt(s.rps, 0).padStart(8)} req/s  mean ${fmt(s.meanMs, 2)} ms  ` +
        `peer ${fmt(s.peerUserUsPerReq, 1)}+${fmt(s.peerSysUsPerReq, 1)}=${fmt(s.peerCpuUsPerReq, 1)} µs/req (user+sys) ${fmt(s.peerCores, 2)} cores  load gen ${fmt(s.loadCores, 2)} cores  ${s.protocol} ${s.cipher}` +
        `${s.errors ? `  ${s.errors} ERRORS ${JSON.stringify(s.errorKinds)}` : ''}`,
      log,
    });

    const names = running.map((p) => p.name);
    const inFlight = o.connections * o.streams;
    const summaries = summarize(names, measurements, [...metrics, ...cpuMetrics]);
    const ratios = ratioColumns(names);
    const flags = errorFlags(names, measurements);
    const table = summaryTable(summaries, metrics, ratios, flags);
    const targets = targetsTable(summaries);
    const cpuTable = summaryTable(summaries, cpuMetrics);
    const raw = roundsTable(names, o.rounds, measurements, rawMetrics);
    const errorsSeen = measurements.some((m) => (m.sample?.errors ?? 0) > 0 || m.error);
    // What each peer negotiated, from its runs (the same for every run of a peer, or all listed).
    const negotiated = (peer: string) => {
      const seen = new Set(measurements.filter((m) => m.peer === peer && m.sample).map((m) => `${m.sample!.protocol}, ${m.sample!.cipher}`));
      return seen.size ? [...seen].join('; ') : 'no run completed';
    };

    const md = [
      `# HTTP/2 termination, ${started.toISOString().slice(0, 16).replace('T', ' ')} UTC`,
      '',
      `HTTPS GET of a 20-byte body over HTTP/2 (TLS 1.3, ALPN h2): \`${command('https://127.0.0.1:PORT/')}\`, that is ${o.connections} connections x ${o.streams} concurrent streams (${inFlight} requests in flight${inFlight > UPSTREAM_KEEPALIVE ? `, more than the ${UPSTREAM_KEEPALIVE} upstream sockets a peer keeps: nginx-h2 opens and closes upstream connections during the run, floor-h2 queues` : ''}), one h2load thread, ${o.warmup} s of warm-up in the same connections then ${o.duration} s measured, per peer per round; ${o.rounds} rounds, peer order rotated each round. Every figure is the median over the rounds. req/s is h2load's (responses done in the measured window over its length); mean ms is h2load's mean time per request (it gives no percentiles). CPU µs/req is the CPU time of the peer's own processes (all of them: nginx's master and worker, Portcullis's supervisor and worker) per response, read from /proc/<pid>/stat at the moments h2load starts and ends its measured window (warm-up and handshakes excluded), in user space (\`user\`), in the kernel (\`sys\`) and in total; the origin's CPU is excluded. Every peer runs one worker, uses the same self-signed EC P-256 certificate and TLS 1.3 only, and relays to the same origin over plain HTTP/1.1 keep-alive sockets (at most ${UPSTREAM_KEEPALIVE} kept idle). A ratio column is the peer's median over the reference peer's median: for req/s higher is better, for CPU/req lower is better (CPU/req vs floor-h2 is what this peer costs per request against a bare node:http2 + node:net relay; user CPU/req vs floor-h2, the same for its user-space share only, where a proxy's own code shows). A peer flagged with errors had non-2xx/3xx responses or failed, errored or timed-out streams in some runs: its figures are suspect.`,
      '',
      table,
      '',
      ...(targets
        ? [
            '## Targets',
            '',
            `The issue's targets for Portcullis with one worker: at least ${TARGET_RPS_VS_NGINX.toFixed(2)}x nginx-h2's req/s, and at most ${TARGET_CPU_VS_FLOOR.toFixed(2)}x floor-h2's CPU per request (ratios of medians).`,
            '',
            targets,
            '',
          ]
        : []),
      '## Per round',
      '',
      'req/s / mean ms / peer CPU µs per request in user space / in the kernel / errors (non-2xx/3xx, failed, errored and timed-out streams); (#k) = position in the round.',
      '',
      raw,
      '',
      '## CPU',
      '',
      "What each measurement cost, medians over the rounds: the peer's own processes in cores over h2load's measured window, and h2load's cores over its whole run (its own process's CPU). On a shared machine CPU per request (main table) moves much less than req/s.",
      '',
      cpuTable,
      '',
      '## Setup',
      '',
      `- origin: ${origin.description}`,
      `- load: ${h2loadVersion}, \`${command('https://127.0.0.1:PORT/')}\``,
      `- build: ${buildState()}`,
      ...running.map((p) => `- ${p.name}: ${p.detail}; negotiated: ${negotiated(p.name)}`),
      ...peers.skipped.map((s) => `- ${s.name}: **not measured**: ${oneLine(s.reason)}`),
      ...(errorsSeen ? ['- **some runs had errors**: see the per-round table'] : []),
      '',
      '## Machine',
      '',
      machineMarkdown(machine),
      `- load average at the end: ${os.loadavg().map((x) => x.toFixed(2)).join(' ')} (other work on the machine shows here; the CPU per request is the steadier view)`,
      '',
      `Command: \`${['pnpm --filter @portcullis/benchmarks run bench:h2', ...process.argv.slice(2)].join(' ')}\``,
      '',
    ].join('\n');

    log(`\n${md}`);
    for (const s of peers.skipped) if (s.reason.includes('\n')) log(`--- ${s.name}: full reason ---\n${s.reason}\n`);
    if (o.write !== 'no') {
      const files = writeResults('h2', md, {
        benchmark: 'h2',
        started: started.toISOString(),
        options: o,
        machine,
        load: `${h2loadVersion}, ${command('<url>')}`,
        origin: origin.description,
        peers: running.map((p) => ({ name: p.name, detail: p.detail, negotiated: negotiated(p.name) })),
        skipped: peers.skipped,
        summary: summaries,
        ratios,
        targets: { rpsVsNginx: TARGET_RPS_VS_NGINX, cpuVsFloor: TARGET_CPU_VS_FLOOR },
        measurements,
      });
      log(`written: ${files.join(', ')}`);
    }
  } finally {
    await stopPeers(running);
    await origin?.stop();
    await stopAll();
  }
}

/** The newest modification time (ms) of the files under `dir` whose names end with `ext`; 0 if none. */
function newest(dir: string, ext: string): number {
  let t = 0;
  try {
    for (const rel of readdirSync(dir, { recursive: true, encoding: 'utf8' })) {
      if (rel.endsWith(ext)) t = Math.max(t, statSync(join(dir, rel)).mtimeMs);
    }
  } catch {
    /* no such dir */
  }
  return t;
}

/**
 * Whether the Portcullis measured is the commit's: the report names the commit, but the peers run
 * packages/server/dist as built from the working tree, which may hold changes not committed yet,
 * or be older than its sources (not rebuilt since a change).
 */
function buildState(): string {
  const pkgs = ['core', 'server'].map((p) => join(repoRoot, 'packages', p));
  const stale = pkgs.some((p) => newest(join(p, 'src'), '.ts') > newest(join(p, 'dist'), '.js'));
  const staleNote = stale ? '; **a source file is newer than every built file: dist/ may be stale (pnpm build)**' : '; dist/ newer than every source file';
  try {
    const out = execFileSync('git', ['status', '--porcelain', '--', 'packages'], { cwd: repoRoot, encoding: 'utf8', timeout: 10_000 }).trim();
    if (out === '') return `packages/ sources as committed${staleNote}`;
    return `**packages/ had ${out.split('\n').length} uncommitted change(s) at run time**: the portcullis peers ran packages/server/dist as built from that working tree, not the commit alone${staleNote}`;
  } catch {
    return `unknown (git status failed)${staleNote}`;
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
