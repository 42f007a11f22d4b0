// `portcullis import`, directive by directive: small nginx configurations (parsed by parseNginxText as
// if they were /etc/nginx/nginx.conf) go through translate(), and each test checks the Portcullis
// keys it writes (output.root) and the report lines (kind, a fragment of why, file and line) against
// what nginx does with the same directives. Then runImport's options and exit codes, on temp files.
//
// A test that fails here marks a translation that does not do what nginx does, or a difference the
// report does not name; each such test says in its message what nginx does instead.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { runImport } from '../src/import/command.js';
import { directiveRows, ignoredDirectives, migrationGuide } from '../src/import/directives.js';
import { parseNginxText } from '../src/import/nginx-parse.js';
import type { ReportKind, ReportLine } from '../src/import/report.js';
import { translate } from '../src/import/translate.js';

const FILE = '/etc/nginx/nginx.conf';

/** The lines of an nginx file: line N of the file is argument N. */
const cfg = (...lines: string[]): string => lines.join('\n') + '\n';

/** Output objects are walked by key; their shape is what the assertions check. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Any = any;

interface Result {
  root: Any;
  lines: ReportLine[];
}

/** Translate `text` as /etc/nginx/nginx.conf; file names shown relative as `portcullis import` does. */
function tr(text: string): Result {
  const { output, report } = translate(parseNginxText(text, FILE), (f) => (f === FILE ? 'nginx.conf' : f));
  return { root: output.root as Any, lines: report.lines };
}

/** `upstream app` (line 2) with these lines from line 3 on, and a plain server on port 80 whose location / proxies to it. */
function withApp(upstreamLines: string[]): string {
  return cfg('http {', '  upstream app {', ...upstreamLines, '  }', '  server {', '    listen 80;', '    location / {', '      proxy_pass http://app;', '    }', '  }', '}');
}

/** Lines at `line`, for messages. */
const at = (r: Result, line: number): string[] => r.lines.filter((l) => l.line === line).map((l) => `${l.line} ${l.directive}: ${l.kind}: ${l.why}`);

function hasLine(tt: Tap, r: Result, line: number, directive: string, kind: ReportKind, why: RegExp, msg?: string): void {
  const hit = r.lines.find((l) => l.line === line && l.directive === directive && l.kind === kind && why.test(l.why));
  tt.ok(hit, msg ?? `report: ${FILE}:${line} ${directive}: ${kind}: ${why}`, { found: at(r, line) });
  if (hit) tt.equal(hit.file, FILE, 'report lines name the file');
}

function noLine(tt: Tap, r: Result, line: number, directive?: string, msg?: string): void {
  const hits = r.lines.filter((l) => l.line === line && (directive === undefined || l.directive === directive));
  tt.same(hits, [], msg ?? `no report line for ${directive ?? 'anything'} at line ${line}`);
}

type Tap = Test;

// ---------------------------------------------------------------- main context

t.test('worker_processes: auto, a number, anything else reported', async (t) => {
  let r = tr(cfg('worker_processes auto;', 'http {', '}'));
  t.equal(r.root.workers, 'auto');
  noLine(t, r, 1, 'worker_processes');
  r = tr(cfg('worker_processes 4;', 'http {', '}'));
  t.equal(r.root.workers, 4);
  r = tr(cfg('worker_processes lots;', 'http {', '}'));
  t.notOk('workers' in r.root);
  hasLine(t, r, 1, 'worker_processes', 'not translated', /expected a number or auto, got "lots"/);
});

t.test('an http-context fragment (conf.d/) is read as the inside of http', async (t) => {
  const r = tr(cfg('upstream app { server 10.0.0.1:8080; keepalive 2; }', 'server {', '  listen 8080;', '  location / { proxy_pass http://app; }', '}'));
  t.strictSame(r.root.listen, [{ address: '0.0.0.0:8080' }]);
  t.strictSame(r.root.routes, [{ path: '/', upstream: 'app' }]);
  t.strictSame(r.root.upstreams.app.servers, ['10.0.0.1:8080']);
});

t.test('no server block: reported', async (t) => {
  const r = tr(cfg('http {', '  sendfile on;', '}'));
  t.notOk('listen' in r.root);
  hasLine(t, r, 1, 'server', 'not translated', /no server block/);
});

// ---------------------------------------------------------------- upstream blocks

t.test('upstream: name kept, characters Portcullis refuses become _', async (t) => {
  const r = tr(cfg('http {', '  upstream my.app { server 10.0.0.1:8080; keepalive 1; }', '  server { listen 80; location / { proxy_pass http://my.app; } }', '}'));
  t.ok(r.root.upstreams.my_app, 'upstream my.app is upstreams.my_app');
  t.strictSame(r.root.routes, [{ path: '/', upstream: 'my_app' }]);
  t.equal(r.root.upstreams.my_app.host_header, 'my.app', 'Host is still $proxy_host, the name as written');
});

t.test('upstream server: address, default port 80, weight, backup, down, IPv6', async (t) => {
  const r = tr(withApp([
    '    server 10.0.0.1:8080 weight=3;', // 3
    '    server app.internal backup;', // 4
    '    server [::1] down;', // 5
    '    server [::1]:9000;', // 6
    '    keepalive 8;', // 7
  ]));
  t.strictSame(r.root.upstreams.app.servers, [
    { address: '10.0.0.1:8080', weight: 3 },
    { address: 'app.internal:80', backup: true },
    { address: '[::1]:80', down: true },
    '[::1]:9000',
  ]);
  t.equal(r.root.upstreams.app.keepalive, 8);
  for (const line of [3, 4, 5, 6]) noLine(t, r, line, 'server');
});

t.test('upstream server: unix sockets and parameters Portcullis lacks are reported', async (t) => {
  const r = tr(withApp(['    server unix:/run/app.sock;', '    server 10.0.0.1:8080 max_conns=10 slow_start=30s;', '    keepalive 8;']));
  t.strictSame(r.root.upstreams.app.servers, ['10.0.0.1:8080'], 'the unix socket is left out');
  hasLine(t, r, 3, 'server', 'not translated', /unix socket/);
  hasLine(t, r, 4, 'server', 'not translated', /"max_conns=10"/);
  hasLine(t, r, 4, 'server', 'not translated', /"slow_start=30s"/);
});

t.test('max_fails / fail_timeout: passive_health with nginx defaults written out', async (t) => {
  // Two servers, no max_fails: nginx takes a server out after 1 failure in 10 s, for 10 s.
  let r = tr(withApp(['    server 10.0.0.1:8080;', '    server 10.0.0.2:8080;', '    keepalive 8;']));
  t.strictSame(r.root.upstreams.app.passive_health, { consecutive_failures: 1, window: '10s', count_5xx: false, base_ejection_time: '10s', max_ejection_time: '10s' });
  hasLine(t, r, 2, 'upstream', 'differs', /50%/);
  // max_fails=3 fail_timeout=30s
  r = tr(withApp(['    server 10.0.0.1:8080 max_fails=3 fail_timeout=30s;', '    server 10.0.0.2:8080 max_fails=3 fail_timeout=30s;', '    keepalive 8;']));
  t.strictSame(r.root.upstreams.app.passive_health, { consecutive_failures: 3, window: '30s', count_5xx: false, base_ejection_time: '30s', max_ejection_time: '30s' });
  noLine(t, r, 3, 'server');
  // max_fails=0: never marked failed
  r = tr(withApp(['    server 10.0.0.1:8080 max_fails=0;', '    server 10.0.0.2:8080 max_fails=0;', '    keepalive 8;']));
  t.equal(r.root.upstreams.app.passive_health, 'off');
  // One server: nothing to eject (Portcullis never ejects the last one anyway)
  r = tr(withApp(['    server 10.0.0.1:8080 max_fails=3;', '    keepalive 8;']));
  t.notOk('passive_health' in r.root.upstreams.app);
});

t.test('max_fails / fail_timeout that differ between servers of one upstream are reported', async (t) => {
  // nginx keeps max_fails and fail_timeout per server: 10.0.0.1 goes out after 1 failure in 10 s,
  // 10.0.0.2 after 5 in 60 s. Portcullis has one passive_health per upstream.
  const r = tr(withApp(['    server 10.0.0.1:8080;', '    server 10.0.0.2:8080 max_fails=5 fail_timeout=60s;', '    keepalive 8;']));
  const mentioned = r.lines.some((l) => (l.line === 2 || l.line === 3 || l.line === 4) && /max_fails|fail_timeout|per server|per upstream/.test(l.why));
  t.ok(mentioned, 'per-server max_fails/fail_timeout folded into one upstream-wide passive_health should be reported (nginx: 10.0.0.1 out after 1 failure in 10s, 10.0.0.2 after 5 in 60s; output applies the last server\'s values to both)', {
    passive_health: r.root.upstreams.app.passive_health,
    report: r.lines.map((l) => `${l.line} ${l.directive}: ${l.kind}: ${l.why}`),
  });
});

t.test('keepalive: absent is keepalive 0 and reported; keepalive_timeout, keepalive_requests', async (t) => {
  let r = tr(withApp(['    server 10.0.0.1:8080;']));
  t.equal(r.root.upstreams.app.keepalive, 0);
  hasLine(t, r, 2, 'upstream', 'differs', /keepalive: 0/);
  r = tr(withApp(['    server 10.0.0.1:8080;', '    keepalive 32;', '    keepalive_timeout 75s;', '    keepalive_requests 500;']));
  t.equal(r.root.upstreams.app.keepalive, 32);
  t.equal(r.root.upstreams.app.idle_timeout, '75s');
  t.equal(r.root.upstreams.app.max_requests_per_socket, 500);
  t.notOk(r.lines.some((l) => l.line === 2 && /keepalive/.test(l.why)), 'no keepalive report with keepalive');
  for (const line of [4, 5, 6]) noLine(t, r, line);
  r = tr(withApp(['    server 10.0.0.1:8080;', '    keepalive 4;', '    keepalive_timeout 1m;']));
  t.equal(r.root.upstreams.app.idle_timeout, '60s', 'nginx time 1m');
});

