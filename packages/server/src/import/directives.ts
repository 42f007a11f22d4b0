/**
 * The one table of nginx directives `portcullis import` understands: where each goes in a
 * Portcullis configuration and how the meaning differs. translate.ts carries them over and
 * docs/migrating-from-nginx.md is generated from this table (`migrationGuide()`), so the two
 * cannot drift; a test holds the file to the table.
 */

export interface DirectiveRow {
  directive: string;
  context: string;
  key: string;
  differences: string;
}

export const directiveRows: DirectiveRow[] = [
  { directive: 'worker_processes', context: 'main', key: '`workers`', differences: '`auto` is one worker per CPU in both.' },
  { directive: 'upstream', context: 'http', key: '`upstreams.<name>`', differences: 'The name is kept (characters other than letters, digits, `-` and `_` become `_`).' },
  { directive: 'server (upstream)', context: 'upstream', key: '`upstreams.<name>.servers[]`: `address`, `weight`, `backup`, `down`', differences: 'A server without a port is on port 80, as in nginx, even behind `https://` (reported). `max_fails`/`fail_timeout` become the upstream\'s `passive_health` (per upstream: servers that differ are reported); unix sockets, `max_conns`, `resolve`, `slow_start` are reported.' },
  { directive: 'max_fails, fail_timeout', context: 'upstream server', key: '`passive_health: { consecutive_failures, window, base_ejection_time, max_ejection_time, count_5xx: false }`', differences: 'nginx\'s defaults (1 failure in 10 s, out for 10 s) are written out. Portcullis never ejects more than 50% of the servers nor the last one; `max_fails=0` is `passive_health: off`.' },
  { directive: 'keepalive', context: 'upstream', key: '`upstreams.<name>.keepalive`', differences: 'Without it nginx keeps no idle connection: written as `keepalive: 0` (Portcullis\'s default is 10).' },
  { directive: 'keepalive_timeout', context: 'upstream', key: '`upstreams.<name>.idle_timeout`', differences: 'Portcullis also retires a socket 1 s before the server\'s own announced timeout.' },
  { directive: 'keepalive_requests', context: 'upstream', key: '`upstreams.<name>.max_requests_per_socket`', differences: 'None.' },
  { directive: 'least_conn', context: 'upstream', key: '`balance: least_request`', differences: 'Power of two choices on requests in flight, where nginx scans every server for the fewest connections.' },
  { directive: 'hash ... consistent', context: 'upstream', key: '`balance: hash`, `hash_key`', differences: 'Keys: `$remote_addr` → `client_ip`, `$request_uri` → `uri`, `$http_x` → `header:x`, `$cookie_x` → `cookie:x`. Always a consistent (ketama) ring; without `consistent` nginx hashes by modulo.' },
  { directive: 'ip_hash', context: 'upstream', key: '`balance: hash`, `hash_key: client_ip`', differences: 'The whole address is hashed; nginx hashes the first three octets of IPv4.' },
  { directive: 'random [two [least_conn]]', context: 'upstream', key: '`balance: random`, or `least_request` for `two`', differences: '`random two least_conn` is exactly Portcullis\'s `least_request`.' },
  { directive: 'map $http_upgrade $connection_upgrade', context: 'http', key: 'built in', differences: 'Recognised as the WebSocket idiom (`default upgrade; \'\' close;` or `\'\' \'\';`): Portcullis upgrades WebSocket handshakes and keeps other requests on keep-alive connections by itself. Other maps are reported.' },
  { directive: 'server', context: 'http', key: '`listen[]` and `routes[]`', differences: 'Listeners are per address, shared by the server blocks on it; routes carry the server names as `host`/`hosts`. The default server of an address (the first, or `default_server`) answers every Host in nginx: its routes are written without `host`. Routes apply to every listener in Portcullis: locations nginx served on some addresses only are reported.' },
  { directive: 'listen', context: 'server', key: '`listen[].address`; `ssl` → `tls`; `http2` → `http2: true`', differences: 'A bare port is `0.0.0.0:port`; `[::]:port` is IPv6 only (nginx\'s default `ipv6only=on`). `proxy_protocol`, `backlog=`, unix sockets and HTTP/2 without TLS are reported.' },
  { directive: 'http2 on', context: 'server', key: '`listen[].http2: true`', differences: 'On TLS listeners only (served by node:http2, see docs/http2.md).' },
  { directive: 'server_name', context: 'server', key: '`routes[].host`, `hosts`', differences: 'Exact names and `*.domain` (one label, as browsers match certificates); `.domain` becomes both; regular expressions and `domain.*` are reported. A server named only `_` that is not the default is never chosen by nginx: left out and reported.' },
  { directive: 'return 301 https://$host$request_uri', context: 'server', key: '`listen[].redirect_https`', differences: '301, 302, 307 or 308; the port written in the URL, else 443, as nginx. It answers every request on the address, whatever the Host.' },
  { directive: 'ssl_certificate, ssl_certificate_key', context: 'http, server', key: '`listen[].tls.cert`, `key` (`certificates[]` with `names` for several server blocks on one address)', differences: 'Reloaded when the files change, without a restart.' },
  { directive: 'ssl_protocols', context: 'http, server', key: '`listen[].tls.min_version`', differences: 'TLS 1.2 is the oldest Portcullis offers; `TLSv1.3` alone is `min_version: TLSv1.3`.' },
  { directive: 'ssl_ciphers', context: 'http, server', key: '`listen[].tls.ciphers`', differences: 'TLS 1.2 only, as in nginx.' },
  { directive: 'add_header Strict-Transport-Security ... always', context: 'http, server', key: '`listen[].tls.hsts`', differences: 'Per TLS listener. Without `always` nginx adds it to 2xx/3xx only, Portcullis to every response. A TLS server without it gets `hsts: false` (Portcullis\'s default is on). Other `add_header` are reported.' },
  { directive: 'location', context: 'server', key: '`routes[].path`', differences: 'Prefix locations only; a Portcullis prefix ends at `/` or `?` (`/app` does not take `/appx`), and `/app` goes to `location /app/` instead of nginx\'s 301. `=`, `~`, `~*`, named and nested locations are reported.' },
  { directive: 'proxy_pass', context: 'location', key: '`routes[].upstream` (an upstream is made for a plain address), `strip_prefix`', differences: 'With the URI `/` the location\'s prefix is stripped (`strip_prefix: true`), as nginx replaces it; any other URI, and variables, are reported.' },
  { directive: 'proxy_set_header', context: 'http, server, location', key: 'built in, `upstreams.<name>.host_header`, `forwarded`', differences: '`Host $http_host` is the default; `$proxy_host` (nginx\'s default) and fixed names become `host_header`. `X-Forwarded-For $proxy_add_x_forwarded_for`, `X-Forwarded-Proto $scheme`, `X-Forwarded-Host`, `Upgrade`, `Connection` are built in; Portcullis always sends X-Forwarded-*, trusting incoming ones only from `trusted_proxies`. Others are reported.' },
  { directive: 'proxy_http_version', context: 'http, server, location', key: 'built in', differences: 'Always HTTP/1.1 with keep-alive.' },
  { directive: 'proxy_connect_timeout', context: 'http, server, location', key: '`upstreams.<name>.connect_timeout`', differences: 'nginx\'s default 60s is written out (Portcullis\'s is 5s). Per upstream.' },
  { directive: 'proxy_read_timeout', context: 'http, server, location', key: '`upstreams.<name>.read_timeout`', differences: 'Per upstream.' },
  { directive: 'proxy_send_timeout', context: 'http, server, location', key: '`upstreams.<name>.send_timeout`', differences: 'Per upstream.' },
  { directive: 'send_timeout', context: 'http, server, location', key: '`send_timeout`', differences: 'One value for the whole server (the first one met); a different one elsewhere is reported.' },
  { directive: 'proxy_next_upstream, _tries, _timeout', context: 'http, server, location', key: '`upstreams.<name>.retry`', differences: 'nginx\'s default `error timeout` is written out; `http_502/503/504` carried, other conditions and `non_idempotent` reported.' },
  { directive: 'proxy_ssl_verify', context: 'http, server, location', key: '`upstreams.<name>.tls.verify`', differences: 'nginx does not verify by default: written as `verify: false` and reported as less safe.' },
  { directive: 'proxy_ssl_server_name', context: 'http, server, location', key: 'built in', differences: 'Portcullis always sends SNI to https upstreams.' },
  { directive: 'proxy_ssl_name', context: 'http, server, location', key: '`upstreams.<name>.tls.server_name`', differences: 'None.' },
  { directive: 'proxy_ssl_trusted_certificate', context: 'http, server, location', key: '`upstreams.<name>.tls.ca`', differences: 'None.' },
  { directive: 'proxy_ssl_certificate, proxy_ssl_certificate_key', context: 'http, server, location', key: '`upstreams.<name>.tls.cert`, `key`', differences: 'None.' },
  { directive: 'set_real_ip_from', context: 'http', key: '`trusted_proxies`', differences: 'Their X-Forwarded-For is believed (nginx\'s `real_ip_header X-Forwarded-For`).' },
  { directive: 'access_log', context: 'http', key: '`log.access`', differences: 'JSON lines on standard output; the path and format are not carried over.' },
];

