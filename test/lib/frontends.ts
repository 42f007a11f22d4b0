/**
 * The two frontends the behaviour suites run against, behind one interface:
 *
 * - `cli`: the `portcullis` command (uWS frontend, cluster of workers). A simple spec (one
 *   upstream with only servers) is given as flags (`--to`, `--trust-proxy`); anything more is
 *   written to a YAML config file (snake_case keys) and passed with `--config`.
 * - `node-http`: `createProxy` + `nodeHttpHandler` from @portcullis/core on a node:http server in
 *   the test process (or, with `inChild`, in a child process so its memory can be measured).
 */
import { spawn } from 'node:child_process';
import http from 'node:http';
import type net from 'node:net';
import { fileURLToPath } from 'node:url';
import type { Test } from 'tap';
import { type Cli, startCli } from './cli.js';
import { deferred, freePort, listenLoopback, within, withTimeout } from './util.js';

export interface UpstreamSpec {
  name: string;
  /** Ports of origin servers on 127.0.0.1. */
  servers: number[];
  /** ms */
  readTimeout?: number;
  /** ms: the upstream's send_timeout (how long it may take no request body bytes). */
  sendTimeout?: number;
  hostHeader?: string;
  keepalive?: number;
  /** Requests in flight per upstream socket. */
  pipelining?: number;
  /** ms */
  idleTimeout?: number;
}

export interface RouteSpec {
  hosts?: string[];
  path?: string;
  stripPrefix?: boolean;
  upstream: string;
}

export interface ProxySpec {
  upstreams: UpstreamSpec[];
  routes?: RouteSpec[];
  trustedProxies?: string[];
  /** CLI only (default 1). */
  workers?: number;
  /** CLI only: the top-level send_timeout, ms. */
  sendTimeout?: number;
  /** Request head limits (`limits:` / ProxyInit.limits); sizes in bytes. */
  limits?: { maxUrlLength?: number; maxHeaderSize?: number; maxHeadersSize?: number; maxHeaders?: number };
}

export interface RunningProxy {
  port: number;
  /** Processes whose memory is the proxy's (CLI workers; the node-http child). Empty in-process. */
  proxyPids(): number[];
  cli?: Cli;
}

export interface Frontend {
  name: 'cli' | 'node-http';
  start(t: Test, spec: ProxySpec, opts?: { inChild?: boolean }): Promise<RunningProxy>;
}

/** One upstream named `app` with the given origin ports. */
export function toOrigins(...ports: number[]): ProxySpec {
  return { upstreams: [{ name: 'app', servers: ports }] };
}

const isSimple = (spec: ProxySpec): boolean =>
  spec.upstreams.length === 1 &&
  spec.sendTimeout === undefined &&
  spec.limits === undefined &&
  !spec.routes &&
  Object.keys(spec.upstreams[0]!).every((k) => k === 'name' || k === 'servers');

const ms = (n: number): string => `${n}ms`;

function yamlScalar(v: unknown): string {
  if (typeof v === 'string') return /^[\w./:-]+$/.test(v) && !/^\d+$/.test(v) ? v : JSON.stringify(v);
  return String(v);
}

/** The YAML config file for a spec, in the documented snake_case keys. */
export function specToYaml(spec: ProxySpec, port: number): string {
  const out: string[] = [];
  out.push(`listen: [127.0.0.1:${port}]`);
  out.push(`workers: ${spec.workers ?? 1}`);
  if (spec.sendTimeout !== undefined) out.push(`send_timeout: ${ms(spec.sendTimeout)}`);
  if (spec.trustedProxies?.length) out.push(`trusted_proxies: [${spec.trustedProxies.map(yamlScalar).join(', ')}]`);
  if (spec.limits !== undefined) {
    const l = spec.limits;
    out.push('limits:');
    if (l.maxUrlLength !== undefined) out.push(`  max_url_length: ${l.maxUrlLength}`);
    if (l.maxHeaderSize !== undefined) out.push(`  max_header_size: ${l.maxHeaderSize}`);
    if (l.maxHeadersSize !== undefined) out.push(`  max_headers_size: ${l.maxHeadersSize}`);
    if (l.maxHeaders !== undefined) out.push(`  max_headers: ${l.maxHeaders}`);
  }
  out.push('upstreams:');
  for (const u of spec.upstreams) {
    out.push(`  ${u.name}:`);
    out.push(`    servers: [${u.servers.map((p) => `127.0.0.1:${p}`).join(', ')}]`);
    if (u.readTimeout !== undefined) out.push(`    read_timeout: ${ms(u.readTimeout)}`);
    if (u.sendTimeout !== undefined) out.push(`    send_timeout: ${ms(u.sendTimeout)}`);
    if (u.idleTimeout !== undefined) out.push(`    idle_timeout: ${ms(u.idleTimeout)}`);
    if (u.keepalive !== undefined) out.push(`    keepalive: ${u.keepalive}`);
    if (u.pipelining !== undefined) out.push(`    pipelining: ${u.pipelining}`);
    if (u.hostHeader !== undefined) out.push(`    host_header: ${yamlScalar(u.hostHeader)}`);
  }
  const routes = spec.routes ?? [{ path: '/', upstream: spec.upstreams[0]!.name }];
  out.push('routes:');
  for (const r of routes) {
    const first = r.hosts && r.hosts.length === 1 ? `host: ${yamlScalar(r.hosts[0])}` : undefined;
    const lines: string[] = [];
    if (first) lines.push(first);
    else if (r.hosts && r.hosts.length > 1) lines.push(`hosts: [${r.hosts.map(yamlScalar).join(', ')}]`);
    lines.push(`path: ${yamlScalar(r.path ?? '/')}`);
    if (r.stripPrefix) lines.push('strip_prefix: true');
    lines.push(`upstream: ${r.upstream}`);
    out.push(`  - ${lines[0]}`);
    for (const l of lines.slice(1)) out.push(`    ${l}`);
  }
  return out.join('\n') + '\n';
}

