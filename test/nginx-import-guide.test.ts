/**
 * The authentik guide's nginx configuration (the seed file, as the guide shows it), imported with
 * `portcullis import` and started with test certificates and loopback ports, passes the behaviour
 * checks examples/authentik.yaml passes: the https redirect, TLS (1.3 only with the guide's
 * recommended `ssl_protocols TLSv1.3;`), HSTS always, the headers authentik needs upstream, and
 * WebSockets over HTTP/1.1 and HTTP/2. docs/migrating-from-nginx.md is the translator's own table.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import http2 from 'node:http2';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import WebSocket from 'ws';
import { migrationGuide } from '../packages/server/dist/import/directives.js';
import { authentikScene, hasIpv6 } from './lib/authentik.js';
import { runCli } from './lib/cli.js';
import { request } from './lib/client.js';
import { headerValues } from './lib/http1.js';
import type { Echo } from './lib/origins.js';
import { handshake, httpsRequest, startCliWithConfig, tempDir } from './lib/tls.js';
import { deferred, freePort, withTimeout } from './lib/util.js';

const T = { timeout: 60_000 };

const { letsEncrypt, domain, origin, upgrades } = await authentikScene(t);

// The guide's configuration, exactly as the guide shows it (copied from its page into the fixture).
const guide = readFileSync(fileURLToPath(new URL('./fixtures/authentik-guide.nginx.conf', import.meta.url)), 'utf8');

const plain = await freePort();
const secure = await freePort();
const ipv6 = await hasIpv6();
const work = tempDir(t, 'portcullis-import-');

/** The guide's config with what a test must change: addresses, certificates, the authentik host. */
function localised(extra: Array<[string, string]> = []): string {
  const replacements: Array<[string, string]> = [
    ['<hostname of your authentik server>:9443', `127.0.0.1:${origin.port}`],
    ['/etc/letsencrypt/live/domain.tld/fullchain.pem', domain.chain.path],
    ['/etc/letsencrypt/live/domain.tld/privkey.pem', domain.key.path],
    ['listen 80;', `listen 127.0.0.1:${plain};`],
    ['listen [::]:80;', ipv6 ? `listen [::1]:${plain};` : `listen 127.0.0.2:${plain};`],
    ['listen 443 ssl http2;', `listen 127.0.0.1:${secure} ssl http2;`],
    ['listen [::]:443 ssl http2;', ipv6 ? `listen [::1]:${secure} ssl http2;` : `listen 127.0.0.2:${secure} ssl http2;`],
    ...extra,
  ];
  let text = guide;
  for (const [from, to] of replacements) {
    if (!text.includes(from)) throw new Error(`the guide's config no longer contains ${JSON.stringify(from)}: update this test`);
    text = text.split(from).join(to);
  }
  return text;
}

async function importGuide(name: string, text: string): Promise<{ yaml: string; report: string; code: number | null }> {
  const conf = join(work, `${name}.conf`);
  const out = join(work, `${name}.yaml`);
  writeFileSync(conf, text);
  const r = await runCli(t, ['import', conf, '-o', out]);
  return { yaml: r.code === 0 ? readFileSync(out, 'utf8') : '', report: r.stderr, code: r.code };
}

// The guide recommends TLS 1.3 only in its text, not in its config: the line it leaves to the reader.
const recommended = await importGuide('guide-tls13', localised([['add_header Strict-Transport-Security', 'ssl_protocols TLSv1.3;\nadd_header Strict-Transport-Security']]));
const asWritten = await importGuide('guide', localised());

// Every subtest after the last top-level await: tap ends a file whose queued subtests are done.
const cli = await startCliWithConfig(t, recommended.yaml, secure);
const sso = { port: secure, servername: 'sso.domain.tld', ca: letsEncrypt.cert.pem };