/** Directives left out on purpose, with the reason the report gives. */
export const ignoredDirectives: Record<string, string> = {
  user: 'Portcullis runs as the user that starts it (systemd User=, a container USER)',
  pid: 'no pid file: systemd or the container runtime tracks the supervisor',
  error_log: 'Portcullis logs JSON to standard output (log.level)',
  events: 'not needed: one event loop per worker',
  worker_connections: 'no per-worker connection limit',
  worker_rlimit_nofile: 'raise the file limit in systemd (LimitNOFILE=) or ulimit',
  sendfile: 'not needed: Portcullis only proxies',
  tcp_nopush: 'not needed: Portcullis coalesces writes itself',
  tcp_nodelay: 'not needed: always on',
  types: 'not needed: Portcullis only proxies',
  default_type: 'not needed: Portcullis only proxies',
  include: 'an include that was not expanded',
  gzip: 'no response compression: responses pass as the upstream sent them',
  keepalive_timeout: 'the client keep-alive timeout is fixed by the frontend (about 10 s on uWS, idle_timeout on http2 listeners)',
  client_max_body_size: 'no request body limit: bodies stream to the upstream',
  client_body_buffer_size: 'bodies are streamed, not buffered',
  proxy_buffering: 'responses are streamed with backpressure, not buffered to disk',
  proxy_buffers: 'responses are streamed with backpressure, not buffered',
  proxy_buffer_size: 'responses are streamed with backpressure, not buffered',
  proxy_redirect: 'Location headers pass unchanged',
  proxy_cache: 'no cache',
  root: 'no static files',
  index: 'no static files',
  try_files: 'no static files',
  rewrite: 'no rewriting: routes match path prefixes',
  if: 'no conditions',
  set: 'no variables',
  ssl_session_cache: 'TLS sessions are resumed with tickets by default',
  ssl_session_timeout: 'not configurable',
  ssl_session_tickets: 'not configurable',
  ssl_prefer_server_ciphers: 'not configurable',
  ssl_dhparam: 'no DHE suites: ECDHE only',
  ssl_stapling: 'no OCSP stapling',
  ssl_stapling_verify: 'no OCSP stapling',
  resolver: 'upstream host names are resolved by the system resolver',
  server_tokens: 'Portcullis adds no Server header of its own',
  log_format: 'the access log has one JSON format',
  charset: 'no static files',
  allow: 'no access control: put it in front or in the application',
  deny: 'no access control: put it in front or in the application',
  auth_basic: 'no authentication: put it in the application',
  limit_req: 'no rate limiting',
  limit_conn: 'no connection limiting',
  http2_max_concurrent_streams: 'write listen[].http2.max_concurrent_streams',
  real_ip_recursive: 'Portcullis walks X-Forwarded-For back through trusted_proxies',
};

