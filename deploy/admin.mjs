#!/usr/bin/env node
// A tiny client of Portcullis' admin endpoint, for places that have node but no curl: the
// container HEALTHCHECK, Kubernetes exec probes (the admin endpoint needs a bearer token once it
// listens beyond loopback, and an httpGet probe could only carry it written into the pod spec),
// and reloads by hand.
//
//   node admin.mjs [METHOD] PATH        e.g.  node admin.mjs /live   node admin.mjs POST /reload
//
// Exit 0 on a 2xx answer, 1 otherwise (the body goes to stdout or stderr), 2 on a usage error.
// PORTCULLIS_ADMIN_URL     where the endpoint is (default http://127.0.0.1:9901)
// PORTCULLIS_ADMIN_TOKEN_FILE  file holding the bearer token (default /etc/portcullis/admin.token,
//                          used only if it exists; an empty value sends no token)
// PORTCULLIS_ADMIN_TIMEOUT milliseconds before giving up (default 3000)
import { existsSync, readFileSync } from 'node:fs';

const args = process.argv.slice(2);
const method = args.length > 1 ? args[0].toUpperCase() : 'GET';
const path = args.length > 1 ? args[1] : (args[0] ?? '/live');
if (args.length > 2 || !path.startsWith('/')) {
  process.stderr.write('usage: node admin.mjs [METHOD] PATH   (e.g. /live, /ready, POST /reload)\n');
  process.exit(2);
}

const base = process.env.PORTCULLIS_ADMIN_URL || 'http://127.0.0.1:9901';
const tokenFile = process.env.PORTCULLIS_ADMIN_TOKEN_FILE ?? '/etc/portcullis/admin.token';
const timeout = Number(process.env.PORTCULLIS_ADMIN_TIMEOUT || 3000);

const headers = {};
if (tokenFile !== '' && existsSync(tokenFile)) headers.authorization = `Bearer ${readFileSync(tokenFile, 'utf8').trim()}`;

try {
  const res = await fetch(new URL(path, base), { method, headers, signal: AbortSignal.timeout(timeout) });
  const body = await res.text();
  (res.ok ? process.stdout : process.stderr).write(body.endsWith('\n') || body === '' ? body : `${body}\n`);
  process.exit(res.ok ? 0 : 1);
} catch (err) {
  process.stderr.write(`${method} ${new URL(path, base)}: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
}