t.test('the guide imports: every key commented with its directive, the report names what differs', T, async (t) => {
  t.equal(asWritten.code, 0, asWritten.report);
  t.match(asWritten.yaml, /# proxy_pass https:\/\/authentik  \(guide\.conf:\d+\)/);
  t.match(asWritten.yaml, /# add_header Strict-Transport-Security max-age=63072000 always  \(guide\.conf:\d+\)/);
  t.match(asWritten.report, /guide\.conf:\d+ map: differs: recognised as the WebSocket idiom/);
  t.match(asWritten.report, /guide\.conf:\d+ proxy_pass: less safe: upstream authentik's certificate is not checked, as nginx did not/);
  t.notMatch(asWritten.report, /not translated/, 'nothing of the guide is left out');
  t.match(asWritten.yaml, /verify: false/, 'nginx does not verify the upstream certificate: neither does the import');
  t.equal(recommended.code, 0, recommended.report);
  t.match(recommended.yaml, /min_version: TLSv1\.3/);
});

t.test('the plain port answers 301 to https://$host$request_uri', T, async (t) => {
  const res = await request({ port: plain, path: '/if/flow/default-authentication-flow/?next=%2F', headers: { host: `sso.domain.tld:${plain}` } });
  t.equal(res.status, 301);
  // $host has no port: nginx sends the client to 443, and so does the import.
  t.same(res.header('location'), ['https://sso.domain.tld/if/flow/default-authentication-flow/?next=%2F']);
});

t.test('the TLS port proxies to the TLS upstream with X-Forwarded-Proto, X-Forwarded-For and Host; HSTS always', T, async (t) => {
  const res = await httpsRequest({ ...sso, path: '/api/v3/root/config/', headers: { 'x-forwarded-for': '6.6.6.6' } });
  t.equal(res.status, 200);
  t.same(res.header('strict-transport-security'), ['max-age=63072000']);
  const echo = res.json<Echo>();
  t.same(headerValues(echo.headers, 'x-forwarded-proto'), ['https']);
  t.same(headerValues(echo.headers, 'x-forwarded-for'), ['127.0.0.1'], 'the client (a spoofed value is replaced: the report says nginx appended it)');
  t.same(headerValues(echo.headers, 'host'), [`sso.domain.tld:${secure}`], 'Host: $http_host');
  const other = await httpsRequest({ ...sso, host: 'other.example', path: '/' });
  t.equal(other.status, 200, 'the only server is the default one: nginx serves any Host with it, and so does the import');
});

t.test('TLS 1.3 only, with the guide\'s recommended ssl_protocols', T, async (t) => {
  const old = await handshake(t, { port: secure, servername: 'sso.domain.tld', minVersion: 'TLSv1.2', maxVersion: 'TLSv1.2' });
  t.notOk(old.ok, 'TLS 1.2 refused');
  const ok = await handshake(t, { port: secure, servername: 'sso.domain.tld', ca: letsEncrypt.cert.pem });
  t.ok(ok.ok && ok.protocol === 'TLSv1.3');
});

t.test('WebSockets: wss over HTTP/1.1 and over HTTP/2 (listen 443 ssl http2) to the TLS upstream', T, async (t) => {
  const ws = new WebSocket(`wss://127.0.0.1:${secure}/ws/outpost/abc/`, {
    servername: 'sso.domain.tld',
    ca: letsEncrypt.cert.pem,
    headers: { host: 'sso.domain.tld' },
  } as WebSocket.ClientOptions);
  t.teardown(() => ws.terminate());
  await withTimeout(new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('error', reject);
  }), 10_000, 'the WebSocket to open');
  const echoed = deferred<string>();
  ws.once('message', (data) => echoed.resolve(data.toString()));
  ws.send('hello outpost');
  t.equal(await withTimeout(echoed.promise, 10_000, 'the echo'), 'hello outpost');
  t.equal(upgrades.at(-1)!.headers['x-forwarded-proto'], 'https');
  t.equal(upgrades.at(-1)!.headers['host'], 'sso.domain.tld');

  const session = http2.connect(`https://127.0.0.1:${secure}`, { servername: 'sso.domain.tld', ca: letsEncrypt.cert.pem });
  session.on('error', () => {});
  t.teardown(() => session.close());
  await withTimeout(new Promise((r) => session.once('remoteSettings', r)), 10_000, 'settings');
  const stream = session.request({ ':method': 'CONNECT', ':protocol': 'websocket', ':path': '/ws/outpost/h2/', ':authority': 'sso.domain.tld', 'sec-websocket-version': '13' }, { endStream: false });
  stream.on('error', () => {});
  const head = await withTimeout(new Promise<http2.IncomingHttpHeaders>((r) => stream.once('response', r)), 10_000, 'the CONNECT answer');
  t.equal(head[':status'], 200);
  const payload = Buffer.from('over h2');
  const mask = Buffer.from([9, 8, 7, 6]);
  stream.write(Buffer.concat([Buffer.from([0x81, 0x80 | payload.length]), mask, Buffer.from(payload.map((b, i) => b ^ mask[i % 4]!))]));
  const frame = await withTimeout(new Promise<Buffer>((r) => stream.once('data', r)), 10_000, 'the echo');
  t.equal(frame.subarray(2, 2 + frame[1]!).toString(), 'over h2');
  stream.close();
});

t.test('every log line is JSON', T, async (t) => {
  t.notOk(cli.lines.some((l) => l.msg === '<non-json>'));
});

t.test('docs/migrating-from-nginx.md is the translator\'s own table', T, async (t) => {
  const doc = readFileSync(fileURLToPath(new URL('../docs/migrating-from-nginx.md', import.meta.url)), 'utf8');
  t.equal(doc, migrationGuide(), 'regenerate it: node -e "import(\'./packages/server/dist/import/directives.js\').then(m => process.stdout.write(m.migrationGuide()))" > docs/migrating-from-nginx.md');
});
