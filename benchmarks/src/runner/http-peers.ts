// Definitions of the plain-HTTP peers: the origin itself, Portcullis (CLI flags or a config
// file), nginx and HAProxy with the authentik guide's settings adapted to plain HTTP on
// loopback, and node-http-proxy with a keep-alive agent.
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { HOST, freePort, sleep, waitForHttp } from './net.js';
import { guideLocation, guideUpstream, nginxBinary, startNginx } from './nginx.js';
import { SkipPeer, type PeerContext, type PeerDef } from './peers.js';
import { startProcess, type ManagedProcess } from './processes.js';
import { distDir, findBinary, repoRoot } from './tools.js';

/** The origin itself: the ceiling every proxy is held against. */
export function directPeer(): PeerDef {
  return {
    name: 'direct',
    start: async (ctx) => ({
      name: 'direct',
      url: ctx.origin.url,
      detail: `the origin: ${ctx.origin.description}`,
      pgids: ctx.origin.pgids,
      stop: async () => {},
    }),
  };
}

export const portcullisCli = join(repoRoot, 'packages', 'server', 'dist', 'cli.js');

export interface PortcullisPeerOptions {
  name: string;
  workers: number;
  /** Upstream pipelining depth; when set, the peer is configured with a YAML file (`--config`). */
  pipelining?: number;
  /** Upstream sockets opened before pipelined requests share them (the `keepalive` key). */
  keepalive?: number;
  /**
   * Another build's cli.js, for the `baseline-1` peer (a benchmark's `--baseline`: a change
   * measured against the code before it in one run); default: this checkout's. '' when not given.
   */
  cli?: string;
  /**
   * true: Portcullis's default configuration, access log on at log level info, its stdout (every
   * log line) to /dev/null, so that the benchmark measures what a user who changes nothing gets.
   * Default false: `--no-access-log --log-level warn`, the proxy's work alone.
   */
  accessLog?: boolean;
  /**
   * Turn on the admin endpoint (`--admin` on a free loopback port), and with it the per-request
   * metrics; nothing scrapes it during the run, so the peer's cost is the counting alone.
   */
  metrics?: boolean;
}

/**
 * Portcullis from its CLI. Ready when it prints a line containing `"msg":"ready"` (all workers
 * listen); a CLI that prints none is accepted once it has answered correctly for 2 s.
 */
