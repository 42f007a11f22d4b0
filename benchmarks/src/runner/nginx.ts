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