t.test('least_conn: least_request, reported as P2C', async (t) => {
  const r = tr(withApp(['    least_conn;', '    server 10.0.0.1:8080;', '    keepalive 1;']));
  t.equal(r.root.upstreams.app.balance, 'least_request');
  hasLine(t, r, 3, 'least_conn', 'differs', /two random servers/);
});

t.test('hash: each key kind, consistent or not', async (t) => {
  const cases: Array<[string, string]> = [
    ['$remote_addr', 'client_ip'],
    ['$binary_remote_addr', 'client_ip'],
    ['$request_uri', 'uri'],
    ['$http_x_user_id', 'header:x-user-id'],
    ['$cookie_session_id', 'cookie:session_id'],
  ];
  for (const [key, want] of cases) {
    const r = tr(withApp([`    hash ${key} consistent;`, '    server 10.0.0.1:8080;', '    keepalive 1;']));
    t.equal(r.root.upstreams.app.balance, 'hash', key);
    t.equal(r.root.upstreams.app.hash_key, want, key);
    noLine(t, r, 3, 'hash', `hash ${key} consistent: no report`);
  }
  const r = tr(withApp(['    hash $request_uri;', '    server 10.0.0.1:8080;', '    keepalive 1;']));
  t.equal(r.root.upstreams.app.hash_key, 'uri');
  hasLine(t, r, 3, 'hash', 'differs', /modulo/);
  const bad = tr(withApp(['    hash $remote_addr$uri consistent;', '    server 10.0.0.1:8080;', '    keepalive 1;']));
  t.notOk('balance' in bad.root.upstreams.app, 'no balance for a key Portcullis cannot hash');
  t.notOk('hash_key' in bad.root.upstreams.app);
  hasLine(t, bad, 3, 'hash', 'not translated', /\$remote_addr\$uri/);
});

t.test('hash $uri: differs from Portcullis\'s uri key (query string), reported', async (t) => {
  // nginx's $uri is the normalised path without the query string; Portcullis's hash_key uri hashes
  // the request target as sent, query included: /a?x=1 and /a?x=2 go to one server with nginx and
  // may go to two with Portcullis.
  const r = tr(withApp(['    hash $uri consistent;', '    server 10.0.0.1:8080;', '    keepalive 1;']));
  t.equal(r.root.upstreams.app.hash_key, 'uri');
  t.ok(r.lines.some((l) => l.line === 3 && l.directive === 'hash'), 'hash $uri → hash_key: uri should be reported as a difference ($uri has no query string and is decoded; Portcullis hashes the raw target with its query)', { found: at(r, 3) });
});

t.test('ip_hash: hash on client_ip, reported', async (t) => {
  const r = tr(withApp(['    ip_hash;', '    server 10.0.0.1:8080;', '    keepalive 1;']));
  t.equal(r.root.upstreams.app.balance, 'hash');
  t.equal(r.root.upstreams.app.hash_key, 'client_ip');
  hasLine(t, r, 3, 'ip_hash', 'differs', /three octets/);
});

t.test('random, random two, random two least_conn, random two least_time', async (t) => {
  let r = tr(withApp(['    random;', '    server 10.0.0.1:8080;', '    keepalive 1;']));
  t.equal(r.root.upstreams.app.balance, 'random');
  noLine(t, r, 3);
  r = tr(withApp(['    random two;', '    server 10.0.0.1:8080;', '    keepalive 1;']));
  t.equal(r.root.upstreams.app.balance, 'least_request', 'random two: least_conn is nginx\'s default method');
  noLine(t, r, 3);
  r = tr(withApp(['    random two least_conn;', '    server 10.0.0.1:8080;', '    keepalive 1;']));
  t.equal(r.root.upstreams.app.balance, 'least_request');
  noLine(t, r, 3);
  r = tr(withApp(['    random two least_time=header;', '    server 10.0.0.1:8080;', '    keepalive 1;']));
  t.equal(r.root.upstreams.app.balance, 'least_request');
  hasLine(t, r, 3, 'random', 'differs', /least_time=header/);
});

t.test('an upstream no proxy_pass uses is reported', async (t) => {
  const r = tr(cfg('http {', '  upstream app { server 10.0.0.1:8080; keepalive 1; }', '  upstream spare { server 10.0.0.2:8080; keepalive 1; }', '  server { listen 80; location / { proxy_pass http://app; } }', '}'));
  hasLine(t, r, 3, 'upstream', 'not translated', /used by no proxy_pass/);
});

t.test('directives inside upstream that Portcullis lacks are reported', async (t) => {
  // The upstream loop marks every directive handled before its switch, so leftOut() in the default
  // branch returns at once: zone, ntlm, sticky, health_check ... vanish without a report line.
  const r = tr(withApp(['    server 10.0.0.1:8080;', '    keepalive 1;', '    zone app 64k;', '    ntlm;']));
  hasLine(t, r, 5, 'zone', 'not translated', /no Portcullis equivalent/);
  hasLine(t, r, 6, 'ntlm', 'not translated', /no Portcullis equivalent/);
});

// ---------------------------------------------------------------- map

t.test('map $http_upgrade: the WebSocket idiom, in its three spellings', async (t) => {
  for (const empty of ['close', "''", 'keep-alive']) {
    const r = tr(cfg(
      'http {',
      `  map $http_upgrade $connection_upgrade { default upgrade; '' ${empty}; }`,
      '  server { listen 80;',
      '    location / {',
      '      proxy_pass http://10.0.0.1:8080;',
      '      proxy_set_header Upgrade $http_upgrade;',
      '      proxy_set_header Connection $connection_upgrade;',
      '    }',
      '  }',
      '}',
    ));
    hasLine(t, r, 2, 'map', 'differs', /WebSocket idiom/);
    noLine(t, r, 6, 'proxy_set_header', `'' ${empty}: Upgrade is built in`);
    noLine(t, r, 7, 'proxy_set_header', `'' ${empty}: Connection $connection_upgrade is built in`);
  }
});

t.test('other maps are not translated, and the headers using them are reported', async (t) => {
  const r = tr(cfg(
    'http {',
    '  map $uri $backend_tag { default a; /b b; }',
    '  map $http_upgrade $odd { default close; \'\' upgrade; }',
    '  server { listen 80;',
    '    location / {',
    '      proxy_pass http://10.0.0.1:8080;',
    '      proxy_set_header X-Tag $backend_tag;',
    '      proxy_set_header Connection $odd;',
    '    }',
    '  }',
    '}',
  ));
  hasLine(t, r, 2, 'map', 'not translated', /no variables/);
  hasLine(t, r, 3, 'map', 'not translated', /\$odd/);
  hasLine(t, r, 7, 'proxy_set_header', 'not translated', /X-Tag/);
  hasLine(t, r, 8, 'proxy_set_header', 'not translated', /Connection/);
});

// ---------------------------------------------------------------- server / listen

t.test('listen: bare port, [::]:port, addr:port, *:port, several per server', async (t) => {
  const r = tr(cfg('http {', '  server {', '    listen 8080;', '    listen [::]:8080;', '    listen 127.0.0.1:8081;', '    listen *:8082;', '    location / { proxy_pass http://10.0.0.1:9000; }', '  }', '}'));
  t.strictSame(r.root.listen, [{ address: '0.0.0.0:8080' }, { address: '[::]:8080' }, { address: '127.0.0.1:8081' }, { address: '0.0.0.0:8082' }]);
  for (const line of [3, 4, 5, 6]) noLine(t, r, line, 'listen');
});

t.test('listen: unknown parameters, ipv6only=off, unix sockets, h2c; no listen at all', async (t) => {
  const r = tr(cfg(
    'http {',
    '  server {',
    '    listen 8080 backlog=511 proxy_protocol;', // 3
    '    listen [::]:8081 ipv6only=off;', // 4
    '    listen unix:/run/nginx.sock;', // 5
    '    listen 8082 http2;', // 6
    '    listen 8083 reuseport default_server;', // 7
    '    location / { proxy_pass http://10.0.0.1:9000; }',
    '  }',
    '  server {', // 10
    '    server_name other.example;',
    '    location /other/ { proxy_pass http://10.0.0.1:9000; }',
    '  }',
    '}',
  ));
  hasLine(t, r, 3, 'listen', 'not translated', /"backlog=511"/);
  hasLine(t, r, 3, 'listen', 'not translated', /"proxy_protocol"/);
  hasLine(t, r, 4, 'listen', 'differs', /ipv6only=off/);
  hasLine(t, r, 5, 'listen', 'not translated', /unix/);
  hasLine(t, r, 6, 'listen', 'not translated', /without TLS/);
  noLine(t, r, 7, 'listen', 'reuseport and default_server are understood');
  hasLine(t, r, 10, 'server', 'differs', /no listen/);
  t.strictSame(r.root.listen.map((l: Any) => l.address), ['0.0.0.0:8080', '[::]:8081', '0.0.0.0:8082', '0.0.0.0:8083', '0.0.0.0:80']);
  t.notOk(r.root.listen[2].http2, 'no http2 on a plain listener');
});

t.test('listen ssl, http2 flag and http2 on', async (t) => {
  const r = tr(cfg(
    'http {',
    '  ssl_certificate /etc/ssl/site.pem;',
    '  ssl_certificate_key /etc/ssl/site.key;',
    '  add_header Strict-Transport-Security "max-age=63072000" always;',
    '  server { listen 443 ssl http2; server_name a.example; location / { proxy_pass http://10.0.0.1:9000; } }', // 5
    '  server { listen 8443 ssl; http2 on; server_name b.example; location /b/ { proxy_pass http://10.0.0.1:9000; } }', // 6
    '  server { listen 9443 ssl; server_name c.example; location /c/ { proxy_pass http://10.0.0.1:9000; } }', // 7
    '}',
  ));
  const tls = { cert: '/etc/ssl/site.pem', key: '/etc/ssl/site.key', hsts: { max_age: 63072000 } };
  t.strictSame(r.root.listen, [
    { address: '0.0.0.0:443', tls: { ...tls, names: ['a.example'] }, http2: true },
    { address: '0.0.0.0:8443', tls: { ...tls, names: ['b.example'] }, http2: true },
    { address: '0.0.0.0:9443', tls: { ...tls, names: ['c.example'] } },
  ]);
});