export function portcullisPeer(opts: PortcullisPeerOptions): PeerDef {
  return {
    name: opts.name,
    start: async (ctx) => {
      if (opts.cli === '') throw new SkipPeer("no --baseline given (another build's packages/server/dist/cli.js)");
      const cli = opts.cli ?? portcullisCli;
      if (!existsSync(cli)) {
        throw new SkipPeer(`${cli} does not exist (build the server first: pnpm build)`);
      }
      const port = await freePort();
      const accessLog = opts.accessLog === true;
      const common = accessLog ? [] : ['--no-access-log', '--log-level', 'warn'];
      if (opts.metrics === true) common.push('--admin', `${HOST}:${await freePort()}`);
      let args: string[];
      let detail: string;
      if (opts.pipelining !== undefined) {
        const dir = join(ctx.runDir, opts.name);
        mkdirSync(dir, { recursive: true });
        const configPath = join(dir, 'portcullis.yaml');
        writeFileSync(
          configPath,
          [
            '# written by the Portcullis benchmark',
            `listen: [${HOST}:${port}]`,
            `workers: ${opts.workers}`,
            'upstreams:',
            '  app:',
            `    servers: [${ctx.origin.host}:${ctx.origin.port}]`,
            `    pipelining: ${opts.pipelining}`,
            ...(opts.keepalive !== undefined ? [`    keepalive: ${opts.keepalive}`] : []),
            '',
          ].join('\n'),
        );
        args = [cli, '--config', configPath, ...common];
        detail = `--config (workers: ${opts.workers}, upstream pipelining: ${opts.pipelining}${opts.keepalive !== undefined ? `, keepalive: ${opts.keepalive}` : ''})`;
      } else {
        args = [
          cli,
          '--listen',
          `${HOST}:${port}`,
          '--to',
          `http://${ctx.origin.host}:${ctx.origin.port}`,
          '--workers',
          String(opts.workers),
          ...common,
        ];
        detail = `--workers ${opts.workers}`;
      }
      let sawReady = false;
      let fatal: string | undefined;
      if (accessLog) detail += ' (default logging: access log on, level info; stdout to /dev/null)';
      if (opts.metrics === true) detail += ' (metrics on: --admin)';
      const proc = startProcess({
        name: opts.name,
        command: process.execPath,
        args,
        cwd: repoRoot,
        logDir: ctx.runDir,
        stdout: accessLog ? 'discard' : 'pipe',
        onLine: (line) => {
          if (line.includes('"msg":"ready"')) sawReady = true;
          // An error-level log line (pino level >= 50, e.g. "worker died") before ready: give up
          // at once instead of waiting for the timeout.
          else if (!sawReady && fatal === undefined && /"level":\s*(5\d|6\d)/.test(line)) fatal = line;
        },
      });
      const url = `http://${HOST}:${port}/`;
      try {
        await waitForHttp(url, {
          proc,
          expectBody: ctx.origin.body,
          timeoutMs: 20_000,
          abort: () => (fatal === undefined ? undefined : `${opts.name} logged an error while starting:\n${proc.lastLines()}`),
        });
        // With stdout discarded the "ready" line cannot be seen; a peer with one worker is ready
        // once it answers (that worker listens), so only a multi-worker one waits the 2 s.
        const deadline = Date.now() + (accessLog && opts.workers === 1 ? 0 : 2000);
        while (!sawReady && Date.now() < deadline && !proc.hasExited) await sleep(50);
        if (proc.hasExited) throw new Error(`exited after answering:\n${proc.lastLines()}`);
        if (!sawReady && !accessLog) {
          detail += '; no "ready" line seen, waited 2 s after it first answered';
          ctx.log(`  note: ${opts.name} printed no "msg":"ready" line`);
        }
      } catch (err) {
        await proc.stop();
        throw err;
      }
      return {
        name: opts.name,
        url,
        detail: `node ${opts.cli ?? 'packages/server/dist/cli.js'} ${detail}`,
        pgids: proc.pgids,
        stop: () => proc.stop(),
      };
    },
  };
}

export interface NginxPeerOptions {
  name?: string;
  /** `keepalive` of the upstream block: 10 in the authentik guide, 64 for nginx at its best (docs/benchmarks.md). */
  keepalive?: number;
  /** `worker_processes`: 1 by default, to compare one worker with one; N with Portcullis's N. */
  workers?: number;
}

/** nginx, one worker unless told, the authentik guide's proxy settings on plain HTTP. */
export function nginxPeer(opts: NginxPeerOptions = {}): PeerDef {
  const name = opts.name ?? 'nginx';
  const keepalive = opts.keepalive ?? 10;
  const workers = opts.workers ?? 1;
  return {
    name,
    start: async (ctx) => {
      const bin = nginxBinary();
      if (!bin) throw new SkipPeer('nginx is not installed (apt-get install -y nginx)');
      const port = await freePort();
      const proc = startNginx(bin, {
        name,
        runDir: ctx.runDir,
        workers,
        http: `${guideUpstream(ctx.origin, keepalive)}
  server {
    listen ${HOST}:${port} backlog=4096;${guideLocation}
  }`,
      });
      const url = `http://${HOST}:${port}/`;
      await waitOrStop(proc, url, ctx);
      return {
        name,
        url,
        detail: `worker_processes ${workers}, upstream keepalive ${keepalive}, the authentik guide's proxy_set_header lines`,
        pgids: proc.pgids,
        stop: () => proc.stop(),
      };
    },
  };
}

