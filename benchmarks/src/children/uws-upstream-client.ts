// Child process: the design alternatives for Portcullis's upstream leg, measured beside it. A uWS
// frontend (as Portcullis's) whose upstream requests go through Node's `http` client with a
// keep-alive agent, or through undici 6's Pool, instead of Portcullis's own HTTP/1.1 engine.
// The response body is buffered whole (the benchmark's is 20 bytes): the best case for both.
// Usage: node uws-upstream-client.js http|undici HOST PORT TARGET_URL
import http from 'node:http';
import { createRequire } from 'node:module';
import { Pool } from 'undici';
import type * as UWS from 'uWebSockets.js';

const require = createRequire(import.meta.url);
const uws = require('uWebSockets.js') as typeof UWS;
const [mode = 'http', host = '127.0.0.1', portArg = '0', target = 'http://127.0.0.1:8080'] = process.argv.slice(2);
const origin = new URL(target);

const HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'te', 'trailer', 'transfer-encoding', 'upgrade', 'content-length', 'date']);

type Send = (method: string, path: string, headers: Record<string, string>, done: (status: number, headers: [string, string][], body: Buffer) => void, fail: () => void) => void;

const agent = new http.Agent({ keepAlive: true, maxSockets: 64 });
const viaHttp: Send = (method, path, headers, done, fail) => {
  const req = http.request({ host: origin.hostname, port: origin.port, method, path, headers, agent }, (res) => {
    const chunks: Buffer[] = [];
    res.on('data', (c: Buffer) => chunks.push(c));
    res.on('end', () => {
      const out: [string, string][] = [];
      const raw = res.rawHeaders;
      for (let i = 0; i < raw.length; i += 2) if (!HOP.has(raw[i]!.toLowerCase())) out.push([raw[i]!, raw[i + 1]!]);
      done(res.statusCode ?? 502, out, Buffer.concat(chunks));
    });
  });
  req.on('error', fail);
  req.end();
};

const pool = new Pool(origin.origin, { connections: 64, pipelining: 1 });
const viaUndici: Send = (method, path, headers, done, fail) => {
  pool
    .request({ method: method as 'GET', path, headers })
    .then(async (res) => {
      const body = Buffer.from(await res.body.arrayBuffer());
      const out: [string, string][] = [];
      for (const [k, v] of Object.entries(res.headers)) if (!HOP.has(k) && typeof v === 'string') out.push([k, v]);
      done(res.statusCode, out, body);
    })
    .catch(fail);
};

const send = mode === 'undici' ? viaUndici : viaHttp;
const decoder = new TextDecoder('latin1');

uws
  .App()
  .any('/*', (res, req) => {
    const method = req.getCaseSensitiveMethod();
    const q = req.getQuery();
    const path = q ? `${req.getUrl()}?${q}` : req.getUrl();
    const headers: Record<string, string> = {};
    req.forEach((k, v) => {
      if (!HOP.has(k)) headers[k] = v;
    });
    const peer = decoder.decode(res.getRemoteAddressAsText());
    headers['x-forwarded-for'] = peer;
    headers['x-forwarded-proto'] = 'http';
    let aborted = false;
    res.onAborted(() => (aborted = true));
    send(
      method,
      path,
      headers,
      (status, out, body) => {
        if (aborted) return;
        res.cork(() => {
          res.writeStatus(String(status));
          for (const [k, v] of out) res.writeHeader(k, v);
          res.end(body);
        });
      },
      () => {
        if (!aborted) res.cork(() => res.writeStatus('502 Bad Gateway').end('bad gateway\n'));
      },
    );
  })
  .listen(host, Number(portArg), (ls) => {
    if (!ls) process.exit(1);
    console.log(JSON.stringify({ msg: 'ready', host, port: Number(portArg) }));
  });
for (const sig of ['SIGTERM', 'SIGINT'] as const) process.on(sig, () => process.exit(0));