t.test('plain and ssl on one address, ssl without a certificate: reported', async (t) => {
  const r = tr(cfg(
    'http {',
    '  server { listen 443 ssl; server_name a.example; ssl_certificate /a.pem; ssl_certificate_key /a.key; location / { proxy_pass http://10.0.0.1:9000; } }',
    '  server { listen 443; server_name b.example; location /b/ { proxy_pass http://10.0.0.1:9000; } }', // 3
    '  server { listen 8443 ssl; server_name c.example; location /c/ { proxy_pass http://10.0.0.1:9000; } }', // 4
    '}',
  ));
  hasLine(t, r, 3, 'listen', 'not translated', /plain in one server block and ssl in another/);
  hasLine(t, r, 4, 'listen', 'not translated', /without ssl_certificate/);
});

t.test('the default server of an address: routes without host, reported', async (t) => {
  const r = tr(cfg(
    'http {',
    '  server { listen 80; server_name first.example; location / { proxy_pass http://10.0.0.1:9000; } }', // 2
    '  server { listen 80; server_name second.example; location / { proxy_pass http://10.0.0.2:9000; } }', // 3
    '}',
  ));
  t.strictSame(r.root.routes, [
    { path: '/', upstream: '10_0_0_1_9000' },
    { host: 'second.example', path: '/', upstream: '10_0_0_2_9000' },
  ]);
  hasLine(t, r, 2, 'server_name', 'differs', /default of 0\.0\.0\.0:80/);
  noLine(t, r, 3, 'server_name');
});

t.test('listen default_server on a later server block makes it the only default', async (t) => {
  // nginx: with `default_server` on the second block, the first answers first.example only;
  // unknown Hosts go to the second (whose only location is /z/, so / is a 404 for them).
  const r = tr(cfg(
    'http {',
    '  server { listen 80; server_name first.example; location / { proxy_pass http://10.0.0.1:9000; } }', // 2
    '  server { listen 80 default_server; server_name late.example; location /z/ { proxy_pass http://10.0.0.2:9000; } }', // 3
    '}',
  ));
  const first = r.root.routes.find((x: Any) => x.upstream === '10_0_0_1_9000');
  const late = r.root.routes.find((x: Any) => x.upstream === '10_0_0_2_9000');
  t.same(late, { path: '/z/', upstream: '10_0_0_2_9000' }, 'the default_server block answers any Host');
  t.same(first, { host: 'first.example', path: '/', upstream: '10_0_0_1_9000' }, 'the first block is not the default when a later one says default_server: its route needs host: first.example (output sends every unknown Host to 10.0.0.1, nginx sends them to the default_server block)');
});

t.test('server_name: exact (lower-cased), *.wildcard, .domain, regex, domain.*', async (t) => {
  const r = tr(cfg(
    'http {',
    '  server { listen 80; server_name default.example; location / { proxy_pass http://10.0.0.1:9000; } }',
    '  server { listen 80; server_name A.Example *.b.example .c.example; location / { proxy_pass http://10.0.0.2:9000; } }', // 3
    '  server { listen 80; server_name d.example; location / { proxy_pass http://10.0.0.3:9000; } }', // 4
    '  server { listen 80; server_name ~^e\\d+\\.example$ f.example.* g.example; location / { proxy_pass http://10.0.0.4:9000; } }', // 5
    '}',
  ));
  t.strictSame(r.root.routes, [
    { path: '/', upstream: '10_0_0_1_9000' },
    { hosts: ['a.example', '*.b.example', 'c.example', '*.c.example'], path: '/', upstream: '10_0_0_2_9000' },
    { host: 'd.example', path: '/', upstream: '10_0_0_3_9000' },
    { host: 'g.example', path: '/', upstream: '10_0_0_4_9000' },
  ]);
  noLine(t, r, 3, 'server_name');
  hasLine(t, r, 5, 'server_name', 'not translated', /regular-expression name "~\^e\\d\+\\\.example\$"/);
  hasLine(t, r, 5, 'server_name', 'not translated', /"f\.example\.\*"/);
});

t.test('server_name _ or localhost on a server that is not the default', async (t) => {
  // nginx: `_` matches no Host, `localhost` only Host: localhost; requests for any other Host go
  // to the default server (first.example's location /). The output writes both servers' routes
  // without host, so /y/ and /x/ of every Host go to them.
  const r = tr(cfg(
    'http {',
    '  server { listen 80; server_name first.example; location / { proxy_pass http://10.0.0.1:9000; } }',
    '  server { listen 80; server_name _; location /y/ { proxy_pass http://10.0.0.2:9000; } }', // 3
    '  server { listen 80; server_name localhost; location /x/ { proxy_pass http://10.0.0.3:9000; } }', // 4
    '}',
  ));
  const y = r.root.routes.find((x: Any) => x.path === '/y/');
  const x = r.root.routes.find((x: Any) => x.path === '/x/');
  const yHasHost = y !== undefined && ('host' in y || 'hosts' in y);
  t.ok(y === undefined || yHasHost || r.lines.some((l) => l.line === 3 && l.directive === 'server_name'), 'server_name _ on a non-default server: its routes must not answer every Host without a report (nginx never picks it by name)', { route: y, found: at(r, 3) });
  t.ok(x !== undefined && (x.host === 'localhost' || (x.hosts ?? []).includes('localhost')), 'server_name localhost on a non-default server: nginx serves it for Host: localhost only; the route needs host: localhost', { route: x, found: at(r, 4) });
});

// ---------------------------------------------------------------- return

t.test('return 301/302/307/308 https://$host$request_uri → redirect_https', async (t) => {
  const r = tr(cfg(
    'http {',
    '  server { listen 80; server_name a.example; return 301 https://$host$request_uri; }', // 2
    '  server { listen 81; server_name b.example; return 302 https://$host:8443$request_uri; }', // 3
    '  server { listen 82; server_name c.example; return 308 https://$host$request_uri; }', // 4
    '  server { listen 83; server_name d.example; return 301 https://$server_name$request_uri; }', // 5
    '  server { listen 84; server_name e.example; return 307 https://$http_host$request_uri; }', // 6
    '}',
  ));
  t.strictSame(r.root.listen, [
    { address: '0.0.0.0:80', redirect_https: true },
    { address: '0.0.0.0:81', redirect_https: { port: 8443, status: 302 } },
    { address: '0.0.0.0:82', redirect_https: { port: 443, status: 308 } },
    { address: '0.0.0.0:83', redirect_https: true },
    { address: '0.0.0.0:84', redirect_https: { port: 443, status: 307 } },
  ]);
  noLine(t, r, 2, 'return');
  noLine(t, r, 3, 'return');
  hasLine(t, r, 5, 'return', 'differs', /not the server_name/);
  t.notOk('routes' in r.root, 'a redirect needs no route');
});

t.test('return https://$http_host$request_uri keeps the client\'s port in nginx: reported', async (t) => {
  // $http_host is the Host header as sent, port included: on :8080 browsers send
  // "e.example:8080" and nginx redirects to https://e.example:8080/...; Portcullis's redirect_https
  // drops the port of Host and writes redirect_https.port (443 here).
  const r = tr(cfg('http {', '  server { listen 8080; server_name e.example; return 301 https://$http_host$request_uri; }', '}'));
  t.equal(r.root.listen[0].redirect_https, true);
  t.ok(r.lines.some((l) => l.line === 2 && l.directive === 'return'), 'the dropped client port of $http_host should be reported as a difference', { found: at(r, 2) });
});

t.test('return: the redirect shares its listener with another server block', async (t) => {
  const r = tr(cfg(
    'http {',
    '  server { listen 80; server_name a.example; location / { proxy_pass http://10.0.0.1:9000; } }',
    '  server { listen 80; server_name b.example; return 301 https://$host$request_uri; }', // 3
    '}',
  ));
  t.equal(r.root.listen[0].redirect_https, true);
  hasLine(t, r, 3, 'return', 'differs', /whatever its Host/);
});