/** HAProxy, one thread, `http-reuse always` and `option forwardfor`. */
export function haproxyPeer(): PeerDef {
  return {
    name: 'haproxy',
    start: async (ctx) => {
      const bin = findBinary('haproxy');
      if (!bin) throw new SkipPeer('haproxy is not installed (apt-get install -y haproxy)');
      const port = await freePort();
      const dir = join(ctx.runDir, 'haproxy');
      mkdirSync(dir, { recursive: true });
      const cfg = join(dir, 'haproxy.cfg');
      writeFileSync(
        cfg,
        `# written by the Portcullis benchmark
global
  nbthread 1
  maxconn 4096
  pidfile ${dir}/haproxy.pid

defaults
  mode http
  option http-keep-alive
  option forwardfor
  http-reuse always
  timeout connect 5s
  timeout client 60s
  timeout server 60s
  timeout http-keep-alive 60s

frontend fe
  bind ${HOST}:${port}
  http-request set-header X-Forwarded-Proto http
  default_backend app

backend app
  server origin ${ctx.origin.host}:${ctx.origin.port}
`,
      );
      // -db: foreground, no daemon; logs go to stderr.
      const proc = startProcess({ name: 'haproxy', command: bin, args: ['-db', '-f', cfg], logDir: ctx.runDir });
      const url = `http://${HOST}:${port}/`;
      await waitOrStop(proc, url, ctx);
      return {
        name: 'haproxy',
        url,
        detail: 'nbthread 1, http-reuse always, option forwardfor',
        pgids: proc.pgids,
        stop: () => proc.stop(),
      };
    },
  };
}

/**
 * A peer that is one of our `children/<script>` run as its own process, listening on a free port:
 * `args(port, ctx)` are its arguments after the script.
 */
function childPeer(name: string, script: string, args: (port: number, ctx: PeerContext) => string[], detail: string): PeerDef {
  return {
    name,
    start: async (ctx) => {
      const port = await freePort();
      const proc = startProcess({
        name,
        command: process.execPath,
        args: [join(distDir, 'children', script), ...args(port, ctx)],
        logDir: ctx.runDir,
      });
      const url = `http://${HOST}:${port}/`;
      await waitOrStop(proc, url, ctx);
      return { name, url, detail, pgids: proc.pgids, stop: () => proc.stop() };
    },
  };
}

const originUrl = (ctx: PeerContext): string => ctx.origin.url.replace(/\/$/, '');

/** node-http-proxy with `new http.Agent({ keepAlive: true, maxSockets: 64 })`, in its own process. */
export function nodeHttpProxyPeer(): PeerDef {
  return childPeer(
    'node-http-proxy',
    'node-http-proxy.js',
    (port, ctx) => [HOST, String(port), originUrl(ctx)],
    'http-proxy with http.Agent({ keepAlive: true, maxSockets: 64 }) and ws: true (a byte tunnel after the 101), one process',
  );
}

/**
 * The floor of Portcullis's design: a bare relay on the same two parts (a uWS frontend, node:net
 * sockets upstream) that does nothing a proxy must do beyond moving the bytes, from
 * `children/<script>`. Its cost is the part of Portcullis's that uWS and Node set, not our code.
 */
export function floorPeer(script: string, detail: string): PeerDef {
  return childPeer('floor', script, (port, ctx) => [HOST, String(port), ctx.origin.host, String(ctx.origin.port), ctx.origin.body], detail);
}

/**
 * The upstream-leg alternatives Portcullis's design was chosen against: a uWS frontend over Node's
 * `http` client (keep-alive agent, 64 sockets) or over undici 6's Pool (64 connections).
 */
export function uwsUpstreamClientPeer(mode: 'http' | 'undici'): PeerDef {
  return childPeer(
    mode === 'http' ? 'uws+node-http' : 'uws+undici',
    'uws-upstream-client.js',
    (port, ctx) => [mode, HOST, String(port), originUrl(ctx)],
    mode === 'http'
      ? 'uWS frontend, upstream through node:http with http.Agent({ keepAlive: true, maxSockets: 64 }), one process'
      : 'uWS frontend, upstream through undici 6 Pool({ connections: 64 }), one process',
  );
}

async function waitOrStop(proc: ManagedProcess, url: string, ctx: PeerContext): Promise<void> {
  try {
    await waitForHttp(url, { proc, expectBody: ctx.origin.body });
  } catch (err) {
    await proc.stop();
    throw err;
  }
}

