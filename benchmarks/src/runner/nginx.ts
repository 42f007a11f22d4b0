// nginx started by the benchmark itself: its own prefix, config, pid, logs and temp paths in the
// run dir, in the foreground (`daemon off`), so no root-owned path is touched.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startProcess, type ManagedProcess } from './processes.js';
import { findBinary } from './tools.js';

export interface NginxOptions {
  name: string;
  runDir: string;
  workers: number;
  /** The body of the `http {}` block (servers, upstreams, maps); paths are added here. */
  http: string;
}

export function nginxBinary(): string | null {
  return findBinary('nginx');
}

export function startNginx(bin: string, opts: NginxOptions): ManagedProcess {
  const dir = join(opts.runDir, opts.name);
  mkdirSync(dir, { recursive: true, mode: 0o755 });
  const conf = `# written by the Portcullis benchmark
worker_processes ${opts.workers};
daemon off;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path ${dir}/client_body;
  proxy_temp_path ${dir}/proxy;
  fastcgi_temp_path ${dir}/fastcgi;
  uwsgi_temp_path ${dir}/uwsgi;
  scgi_temp_path ${dir}/scgi;
${opts.http}
}
`;
  const confPath = join(dir, 'nginx.conf');
  writeFileSync(confPath, conf);
  // -e: error log before the config is read (else nginx opens /var/log/nginx/error.log).
  return startProcess({
    name: opts.name,
    command: bin,
    args: ['-p', dir, '-e', join(dir, 'error.log'), '-c', confPath],
    logDir: opts.runDir,
  });
}

/**
 * The authentik guide's nginx proxying, for the benchmarks' nginx peers: the upgrade/keep-alive
 * map and upstream (in the http block) and the location block, with `Host $http_host` as the
 * guide has it. Only the listen line and TLS settings differ between peers.
 */
export function guideUpstream(origin: { host: string; port: number }, keepalive: number): string {
  return `
  # Upgrade WebSocket if requested, otherwise use keepalive (the authentik guide)
  map $http_upgrade $connection_upgrade_keepalive {
    default upgrade;
    ''      '';
  }
  upstream authentik {
    server ${origin.host}:${origin.port};
    keepalive ${keepalive};
  }`;
}

export const guideLocation = `
    location / {
      proxy_pass http://authentik;
      proxy_http_version 1.1;
      proxy_set_header X-Forwarded-Proto $scheme;
      proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
      proxy_set_header Host $http_host;
      proxy_set_header Upgrade $http_upgrade;
      proxy_set_header Connection $connection_upgrade_keepalive;
    }`;
