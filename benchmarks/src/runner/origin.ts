// The origin every peer proxies to. It must not be the bottleneck: nginx answering a fixed body
// from `return 200` (keepalive_requests high) when nginx is installed, else a uWebSockets.js
// server in a child process.
import { join } from 'node:path';
import { HOST, freePort, waitForHttp } from './net.js';
import { nginxBinary, startNginx } from './nginx.js';
import type { Origin } from './peers.js';
import { startProcess } from './processes.js';
import { distDir, versionOf } from './tools.js';

/** 20 bytes. */
export const ORIGIN_BODY = 'portcullis-bench-ok\n';

export interface OriginOptions {
  runDir: string;
  /** 'auto' (nginx if installed, else uWS), 'nginx' or 'uws'. */
  kind: 'auto' | 'nginx' | 'uws';
  /** nginx worker processes. */
  workers: number;
}

export async function startOrigin(opts: OriginOptions): Promise<Origin> {
  const port = await freePort();
  const url = `http://${HOST}:${port}/`;
  const nginx = nginxBinary();
  if (opts.kind === 'nginx' && !nginx) throw new Error('origin nginx requested but nginx is not installed');
  if (nginx && opts.kind !== 'uws') {
    const proc = startNginx(nginx, {
      name: 'origin-nginx',
      runDir: opts.runDir,
      workers: opts.workers,
      http: `
  keepalive_requests 100000000;
  keepalive_timeout 300s;
  server {
    listen ${HOST}:${port} backlog=4096;
    location / {
      default_type text/plain;
      return 200 "${ORIGIN_BODY.replace('\n', '\\n')}";
    }
  }`,
    });
    await waitForHttp(url, { proc, expectBody: ORIGIN_BODY });
    const version = (versionOf(nginx) ?? 'nginx').replace(/^nginx version: /, '');
    return {
      description: `${version}, \`return 200\` of a 20-byte body, ${opts.workers} worker(s)`,
      host: HOST,
      port,
      url,
      body: ORIGIN_BODY,
      pgids: proc.pgids,
      stop: () => proc.stop(),
    };
  }
  const proc = startProcess({
    name: 'origin-uws',
    command: process.execPath,
    args: [join(distDir, 'children', 'uws-origin.js'), HOST, String(port), ORIGIN_BODY],
    logDir: opts.runDir,
  });
  await waitForHttp(url, { proc, expectBody: ORIGIN_BODY });
  return {
    description: `uWebSockets.js ${nginx ? '' : '(nginx not installed) '}in a child process, a 20-byte body`,
    host: HOST,
    port,
    url,
    body: ORIGIN_BODY,
    pgids: proc.pgids,
    stop: () => proc.stop(),
  };
}
