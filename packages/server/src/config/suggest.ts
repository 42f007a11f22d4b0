/** "Did you mean …?" for misspelt keys, flags and names. */

/** Names people bring from nginx or HAProxy, mapped to ours (only where spelling won't find them). */
const familiarNames: Record<string, string> = {
  worker_processes: 'workers',
  nbthread: 'workers',
  nbproc: 'workers',
  upstream: 'upstreams',
  backend: 'upstreams',
  backends: 'upstreams',
  server: 'servers',
  route: 'routes',
  locations: 'routes',
  location: 'path',
  prefix: 'path',
  server_name: 'hosts',
  keepalive_requests: 'max_requests_per_socket',
  proxy_connect_timeout: 'connect_timeout',
  proxy_read_timeout: 'read_timeout',
  proxy_send_timeout: 'send_timeout',
  timeout_connect: 'connect_timeout',
  timeout_server: 'read_timeout',
  maxconn: 'max_connections',
  set_real_ip_from: 'trusted_proxies',
  trust_proxy: 'trusted_proxies',
  log_level: 'level',
  access_log: 'access',
  bind: 'listen',
  listeners: 'listen',
  ssl: 'tls',
  ssl_certificate: 'cert',
  ssl_certificate_key: 'key',
  ssl_protocols: 'min_version',
  ssl_ciphers: 'ciphers',
  add_header: 'hsts',
  strict_transport_security: 'hsts',
  return: 'redirect_https',
  proxy_ssl_verify: 'verify',
  max_fails: 'consecutive_failures',
  fail_timeout: 'window',
  outlier_detection: 'passive_health',
  health_checks: 'health_check',
  healthcheck: 'health_check',
  proxy_next_upstream: 'retry',
  proxy_next_upstream_tries: 'tries',
  proxy_next_upstream_timeout: 'timeout',
  lb_policy: 'balance',
  least_conn: 'least_request',
  ip_hash: 'hash',
  proxy_ssl_name: 'server_name',
  proxy_ssl_trusted_certificate: 'ca',
  proxy_ssl_certificate: 'cert',
  proxy_ssl_certificate_key: 'key',
  h2: 'http2',
  http2_max_concurrent_streams: 'max_concurrent_streams',
  max_concurrent_streams_per_connection: 'max_concurrent_streams',
  initial_stream_window_size: 'initial_window_size',
  http2_recv_buffer_size: 'initial_window_size',
  max_header_list: 'max_header_list_size',
};

/** Optimal string alignment distance (Levenshtein plus adjacent transpositions). */
function editDistance(a: string, b: string): number {
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) => [i, ...new Array<number>(b.length).fill(0)]);
  for (let j = 0; j <= b.length; j++) d[0]![j] = j;
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let v = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) v = Math.min(v, d[i - 2]![j - 2]! + 1);
      d[i]![j] = v;
    }
  }
  return d[a.length]![b.length]!;
}

/** `maxConnections`, `max-connections`, `MAX_CONNECTIONS` → `max_connections`. */
const toSnake = (s: string): string =>
  s
    .replace(/([a-z0-9])([A-Z])/g, '$1_$2')
    .replace(/[-\s]+/g, '_')
    .toLowerCase();

/** The candidate the user most likely meant, or undefined when none is close. */
export function didYouMean(input: string, candidates: readonly string[]): string | undefined {
  if (candidates.length === 0) return undefined;
  const snake = toSnake(input.replace(/^-+/, ''));
  const exact = candidates.find((c) => toSnake(c.replace(/^-+/, '')) === snake);
  if (exact !== undefined) return exact;
  const familiar = familiarNames[snake];
  if (familiar !== undefined && candidates.includes(familiar)) return familiar;
  // A unique candidate that starts with what was written ("strip" → "strip_prefix").
  if (snake.length >= 3) {
    const extended = candidates.filter((c) => toSnake(c.replace(/^-+/, '')).startsWith(snake));
    if (extended.length === 1) return extended[0];
  }
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const c of candidates) {
    const distance = editDistance(snake, toSnake(c.replace(/^-+/, '')));
    if (distance < bestDistance) {
      best = c;
      bestDistance = distance;
    }
  }
  const allowed = Math.max(1, Math.min(3, Math.floor(snake.length / 3)));
  if (bestDistance <= allowed) return best;
  // A unique candidate that what was written starts with ("warning" → "warn").
  const shortened = candidates.filter((c) => {
    const name = toSnake(c.replace(/^-+/, ''));
    return name.length >= 3 && snake.startsWith(name);
  });
  return shortened.length === 1 ? shortened[0] : undefined;
}

/** `"a", "b" or "c"` */
export function listOf(names: readonly string[], conjunction = 'or'): string {
  const quoted = names.map((n) => `"${n}"`);
  if (quoted.length <= 1) return quoted.join('');
  return `${quoted.slice(0, -1).join(', ')} ${conjunction} ${quoted[quoted.length - 1]}`;
}