t.test('return of another kind, or in a server with locations, or on TLS: reported', async (t) => {
  const r = tr(cfg(
    'http {',
    '  server { listen 80; return 404; }', // 2
    '  server { listen 81; return 301 https://example.com$request_uri; }', // 3
    '  server { listen 82; return 301 https://$host$request_uri; location /x/ { proxy_pass http://10.0.0.1:9000; } }', // 4
    '  server { listen 443 ssl; ssl_certificate /a.pem; ssl_certificate_key /a.key; return 301 https://$host$request_uri; }', // 5
    '}',
  ));
  hasLine(t, r, 2, 'return', 'not translated', /only "return 301/);
  hasLine(t, r, 3, 'return', 'not translated', /only "return 301/);
  hasLine(t, r, 4, 'return', 'not translated', /without locations/);
  hasLine(t, r, 5, 'return', 'not translated', /TLS listener/);
  for (const l of r.root.listen) t.notOk('redirect_https' in l, `${l.address}: no redirect`);
});

t.test('return https redirect without a port: nginx sends clients to 443', async (t) => {
  // nginx's `return 301 https://$host$request_uri` always produces https://host/..., port 443,
  // even when the TLS server block for the same names listens on 8443 (e.g. behind a port mapping
  // 443 → 8443).
  const r = tr(cfg(
    'http {',
    '  server { listen 8443 ssl; server_name t.example; ssl_certificate /c.pem; ssl_certificate_key /c.key; location / { proxy_pass http://10.0.0.1:9000; } }',
    '  server { listen 80; server_name t.example; return 301 https://$host$request_uri; }', // 3
    '}',
  ));
  t.equal(r.root.listen[1].redirect_https, true, 'port 443, not the TLS server block\'s 8443');
  noLine(t, r, 3, 'return');
});

// ---------------------------------------------------------------- TLS

t.test('ssl_certificate / key: http level inherited, server level overrides', async (t) => {
  const r = tr(cfg(
    'http {',
    '  ssl_certificate /etc/ssl/http.pem;', // 2
    '  ssl_certificate_key /etc/ssl/http.key;', // 3
    '  server { listen 443 ssl; server_name a.example; add_header Strict-Transport-Security "max-age=1" always; location / { proxy_pass http://10.0.0.1:9000; } }',
    '  server { listen 8443 ssl; server_name b.example; ssl_certificate /etc/ssl/b.pem; ssl_certificate_key /etc/ssl/b.key; add_header Strict-Transport-Security "max-age=1" always; location /b/ { proxy_pass http://10.0.0.1:9000; } }',
    '}',
  ));
  t.match(r.root.listen[0].tls, { cert: '/etc/ssl/http.pem', key: '/etc/ssl/http.key', names: ['a.example'] });
  t.match(r.root.listen[1].tls, { cert: '/etc/ssl/b.pem', key: '/etc/ssl/b.key', names: ['b.example'] });
  noLine(t, r, 2);
  noLine(t, r, 3);
});

t.test('several TLS server blocks on one address: certificates with names', async (t) => {
  const r = tr(cfg(
    'http {',
    '  add_header Strict-Transport-Security "max-age=1" always;',
    '  server { listen 443 ssl; server_name a.example; ssl_certificate /a.pem; ssl_certificate_key /a.key; location / { proxy_pass http://10.0.0.1:9000; } }',
    '  server { listen 443 ssl; server_name b.example; ssl_certificate /b.pem; ssl_certificate_key /b.key; location / { proxy_pass http://10.0.0.2:9000; } }',
    '}',
  ));
  t.strictSame(r.root.listen[0].tls, {
    hsts: { max_age: 1 },
    certificates: [
      { cert: '/a.pem', key: '/a.key', names: ['a.example'] },
      { cert: '/b.pem', key: '/b.key', names: ['b.example'] },
    ],
  });
});

t.test('HSTS of one server block on a shared TLS address, none in another: reported', async (t) => {
  // nginx sends Strict-Transport-Security only for a.example; the listener's hsts sends it for
  // b.example too (browsers then refuse plain http to b.example for a year).
  const r = tr(cfg(
    'http {',
    '  server { listen 443 ssl; server_name a.example; ssl_certificate /a.pem; ssl_certificate_key /a.key; add_header Strict-Transport-Security "max-age=31536000" always; location / { proxy_pass http://10.0.0.1:9000; } }',
    '  server { listen 443 ssl; server_name b.example; ssl_certificate /b.pem; ssl_certificate_key /b.key; location / { proxy_pass http://10.0.0.2:9000; } }', // 3
    '}',
  ));
  t.match(r.root.listen[0].tls.hsts, { max_age: 31536000 });
  t.ok(r.lines.some((l) => l.line === 3 && /Strict-Transport-Security|HSTS|hsts/.test(l.why)), 'b.example gets the listener\'s HSTS, which nginx never sent for it: should be reported', { found: at(r, 3) });
});

t.test('ssl_protocols: TLSv1.3 alone, TLSv1.2 TLSv1.3, old ones; inherited from http', async (t) => {
  const server = (line: string, port: number) => `  server { listen ${port} ssl; server_name s${port}.example; ${line} add_header Strict-Transport-Security "max-age=1" always; location /${port}/ { proxy_pass http://10.0.0.1:9000; } }`;
  const r = tr(cfg(
    'http {',
    '  ssl_certificate /c.pem; ssl_certificate_key /c.key;',
    '  ssl_protocols TLSv1.3;', // 3
    server('', 441), // 4: inherits TLSv1.3
    server('ssl_protocols TLSv1.2 TLSv1.3;', 442), // 5
    server('ssl_protocols TLSv1 TLSv1.1 TLSv1.2;', 443), // 6
    '}',
  ));
  t.equal(r.root.listen[0].tls.min_version, 'TLSv1.3');
  t.notOk('min_version' in r.root.listen[1].tls);
  t.notOk('min_version' in r.root.listen[2].tls);
  noLine(t, r, 5, 'ssl_protocols');
  hasLine(t, r, 6, 'ssl_protocols', 'differs', /TLSv1, TLSv1\.1: not offered/);
  hasLine(t, r, 6, 'ssl_protocols', 'differs', /TLS 1\.3 too/);
});

t.test('ssl_ciphers: carried for TLS 1.2, reported with TLSv1.3 only', async (t) => {
  const r = tr(cfg(
    'http {',
    '  ssl_certificate /c.pem; ssl_certificate_key /c.key;',
    '  add_header Strict-Transport-Security "max-age=1" always;',
    '  server { listen 443 ssl; ssl_ciphers ECDHE-RSA-AES128-GCM-SHA256:HIGH; location / { proxy_pass http://10.0.0.1:9000; } }', // 4
    '  server { listen 8443 ssl; ssl_protocols TLSv1.3; ssl_ciphers HIGH; location /x/ { proxy_pass http://10.0.0.1:9000; } }', // 5
    '}',
  ));
  t.equal(r.root.listen[0].tls.ciphers, 'ECDHE-RSA-AES128-GCM-SHA256:HIGH');
  t.notOk('ciphers' in r.root.listen[1].tls);
  hasLine(t, r, 5, 'ssl_ciphers', 'not translated', /TLS 1\.2/);
});

t.test('add_header Strict-Transport-Security: max-age, includeSubDomains, preload, always', async (t) => {
  const r = tr(cfg(
    'http {',
    '  ssl_certificate /c.pem; ssl_certificate_key /c.key;',
    '  server { listen 443 ssl; add_header Strict-Transport-Security "max-age=63072000; includeSubDomains; preload" always; location / { proxy_pass http://10.0.0.1:9000; } }', // 3
    '  server { listen 8443 ssl; add_header Strict-Transport-Security "max-age=300"; location /x/ { proxy_pass http://10.0.0.1:9000; } }', // 4
    '  server { listen 9443 ssl; location /y/ { proxy_pass http://10.0.0.1:9000; } }', // 5
    '}',
  ));
  t.strictSame(r.root.listen[0].tls.hsts, { max_age: 63072000, include_subdomains: true, preload: true });
  noLine(t, r, 3, 'add_header');
  t.strictSame(r.root.listen[1].tls.hsts, { max_age: 300 });
  hasLine(t, r, 4, 'add_header', 'differs', /without "always"/);
  t.equal(r.root.listen[2].tls.hsts, false, 'no add_header: hsts false, as nginx sent none');
  hasLine(t, r, 5, 'listen', 'less safe', /no Strict-Transport-Security/);
});

t.test('add_header: a server level list replaces the http one (nginx inheritance); others and location HSTS reported', async (t) => {
  const r = tr(cfg(
    'http {',
    '  ssl_certificate /c.pem; ssl_certificate_key /c.key;',
    '  add_header Strict-Transport-Security "max-age=100" always;',
    '  server { listen 443 ssl; add_header X-Frame-Options DENY; location / { proxy_pass http://10.0.0.1:9000; } }', // 4
    '  server { listen 8443 ssl; location /x/ { proxy_pass http://10.0.0.1:9000; add_header Strict-Transport-Security "max-age=5" always; } }', // 5
    '}',
  ));
  t.equal(r.root.listen[0].tls.hsts, false, 'server-level add_header drops the inherited HSTS, as in nginx');
  hasLine(t, r, 4, 'add_header', 'not translated', /X-Frame-Options/);
  t.strictSame(r.root.listen[1].tls.hsts, { max_age: 100 });
  hasLine(t, r, 5, 'add_header', 'not translated', /HSTS set in a location/);
});

// ---------------------------------------------------------------- location

t.test('location: prefix with and without /, ^~, =, ~, ~*, @named, nested, without proxy_pass', async (t) => {
  const r = tr(cfg(
    'http {',
    '  upstream app { server 10.0.0.1:8080; keepalive 1; }',
    '  server { listen 80;',
    '    location /p/ { proxy_pass http://app; }', // 4
    '    location /nos { proxy_pass http://app; }', // 5
    '    location ^~ /caret/ { proxy_pass http://app; }', // 6
    '    location = /exact { proxy_pass http://app; }', // 7
    '    location ~ \\.php$ { proxy_pass http://app; }', // 8
    '    location ~* \\.jpg$ { proxy_pass http://app; }', // 9
    '    location @named { proxy_pass http://app; }', // 10
    '    location /outer/ {', // 11
    '      proxy_pass http://app;',
    '      location /outer/inner/ { proxy_pass http://app; }', // 13
    '    }',
    '    location /static/ { root /var/www; }', // 15
    '    location / { proxy_pass http://app; }', // 16
    '  }',
    '}',
  ));
  t.strictSame(r.root.routes.map((x: Any) => x.path), ['/p/', '/nos', '/caret/', '/outer/', '/']);
  hasLine(t, r, 4, 'location', 'differs', /answers "\/p" with a 301/);
  hasLine(t, r, 5, 'location', 'differs', /also matches "\/nosx/);
  hasLine(t, r, 6, 'location', 'differs', /\^~/);
  hasLine(t, r, 7, 'location', 'not translated', /exact-match/);
  hasLine(t, r, 8, 'location', 'not translated', /regular-expression location/);
  hasLine(t, r, 9, 'location', 'not translated', /regular-expression location/);
  hasLine(t, r, 10, 'location', 'not translated', /named location/);
  hasLine(t, r, 13, 'location', 'not translated', /nested location/);
  hasLine(t, r, 15, 'location', 'not translated', /without proxy_pass/);
  hasLine(t, r, 15, 'root', 'not translated', /no static files/);
  noLine(t, r, 16, 'location', 'location / needs no remark');
});

t.test('a nested location is reported once', async (t) => {
  const r = tr(cfg('http {', '  server { listen 80;', '    location /outer/ {', '      proxy_pass http://10.0.0.1:9000;', '      location /outer/inner/ { proxy_pass http://10.0.0.1:9000; }', '    }', '  }', '}'));
  const lines = r.lines.filter((l) => l.line === 5);
  t.equal(lines.length, 1, 'one report line for the nested location (it also gets "not in a context Portcullis carries over here")', { found: at(r, 5) });
});

// ---------------------------------------------------------------- proxy_pass

t.test('proxy_pass: upstream name, host:port, https, URI "/", the same URI, another URI, variables', async (t) => {
  const r = tr(cfg(
    'http {',
    '  upstream app { server 10.0.0.1:8080; keepalive 1; }',
    '  server { listen 80;',
    '    location / { proxy_pass http://app; }', // 4
    '    location /hp/ { proxy_pass http://backend.internal:8080; }', // 5
    '    location /s/ { proxy_pass https://secure.internal; }', // 6
    '    location /api/ { proxy_pass http://app/; }', // 7
    '    location /v2/ { proxy_pass http://app/v2/; }', // 8
    '    location /v3/ { proxy_pass http://app/other/; }', // 9
    '    location /var/ { proxy_pass http://$host:8080; }', // 10
    '  }',
    '}',
  ));
  t.strictSame(r.root.routes, [
    { path: '/', upstream: 'app' },
    { path: '/hp/', upstream: 'backend_internal_8080' },
    { path: '/s/', upstream: 'secure_internal' },
    { path: '/api/', strip_prefix: true, upstream: 'app' },
    { path: '/v2/', upstream: 'app' },
  ]);
  t.strictSame(r.root.upstreams.backend_internal_8080.servers, ['backend.internal:8080']);
  t.equal(r.root.upstreams.backend_internal_8080.host_header, 'backend.internal:8080', '$proxy_host keeps a port that is not the default');
  t.strictSame(r.root.upstreams.secure_internal.servers, ['https://secure.internal:443']);
  t.equal(r.root.upstreams.secure_internal.host_header, 'secure.internal');
  t.strictSame(r.root.upstreams.secure_internal.tls, { verify: false });
  hasLine(t, r, 6, 'proxy_pass', 'less safe', /not checked/);
  hasLine(t, r, 6, 'proxy_pass', 'differs', /SNI/);
  t.notOk(r.lines.some((l) => l.line === 8 && l.kind === 'not translated'), 'the URI equal to the location: nothing to strip, nothing left out');
  hasLine(t, r, 9, 'proxy_pass', 'not translated', /replaces the location's "\/v3\/" with "\/other\/"/);
  hasLine(t, r, 10, 'proxy_pass', 'not translated', /variables/);
});

t.test('proxy_pass with the scheme\'s own port: $proxy_host has no port', async (t) => {
  // nginx (ngx_http_proxy_set_vars): when the port equals the scheme's default, $proxy_host is the
  // host alone, so nginx sends `Host: backend.internal`, not `backend.internal:80`.
  const r = tr(cfg('http {', '  server { listen 80; location / { proxy_pass http://backend.internal:80; } }', '}'));
  const name = Object.keys(r.root.upstreams)[0]!;
  t.equal(r.root.upstreams[name].host_header, 'backend.internal', 'Host: $proxy_host for http://backend.internal:80 is "backend.internal"');
});

t.test('proxy_pass https:// to an upstream block: servers without a port are on port 80 in nginx', async (t) => {
  // ngx_http_upstream_server sets default_port 80 whatever the proxy_pass scheme: nginx speaks TLS
  // to 10.0.0.1:80 here. The output connects to :443.
  const r = tr(cfg('http {', '  upstream app { server 10.0.0.1; keepalive 1; }', '  server { listen 80; location / { proxy_pass https://app; proxy_ssl_verify on; proxy_ssl_server_name on; } }', '}'));
  t.strictSame(r.root.upstreams.app.servers, ['https://10.0.0.1:80'], 'nginx connects to 10.0.0.1:80 (upstream server default port), over TLS');
});

t.test('one upstream used with http:// and https://: reported', async (t) => {
  const r = tr(cfg('http {', '  upstream app { server 10.0.0.1:8443; keepalive 1; }', '  server { listen 80;', '    location / { proxy_pass http://app; }', '    location /s/ { proxy_pass https://app; }', '  }', '}'));
  hasLine(t, r, 5, 'proxy_pass', 'not translated', /one protocol per upstream/);
});

// ---------------------------------------------------------------- proxy_set_header

t.test('proxy_set_header Host: $http_host, $host, $proxy_host, fixed, absent, with variables', async (t) => {
  const r = tr(cfg(
    'http {',
    '  upstream u1 { server 10.0.0.1:1; keepalive 1; }',
    '  upstream u2 { server 10.0.0.2:1; keepalive 1; }',
    '  upstream u3 { server 10.0.0.3:1; keepalive 1; }',
    '  upstream u4 { server 10.0.0.4:1; keepalive 1; }',
    '  upstream u5 { server 10.0.0.5:1; keepalive 1; }',
    '  upstream u6 { server 10.0.0.6:1; keepalive 1; }',
    '  server { listen 80;',
    '    location /1/ { proxy_set_header Host $http_host; proxy_pass http://u1; }', // 9
    '    location /2/ { proxy_set_header Host $host; proxy_pass http://u2; }', // 10
    '    location /3/ { proxy_set_header Host $proxy_host; proxy_pass http://u3; }', // 11
    '    location /4/ { proxy_set_header Host api.example.com; proxy_pass http://u4; }', // 12
    '    location /5/ { proxy_pass http://u5; }', // 13
    '    location /6/ { proxy_set_header Host $host:$server_port; proxy_pass http://u6; }', // 14
    '  }',
    '}',
  ));
  const up = r.root.upstreams;
  t.notOk('host_header' in up.u1, '$http_host: the client\'s Host, Portcullis\'s default');
  noLine(t, r, 9, 'proxy_set_header');
  t.notOk('host_header' in up.u2, '$host: the client\'s Host');
  hasLine(t, r, 10, 'proxy_set_header', 'differs', /drops the port/);
  t.equal(up.u3.host_header, 'u3');
  t.equal(up.u4.host_header, 'api.example.com');
  t.equal(up.u5.host_header, 'u5', 'absent: nginx sends $proxy_host');
  hasLine(t, r, 14, 'proxy_set_header', 'not translated', /\$host:\$server_port/);
});

t.test('proxy_set_header X-Forwarded-*, X-Real-IP, Forwarded, Upgrade/Connection', async (t) => {
  const r = tr(cfg(
    'http {',
    '  server { listen 80;',
    '    location /a/ {',
    '      proxy_pass http://10.0.0.1:9000;',
    '      proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;', // 5
    '      proxy_set_header X-Forwarded-Proto $scheme;', // 6
    '      proxy_set_header X-Real-IP $remote_addr;', // 7
    '      proxy_set_header Upgrade $http_upgrade;', // 8
    '      proxy_set_header Connection "upgrade";', // 9
    '      proxy_set_header X-Forwarded-Host $host;', // 10
    '    }',
    '    location /b/ {',
    '      proxy_pass http://10.0.0.1:9000;', // 13
    '      proxy_set_header X-Forwarded-For $remote_addr;', // 14
    '      proxy_set_header X-Forwarded-Proto https;', // 15
    '      proxy_set_header Connection "";', // 16
    '      proxy_set_header X-Forwarded-Host example.com;', // 17
    '    }',
    '    location /c/ {',
    '      proxy_pass http://10.0.0.1:9000;', // 20
    '      proxy_set_header X-Forwarded-For $http_x_forwarded_for;', // 21
    '    }',
    '  }',
    '}',
  ));
  hasLine(t, r, 5, 'proxy_set_header', 'differs', /trusted_proxies/);
  noLine(t, r, 6);
  hasLine(t, r, 7, 'proxy_set_header', 'not translated', /X-Real-IP/);
  noLine(t, r, 8);
  noLine(t, r, 9);
  noLine(t, r, 10);
  noLine(t, r, 14, undefined, 'X-Forwarded-For $remote_addr: what Portcullis sends for an untrusted peer');
  hasLine(t, r, 15, 'proxy_set_header', 'not translated', /X-Forwarded-Proto from https/);
  noLine(t, r, 16);
  hasLine(t, r, 17, 'proxy_set_header', 'not translated', /X-Forwarded-Host from example\.com/);
  hasLine(t, r, 21, 'proxy_set_header', 'not translated', /X-Forwarded-For from \$http_x_forwarded_for/);
  hasLine(t, r, 20, 'proxy_pass', 'differs', /sends X-Forwarded-For, X-Forwarded-Proto/);
  noLine(t, r, 4, 'proxy_pass');
  t.notOk('forwarded' in r.root);
});

t.test('proxy_set_header Forwarded: forwarded: true', async (t) => {
  const r = tr(cfg('http {', '  server { listen 80;', '    location /a/ { proxy_pass http://10.0.0.1:9000; proxy_set_header Forwarded "for=$remote_addr"; }', '    location /b/ { proxy_pass http://10.0.0.2:9000; }', '  }', '}'));
  t.equal(r.root.forwarded, true);
});

t.test('proxy_set_header Forwarded in one location turns it on for every route: reported', async (t) => {
  // nginx sends Forwarded (with only for=) to 10.0.0.1 from /a/; `forwarded: true` is global, so
  // 10.0.0.2 behind /b/ gets one too, and its content is Portcullis's, not the nginx value.
  const r = tr(cfg('http {', '  server { listen 80;', '    location /a/ { proxy_pass http://10.0.0.1:9000; proxy_set_header Forwarded "for=$remote_addr"; }', '    location /b/ { proxy_pass http://10.0.0.2:9000; }', '  }', '}'));
  t.ok(r.lines.some((l) => l.line === 3 && l.directive === 'proxy_set_header'), 'a location-level Forwarded header written as the global forwarded: true (and with a value other than nginx\'s) should be reported', { found: at(r, 3) });
});

t.test('proxy_set_header inheritance: a level with any proxy_set_header replaces the whole list', async (t) => {
  const r = tr(cfg(
    'http {',
    '  proxy_set_header Host $http_host;', // 2
    '  proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;', // 3
    '  proxy_set_header X-Forwarded-Proto $scheme;', // 4
    '  upstream u1 { server 10.0.0.1:1; keepalive 1; }',
    '  upstream u2 { server 10.0.0.2:1; keepalive 1; }',
    '  upstream u3 { server 10.0.0.3:1; keepalive 1; }',
    '  upstream u4 { server 10.0.0.4:1; keepalive 1; }',
    '  server { listen 80;',
    '    location /inherit/ { proxy_pass http://u1; }', // 10
    '    location /override/ { proxy_set_header X-Real-IP $remote_addr; proxy_pass http://u2; }', // 11
    '  }',
    '  server { listen 81;',
    '    proxy_set_header X-Custom 1;', // 14
    '    location /s/ { proxy_pass http://u3; }', // 15
    '    location /s2/ { proxy_set_header Host $host; proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for; proxy_set_header X-Forwarded-Proto $scheme; proxy_pass http://u4; }', // 16
    '  }',
    '}',
  ));
  const up = r.root.upstreams;
  t.notOk('host_header' in up.u1, 'inherits Host $http_host from http');
  noLine(t, r, 10, 'proxy_pass', 'inherits X-Forwarded-For and -Proto: no remark');
  t.equal(up.u2.host_header, 'u2', 'one proxy_set_header in the location drops the inherited Host $http_host: nginx sends $proxy_host');
  hasLine(t, r, 11, 'proxy_pass', 'differs', /sends X-Forwarded-For/);
  t.equal(up.u3.host_header, 'u3', 'the server level list replaces the http one');
  hasLine(t, r, 14, 'proxy_set_header', 'not translated', /X-Custom/);
  t.notOk('host_header' in up.u4);
  t.notOk(r.lines.some((l) => l.line === 16 && /X-Custom/.test(l.why)), 'the location list replaces the server one');
});

// ---------------------------------------------------------------- proxy_http_version, timeouts

t.test('proxy_http_version: 1.0 reported, 1.1 not', async (t) => {
  const r = tr(cfg('http {', '  server { listen 80;', '    location /a/ { proxy_pass http://10.0.0.1:9000; proxy_http_version 1.0; }', '    location /b/ { proxy_pass http://10.0.0.2:9000; proxy_http_version 1.1; }', '  }', '}'));
  hasLine(t, r, 3, 'proxy_http_version', 'differs', /HTTP\/1\.1/);
  noLine(t, r, 4, 'proxy_http_version');
});

t.test('proxy_*_timeout: nginx\'s 60s defaults, http → server → location, overridden in a location', async (t) => {
  const r = tr(cfg(
    'http {',
    '  proxy_connect_timeout 5s;', // 2
    '  proxy_read_timeout 120;', // 3
    '  upstream u1 { server 10.0.0.1:1; keepalive 1; }',
    '  upstream u2 { server 10.0.0.2:1; keepalive 1; }',
    '  upstream u3 { server 10.0.0.3:1; keepalive 1; }',
    '  server { listen 80;',
    '    proxy_send_timeout 30s;', // 8
    '    location /a/ { proxy_pass http://u1; }',
    '    location /b/ { proxy_read_timeout 1m30s; proxy_connect_timeout 500ms; proxy_pass http://u2; }',
    '  }',
    '  server { listen 81;',
    '    location /c/ { proxy_pass http://u3; }',
    '  }',
    '}',
  ));
  const up = r.root.upstreams;
  t.match(up.u1, { connect_timeout: '5s', read_timeout: '120s', send_timeout: '30s' });
  t.match(up.u2, { connect_timeout: '500ms', read_timeout: '90s', send_timeout: '30s' });
  t.match(up.u3, { connect_timeout: '5s', read_timeout: '120s', send_timeout: '60s' }, 'server 81 does not see server 80\'s proxy_send_timeout');
  const bare = tr(cfg('http {', '  server { listen 80; location / { proxy_pass http://10.0.0.1:9000; } }', '}'));
  t.match(bare.root.upstreams['10_0_0_1_9000'], { connect_timeout: '60s', read_timeout: '60s', send_timeout: '60s' }, 'nginx\'s defaults written out');
  const bad = tr(cfg('http {', '  server { listen 80; location / { proxy_pass http://10.0.0.1:9000; proxy_read_timeout soon; } }', '}'));
  hasLine(t, bad, 2, 'proxy_read_timeout', 'not translated', /not a time/);
  t.notOk('read_timeout' in bad.root.upstreams['10_0_0_1_9000']);
});

// ---------------------------------------------------------------- proxy_next_upstream

t.test('proxy_next_upstream: default, off, http_502.., others and non_idempotent; _tries, _timeout', async (t) => {
  const r = tr(cfg(
    'http {',
    '  upstream a { server 10.0.0.1:1; keepalive 1; }',
    '  upstream b { server 10.0.0.2:1; keepalive 1; }',
    '  upstream c { server 10.0.0.3:1; keepalive 1; }',
    '  upstream d { server 10.0.0.4:1; keepalive 1; }',
    '  server { listen 80;',
    '    location /a/ { proxy_pass http://a; }',
    '    location /b/ { proxy_next_upstream off; proxy_pass http://b; }', // 8
    '    location /c/ {',
    '      proxy_next_upstream error timeout http_502 http_503 http_504 http_500 invalid_header non_idempotent;', // 10
    '      proxy_next_upstream_tries 3;', // 11
    '      proxy_next_upstream_timeout 10s;', // 12
    '      proxy_pass http://c;',
    '    }',
    '    location /d/ { proxy_next_upstream_timeout 0; proxy_pass http://d; }', // 15
    '  }',
    '}',
  ));
  const up = r.root.upstreams;
  t.strictSame(up.a.retry, { on: ['error', 'timeout'] }, 'nginx\'s default error timeout');
  t.strictSame(up.b.retry, { on: [] });
  noLine(t, r, 8, 'proxy_next_upstream');
  t.strictSame(up.c.retry, { on: ['error', 'timeout', 'http_502', 'http_503', 'http_504'], tries: 3, timeout: '10s' });
  hasLine(t, r, 10, 'proxy_next_upstream', 'not translated', /retrying on http_500/);
  hasLine(t, r, 10, 'proxy_next_upstream', 'not translated', /retrying on invalid_header/);
  hasLine(t, r, 10, 'proxy_next_upstream', 'not translated', /non_idempotent/);
  noLine(t, r, 11);
  noLine(t, r, 12);
  t.strictSame(up.d.retry, { on: ['error', 'timeout'] }, 'proxy_next_upstream_timeout 0: no limit');
});

// ---------------------------------------------------------------- proxy_ssl_*

t.test('proxy_ssl_*: on an https upstream', async (t) => {
  const r = tr(cfg(
    'http {',
    '  server { listen 80;',
    '    location /s/ {',
    '      proxy_pass https://10.0.0.9:8443;', // 4
    '      proxy_ssl_verify on;',
    '      proxy_ssl_server_name on;',
    '      proxy_ssl_name internal.example;',
    '      proxy_ssl_trusted_certificate /etc/ssl/ca.pem;',
    '      proxy_ssl_certificate /etc/ssl/client.pem;',
    '      proxy_ssl_certificate_key /etc/ssl/client.key;',
    '    }',
    '  }',
    '}',
  ));
  const up = r.root.upstreams['10_0_0_9_8443'];
  t.strictSame(up.servers, ['https://10.0.0.9:8443']);
  t.strictSame(up.tls, { verify: true, server_name: 'internal.example', ca: '/etc/ssl/ca.pem', cert: '/etc/ssl/client.pem', key: '/etc/ssl/client.key' });
  for (let line = 5; line <= 10; line++) noLine(t, r, line);
  t.notOk(r.lines.some((l) => l.kind === 'less safe'), 'verified: nothing less safe');
  t.notOk(r.lines.some((l) => /SNI/.test(l.why)), 'proxy_ssl_server_name on: no SNI remark');
});

t.test('proxy_ssl_*: inherited from http by an https upstream; on plain upstreams reported', async (t) => {
  const r = tr(cfg(
    'http {',
    '  proxy_ssl_verify on;', // 2
    '  proxy_ssl_server_name on;', // 3
    '  server { listen 80;',
    '    location /s/ { proxy_pass https://secure.internal; }', // 5
    '    location /p/ {',
    '      proxy_pass http://10.0.0.1:9000;',
    '      proxy_ssl_name x;', // 8
    '      proxy_ssl_trusted_certificate /ca.pem;', // 9
    '    }',
    '  }',
    '}',
  ));
  t.strictSame(r.root.upstreams.secure_internal.tls, { verify: true });
  hasLine(t, r, 8, 'proxy_ssl_name', 'not translated', /plain http/);
  hasLine(t, r, 9, 'proxy_ssl_trusted_certificate', 'not translated', /plain http/);
  // Inherited from http by a plain-http location: nginx ignores it there, nothing to report.
  noLine(t, r, 2, 'proxy_ssl_verify');
});

t.test('send_timeout carried over; proxy_ssl_protocols, proxy_buffering reported, not dropped', async (t) => {
  const r = tr(cfg(
    'http {',
    '  send_timeout 5s;', // 2
    '  proxy_buffering off;', // 3
    '  server { listen 80;',
    '    location / {',
    '      proxy_pass https://secure.internal;',
    '      proxy_ssl_verify on; proxy_ssl_server_name on;',
    '      proxy_ssl_protocols TLSv1.3;', // 8
    '    }',
    '  }',
    '}',
  ));
  t.equal(r.root.send_timeout, '5s');
  noLine(t, r, 2);
  hasLine(t, r, 3, 'proxy_buffering', 'not translated', new RegExp(ignoredDirectives['proxy_buffering']!));
  hasLine(t, r, 8, 'proxy_ssl_protocols', 'not translated', /./);
});

t.test('send_timeout: one value for Portcullis, a different one in a location reported', async (t) => {
  const r = tr(cfg(
    'http {',
    '  send_timeout 5s;', // 2
    '  server { listen 80;',
    '    location /a/ { proxy_pass http://10.0.0.1:1; }',
    '    location /b/ { send_timeout 10s; proxy_pass http://10.0.0.2:1; }', // 5
    '    location /c/ { send_timeout 5s; proxy_pass http://10.0.0.3:1; }', // 6
    '  }',
    '}',
  ));
  t.equal(r.root.send_timeout, '5s');
  hasLine(t, r, 5, 'send_timeout', 'not translated', /5s from nginx\.conf:2/);
  noLine(t, r, 6, 'send_timeout');
});

t.test('an inherited directive used by several locations is reported once', async (t) => {
  // One report line per directive: the http-level X-Custom header and proxy_ssl_name are written
  // once but inherited by two locations.
  const r = tr(cfg(
    'http {',
    '  proxy_set_header X-Custom 1;', // 2
    '  proxy_ssl_name x.example;', // 3
    '  server { listen 80;',
    '    location /a/ { proxy_pass http://10.0.0.1:1; }',
    '    location /b/ { proxy_pass http://10.0.0.2:1; }',
    '  }',
    '}',
  ));
  t.equal(r.lines.filter((l) => l.line === 2).length, 1, 'proxy_set_header X-Custom: one line', { found: at(r, 2) });
  // proxy_ssl_name inherited by plain-http locations only: nginx ignores it there, so no line at all.
  t.equal(r.lines.filter((l) => l.line === 3).length, 0, 'proxy_ssl_name: no line', { found: at(r, 3) });
});

// ---------------------------------------------------------------- real IP, access_log, ignored

t.test('set_real_ip_from and real_ip_header', async (t) => {
  let r = tr(cfg('http {', '  set_real_ip_from 10.0.0.0/8;', '  set_real_ip_from 2001:db8::/32;', '  real_ip_header X-Forwarded-For;', '  real_ip_recursive on;', '}'));
  t.strictSame(r.root.trusted_proxies, ['10.0.0.0/8', '2001:db8::/32']);
  noLine(t, r, 2);
  noLine(t, r, 4);
  // real_ip_recursive on is what Portcullis does: nothing to report.
  noLine(t, r, 5);
  r = tr(cfg('http {', '  set_real_ip_from 10.0.0.0/8;', '  real_ip_header X-Real-IP;', '}'));
  hasLine(t, r, 3, 'real_ip_header', 'not translated', /X-Real-IP/);
});

t.test('set_real_ip_from without real_ip_header: nginx reads X-Real-IP', async (t) => {
  // real_ip_header's default is X-Real-IP: nginx takes the client address from X-Real-IP sent by
  // 10.0.0.0/8, not from X-Forwarded-For as trusted_proxies does.
  const r = tr(cfg('http {', '  set_real_ip_from 10.0.0.0/8;', '}'));
  t.strictSame(r.root.trusted_proxies, ['10.0.0.0/8']);
  t.ok(r.lines.some((l) => l.line === 2), 'set_real_ip_from with nginx\'s default real_ip_header (X-Real-IP) becomes trusted_proxies (X-Forwarded-For): should be reported', { found: at(r, 2) });
});

t.test('access_log off / a path', async (t) => {
  let r = tr(cfg('http {', '  access_log off;', '}'));
  t.strictSame(r.root.log, { access: false });
  noLine(t, r, 2);
  r = tr(cfg('http {', '  access_log /var/log/nginx/access.log main;', '}'));
  t.strictSame(r.root.log, { access: true });
  hasLine(t, r, 2, 'access_log', 'differs', /JSON line/);
});

t.test('directives left out on purpose carry ignoredDirectives\' reason; unknown ones say so', async (t) => {
  const r = tr(cfg(
    'user nginx;', // 1
    'pid /run/nginx.pid;', // 2
    'events {', // 3
    '  worker_connections 1024;', // 4
    '}',
    'http {',
    '  sendfile on;', // 7
    '  gzip on;', // 8
    '  keepalive_timeout 65;', // 9
    '  client_max_body_size 10m;', // 10
    '  server_tokens off;', // 11
    '  foo_bar 1;', // 12
    '  server { listen 80;',
    '    location / { proxy_pass http://10.0.0.1:9000; proxy_cache zone; proxy_redirect off; }', // 14
    '  }',
    '}',
  ));
  const expect: Array<[number, string]> = [[1, 'user'], [2, 'pid'], [3, 'events'], [7, 'sendfile'], [8, 'gzip'], [9, 'keepalive_timeout'], [10, 'client_max_body_size'], [11, 'server_tokens'], [14, 'proxy_cache'], [14, 'proxy_redirect']];
  for (const [line, name] of expect) {
    const why = ignoredDirectives[name]!;
    const hit = r.lines.find((l) => l.line === line && l.directive === name);
    t.ok(hit, `${name} reported`, { found: at(r, line) });
    t.equal(hit?.kind, 'not translated', `${name}: not translated`);
    t.equal(hit?.why, why, `${name}: the reason from ignoredDirectives`);
  }
  noLine(t, r, 4, undefined, 'the inside of events is not reported line by line');
  hasLine(t, r, 12, 'foo_bar', 'not translated', /no Portcullis equivalent/);
});

// ---------------------------------------------------------------- conflicts

t.test('two locations using one upstream with different Host or timeouts: reported', async (t) => {
  const r = tr(cfg(
    'http {',
    '  upstream app { server 10.0.0.1:1; keepalive 1; }',
    '  server { listen 80;',
    '    location /a/ { proxy_set_header Host $http_host; proxy_read_timeout 10s; proxy_pass http://app; }', // 4
    '    location /b/ { proxy_set_header Host b.example; proxy_read_timeout 300s; proxy_pass http://app; }', // 5
    '  }',
    '}',
  ));
  t.notOk('host_header' in r.root.upstreams.app, 'the first location decides');
  t.equal(r.root.upstreams.app.read_timeout, '10s', 'the first location decides');
  hasLine(t, r, 5, 'proxy_set_header', 'not translated', /different Host at nginx\.conf:4/);
  hasLine(t, r, 5, 'proxy_read_timeout', 'not translated', /read_timeout: "10s" from nginx\.conf:4/);
  t.equal(r.root.routes.length, 2, 'both routes are written');
});

t.test('one upstream, a default timeout in one location and a set one in another: the report names nginx\'s default', async (t) => {
  // The first location's value came from nginx's default (no directive): the conflict line names
  // that location (a46d863; before it the report said "undefined:undefined", and runImport, whose
  // fileName is path.relative(), threw a TypeError).
  let r: Result | undefined;
  t.doesNotThrow(() => {
    r = tr(cfg(
      'http {',
      '  upstream app { server 10.0.0.1:1; keepalive 1; }',
      '  server { listen 80;',
      '    location /a/ { proxy_pass http://app; }', // 4
      '    location /b/ { proxy_read_timeout 300s; proxy_next_upstream error; proxy_pass http://app; }', // 5
      '  }',
      '}',
    ));
  });
  if (!r) return;
  const lines = r.lines.filter((l) => l.line === 5 && (l.directive === 'proxy_read_timeout' || l.directive === 'proxy_next_upstream'));
  t.equal(lines.length, 2, 'both conflicts reported', { found: at(r, 5) });
  for (const l of lines) {
    t.notMatch(l.why, /undefined/, `${l.directive}: the report names where the first value came from`);
    t.match(l.why, /from nginx\.conf:4/, `${l.directive}: the first value came from location /a/'s proxy_pass`);
  }
});

t.test('the same path routed by two server blocks on the same names: reported', async (t) => {
  const r = tr(cfg(
    'http {',
    '  server { listen 80; server_name default.example; location / { proxy_pass http://10.0.0.9:1; } }',
    '  server { listen 80; server_name x.example; location /a/ { proxy_pass http://10.0.0.1:1; } }', // 3
    '  server { listen 80; server_name x.example; location /a/ { proxy_pass http://10.0.0.2:1; } }', // 4
    '}',
  ));
  hasLine(t, r, 4, 'location', 'not translated', /already routes x\.example \/a\//);
  t.equal(r.root.routes.filter((x: Any) => x.path === '/a/').length, 1, 'one route for x.example /a/');
  t.equal(r.root.routes.find((x: Any) => x.path === '/a/').upstream, '10_0_0_1_1', 'the first server block\'s, as nginx (it ignores the conflicting name)');
});

t.test('server blocks whose names overlap route one host and path twice: reported, not left to validation', async (t) => {
  // nginx warns "conflicting server name b.example ... ignored" and serves b.example with the first
  // block. The duplicate check compares whole host lists, so ["a.example","b.example"] and
  // ["b.example"] both get route "/", which `portcullis --config` then refuses.
  const r = tr(cfg(
    'http {',
    '  server { listen 80; server_name default.example; location / { proxy_pass http://10.0.0.9:1; } }',
    '  server { listen 80; server_name a.example b.example; location / { proxy_pass http://10.0.0.1:1; } }', // 3
    '  server { listen 80; server_name b.example; location / { proxy_pass http://10.0.0.2:1; } }', // 4
    '}',
  ));
  const bRoutes = r.root.routes.filter((x: Any) => x.host === 'b.example' || (x.hosts ?? []).includes('b.example'));
  t.ok(bRoutes.length === 1 || r.lines.some((l) => l.line === 4 && l.kind === 'not translated'), 'b.example / is routed once, or the second is reported', { routes: bRoutes, found: at(r, 4) });
});

t.test('a location of a server on one address is not served on the others', async (t) => {
  // Portcullis's routes apply to every listener. nginx serves :80/admin/ with the first server's
  // location / (10.0.0.1); the output sends it to 10.0.0.2, which nginx only reached on :8080.
  const r = tr(cfg(
    'http {',
    '  server { listen 80; location / { proxy_pass http://10.0.0.1:1; } }',
    '  server { listen 8080; location /admin/ { proxy_pass http://10.0.0.2:1; } }', // 3
    '}',
  ));
  t.strictSame(r.root.routes, [{ path: '/', upstream: '10_0_0_1_1' }, { path: '/admin/', upstream: '10_0_0_2_1' }]);
  t.ok(r.lines.some((l) => l.line === 3 && /0\.0\.0\.0:80\b|every listener|all listeners|other listeners|listener/.test(l.why)), 'the /admin/ route also answers on 0.0.0.0:80, where nginx sends /admin/ to 10.0.0.1: should be reported', { found: at(r, 3) });
});

// ---------------------------------------------------------------- the migration guide

t.test('migrationGuide() has a row for every directiveRows entry and every ignored directive', async (t) => {
  const guide = migrationGuide();
  const cell = (s: string): string => s.replace(/\|/g, '\\|');
  for (const row of directiveRows) {
    t.ok(guide.includes(`| \`${cell(row.directive)}\` | ${row.context} | ${cell(row.key)} | ${cell(row.differences)} |`), `row for ${row.directive}`);
  }
  for (const [d, why] of Object.entries(ignoredDirectives)) t.ok(guide.includes(`| \`${d}\` | ${cell(why)} |`), `row for ${d}`);
  const rows = guide.split('\n').filter((l) => l.startsWith('| `'));
  t.equal(rows.length, directiveRows.length + Object.keys(ignoredDirectives).length, 'no other rows');
});

// ---------------------------------------------------------------- runImport

t.test('runImport', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'portcullis-import-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const plain = join(dir, 'nginx.conf');
  writeFileSync(plain, cfg('http {', '  upstream app { server 127.0.0.1:9000; keepalive 4; }', '  server { listen 127.0.0.1:8080; location / { proxy_pass http://app; proxy_set_header Host $http_host; proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for; proxy_set_header X-Forwarded-Proto $scheme; } }', '}'));
  const leftOut = join(dir, 'left-out.conf');
  writeFileSync(leftOut, cfg('http {', '  gzip on;', '  server { listen 127.0.0.1:8080; location / { proxy_pass http://127.0.0.1:9000; } }', '}'));
  const run = (argv: string[]) => {
    let out = '';
    let err = '';
    const code = runImport(argv, { stdout: (s) => void (out += s), stderr: (s) => void (err += s) });
    return { code, out, err };
  };

  t.test('plain run: YAML on stdout, report on stderr, exit 0', async (t) => {
    const r = run([plain]);
    t.equal(r.code, 0, r.err);
    t.match(r.out, /^# Portcullis configuration imported from /);
    t.match(r.out, /upstreams:\n {2}app:/);
    t.match(r.out, /# keepalive 4 {2}\(nginx\.conf:2\)/, 'keys commented with directive and file:line');
    t.match(r.err, /nginx\.conf:3 proxy_set_header: differs: /);
  });

  t.test('--check prints the report and no YAML', async (t) => {
    const r = run([plain, '--check']);
    t.equal(r.code, 0);
    t.equal(r.out, '');
    t.match(r.err, /nginx\.conf:3 proxy_set_header: differs/);
  });

  t.test('--strict with an untranslated directive: exit 1, nothing written', async (t) => {
    const target = join(dir, 'strict.yaml');
    const r = run([leftOut, '--strict', '-o', target]);
    t.equal(r.code, 1);
    t.equal(r.out, '');
    t.match(r.err, /left-out\.conf:2 gzip: not translated/);
    t.match(r.err, /--strict: 1 directive not translated; nothing written/);
    t.notOk(existsSync(target), 'no file written');
    const r2 = run([leftOut, '--strict']);
    t.equal(r2.code, 1);
    t.equal(r2.out, '', 'no YAML on stdout');
    t.equal(run([plain, '--strict']).code, 0, '--strict with everything translated');
  });

  t.test('a missing file: exit 2 with a message', async (t) => {
    const missing = join(dir, 'nope.conf');
    const r = run([missing]);
    t.equal(r.code, 2);
    t.equal(r.out, '');
    t.match(r.err, `portcullis import: ${missing}: cannot read the file`);
  });

  t.test('an nginx syntax error: exit 2 with file and line', async (t) => {
    const broken = join(dir, 'broken.conf');
    writeFileSync(broken, cfg('http {', '  server {', '}'));
    const r = run([broken]);
    t.equal(r.code, 2);
    t.match(r.err, /broken\.conf:\d+: unexpected end of file/);
  });

  t.test('-o / --output writes the file, validated', async (t) => {
    const target = join(dir, 'out.yaml');
    const r = run([plain, '-o', target]);
    t.equal(r.code, 0, r.err);
    t.equal(r.out, '');
    const yaml = readFileSync(target, 'utf8');
    t.match(yaml, /address: 127\.0\.0\.1:8080/);
    t.match(yaml, /upstream: app/);
    const target2 = join(dir, 'out2.yaml');
    t.equal(run(['--output', target2, plain]).code, 0);
    t.equal(readFileSync(target2, 'utf8'), yaml);
  });

  t.test('bad usage: exit 2', async (t) => {
    for (const argv of [[], ['--bogus', plain], [plain, plain], [plain, '-o'], [plain, '-p']]) {
      const r = run(argv);
      t.equal(r.code, 2, JSON.stringify(argv));
      t.match(r.err, /Usage: portcullis import/, JSON.stringify(argv));
      t.equal(r.out, '', JSON.stringify(argv));
    }
    const help = run(['--help']);
    t.equal(help.code, 0);
    t.match(help.out, /Usage: portcullis import/);
  });

  t.test('bad usage: --output or --prefix without a value', async (t) => {
    // `-o` alone is caught by argv.includes('-o'); the long forms are not: `--output` with no value
    // writes the YAML to stdout and exits 0.
    for (const argv of [[plain, '--output'], [plain, '--prefix']]) {
      const r = run(argv);
      t.equal(r.code, 2, `${JSON.stringify(argv)}: an option lacks its value`);
      t.equal(r.out, '', `${JSON.stringify(argv)}: no YAML`);
    }
  });

  t.test('a translation that does not validate: exit 1, --check prints no YAML', async (t) => {
    const dup = join(dir, 'dup.conf');
    // A certificate file that is not there: the YAML is written as nginx had it, and validation says so.
    writeFileSync(dup, cfg('http {', '  server { listen 127.0.0.1:8443 ssl; server_name d.example; ssl_certificate /nonexistent/cert.pem; ssl_certificate_key /nonexistent/key.pem; location / { proxy_pass http://127.0.0.1:9000; } }', '}'));
    const r = run([dup, '--check']);
    t.equal(r.code, 1);
    t.equal(r.out, '');
    t.match(r.err, /does not pass validation/);
  });

  t.test('one upstream with a default and a set timeout does not crash runImport', async (t) => {
    const mixed = join(dir, 'mixed.conf');
    writeFileSync(mixed, cfg('http {', '  upstream app { server 127.0.0.1:9000; keepalive 1; }', '  server { listen 127.0.0.1:8080;', '    location /a/ { proxy_pass http://app; }', '    location /b/ { proxy_read_timeout 300s; proxy_pass http://app; }', '  }', '}'));
    let r: { code: number; out: string; err: string } | undefined;
    t.doesNotThrow(() => void (r = run([mixed, '--check'])), 'the read_timeout conflict with nginx\'s default is reported, not a TypeError from path.relative(base, undefined)');
    if (r) {
      t.equal(r.code, 0);
      t.match(r.err, /mixed\.conf:5 proxy_read_timeout: not translated/);
    }
  });
});

t.test('relative certificate paths: read from the nginx prefix, written relative to the output file', async (t) => {
  const root = mkdtempSync(join(tmpdir(), 'portcullis-rebase-'));
  t.teardown(() => rmSync(root, { recursive: true, force: true }));
  const conf = join(root, 'etc', 'nginx');
  const out = join(root, 'out');
  for (const d of [join(conf, 'certs'), out]) execFileSync('mkdir', ['-p', d]);
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', join(conf, 'certs', 'k.pem'), '-out', join(conf, 'certs', 'c.pem'), '-days', '2', '-subj', '/CN=site.example', '-addext', 'subjectAltName=DNS:site.example'], { stdio: 'ignore' });
  writeFileSync(join(conf, 'site.conf'), 'server { listen 8443 ssl; server_name site.example; ssl_certificate certs/c.pem; ssl_certificate_key certs/k.pem; location / { proxy_pass http://127.0.0.1:9000; } }\n');
  let stderr = '';
  const code = runImport([join(conf, 'site.conf'), '-o', join(out, 'p.yaml')], { stdout: () => {}, stderr: (s) => void (stderr += s) });
  t.equal(code, 0, stderr);
  const yaml = readFileSync(join(out, 'p.yaml'), 'utf8');
  t.match(yaml, /cert: \.\.\/etc\/nginx\/certs\/c\.pem/, 'nginx reads certs/c.pem from its prefix; the output names it from its own directory');
  t.match(yaml, /key: \.\.\/etc\/nginx\/certs\/k\.pem/);
});