/** createProxy options for a spec (the documented camelCase option names). */
export function specToCoreOptions(spec: ProxySpec): Record<string, unknown> {
  if (isSimple(spec) && spec.upstreams[0]!.servers.length === 1 && !spec.trustedProxies?.length) {
    return { target: `http://127.0.0.1:${spec.upstreams[0]!.servers[0]}` };
  }
  const upstreams = spec.upstreams.map((u) => {
    const o: Record<string, unknown> = {
      name: u.name,
      servers: u.servers.map((port) => ({ host: '127.0.0.1', port })),
      protocol: 'http',
    };
    if (u.readTimeout !== undefined) o.readTimeout = u.readTimeout;
    if (u.sendTimeout !== undefined) o.sendTimeout = u.sendTimeout;
    if (u.idleTimeout !== undefined) o.idleTimeout = u.idleTimeout;
    if (u.keepalive !== undefined) o.keepalive = u.keepalive;
    if (u.pipelining !== undefined) o.pipelining = u.pipelining;
    if (u.hostHeader !== undefined) o.hostHeader = u.hostHeader;
    return o;
  });
  const routes = (spec.routes ?? [{ path: '/', upstream: spec.upstreams[0]!.name }]).map((r) => ({
    hosts: r.hosts ?? [],
    pathPrefix: r.path ?? '/',
    stripPrefix: r.stripPrefix ?? false,
    upstream: r.upstream,
  }));
  return { upstreams, routes, forwarding: { trustedProxies: spec.trustedProxies ?? [] }, ...(spec.limits ? { limits: spec.limits } : {}) };
}

export const cliFrontend: Frontend = {
  name: 'cli',
  async start(t, spec) {
    const port = await freePort();
    let args: string[];
    if (isSimple(spec)) {
      args = ['--listen', `127.0.0.1:${port}`, '--workers', String(spec.workers ?? 1), '--log-level', 'info'];
      for (const p of spec.upstreams[0]!.servers) args.push('--to', `http://127.0.0.1:${p}`);
      for (const c of spec.trustedProxies ?? []) args.push('--trust-proxy', c);
    } else {
      const dir = t.testdir({ 'portcullis.yaml': specToYaml(spec, port) });
      args = ['--config', `${dir}/portcullis.yaml`, '--log-level', 'info'];
    }
    const cli = await startCli(t, args, { port });
    return { port, cli, proxyPids: () => cli.children() };
  },
};

type CoreModule = {
  createProxy(o: unknown): { close(): Promise<void> };
  nodeHttpHandler(p: unknown): http.RequestListener;
};

const CHILD = fileURLToPath(new URL('./node-http-child.mjs', import.meta.url));

export const nodeHttpFrontend: Frontend = {
  name: 'node-http',
  async start(t, spec, opts = {}) {
    const options = specToCoreOptions(spec);
    if (opts.inChild) return startNodeHttpChild(t, options);
    const core = (await import('@portcullis/core')) as unknown as CoreModule;
    const proxy = core.createProxy(options);
    const server = http.createServer(core.nodeHttpHandler(proxy));
    t.teardown(() => withTimeout(proxy.close(), 5000, 'closing the node:http proxy').catch(() => {}));
    const { port } = await listenLoopback(t, server);
    return { port, proxyPids: () => [] };
  },
};

async function startNodeHttpChild(t: Test, options: Record<string, unknown>): Promise<RunningProxy> {
  const proc = spawn(process.execPath, [CHILD, JSON.stringify(options)], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, NODE_OPTIONS: '' },
  });
  const exited = deferred<void>();
  proc.on('exit', () => exited.resolve());
  t.teardown(async () => {
    proc.kill('SIGTERM');
    const done = await within(exited.promise.then(() => true), 5000);
    if (!done) proc.kill('SIGKILL');
  });
  let err = '';
  proc.stderr!.on('data', (d) => (err += d));
  const port = await withTimeout(
    new Promise<number>((resolve, reject) => {
      let out = '';
      proc.stdout!.on('data', (d) => {
        out += d;
        const m = /"port":(\d+)/.exec(out);
        if (m) resolve(Number(m[1]));
      });
      proc.on('exit', (code) => reject(new Error(`node-http child exited ${code}: ${err}`)));
    }),
    15_000,
    'the node-http proxy child to listen',
  );
  return { port, proxyPids: () => (proc.pid ? [proc.pid] : []) };
}

export const frontends: Frontend[] = [cliFrontend, nodeHttpFrontend];