/** docs/migrating-from-nginx.md, made from the tables above. */
export function migrationGuide(): string {
  const cell = (s: string): string => s.replace(/\|/g, '\\|');
  const lines = [
    '# Migrating from nginx',
    '',
    '<!-- Generated from packages/server/src/import/directives.ts (migrationGuide()); test/nginx-import-guide.test.ts holds this file to it. Edit the table there, not here. -->',
    '',
    '`portcullis import nginx.conf -o portcullis.yaml` translates an nginx configuration (a whole',
    '`nginx.conf`, or an http-context fragment from `conf.d/` or `sites-enabled/`, with its `include`s)',
    'into a Portcullis configuration, each key commented with the directive and `file:line` it came',
    'from. The output behaves as the nginx configuration did wherever Portcullis has the knob, nginx\'s',
    'defaults included. Every directive it leaves out, and every difference in meaning, is a line on',
    'standard error: `file:line directive: not translated | differs | less safe: why`.',
    '',
    '- `-o FILE`: write the YAML there (default: standard output).',
    '- `-p PREFIX`: resolve relative `include` paths against PREFIX (nginx\'s `-p`), not the file\'s directory.',
    '- `--strict`: any directive left out is an error (exit 1), and nothing is written.',
    '- `--check`: print the report only.',
    '',
    'The output is validated as `portcullis --config` would; certificate files must exist where it runs.',
    '',
    '## Directives carried over',
    '',
    '| nginx directive | context | Portcullis | differences |',
    '|---|---|---|---|',
    ...directiveRows.map((r) => `| \`${cell(r.directive)}\` | ${r.context} | ${cell(r.key)} | ${cell(r.differences)} |`),
    '',
    '## Directives left out on purpose',
    '',
    '| nginx directive | why |',
    '|---|---|',
    ...Object.entries(ignoredDirectives).map(([d, why]) => `| \`${d}\` | ${cell(why)} |`),
    '',
    'Any other directive is reported as having no Portcullis equivalent.',
    '',
  ];
  return lines.join('\n');
}
