// Loading valid config files: defaults, durations, addresses, routes and the example file.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { forwardingDefaults, limitDefaults, upstreamDefaults, websocketDefaults } from '@portcullis/core';
import t from 'tap';
import { loadConfigFile, parseConfigText } from '../src/config/index.js';

const dir = mkdtempSync(join(tmpdir(), 'portcullis-config-file-'));
let count = 0;
function load(text: string, name = `portcullis-${++count}.yaml`) {
  const path = join(dir, name);
  writeFileSync(path, text);
  return loadConfigFile(path);
}

t.test('a file with only one upstream gets every default and an implied catch-all route', async (t) => {
  const path = join(dir, 'minimal.yaml');
  writeFileSync(path, 'upstreams:\n  app:\n    servers: [127.0.0.1:9000]\n');
  const config = loadConfigFile(path);
  t.same(config, {
    source: path,
    listeners: [{ host: '127.0.0.1', port: 8080 }],
    workers: availableParallelism(),
    logLevel: 'info',
    accessLog: true,
    demo: false,
    shutdownTimeout: 10_000,
    drainDelay: 0,
    watch: false,
    sendTimeout: 60_000,
    admin: null,
    proxy: {
      upstreams: [{ ...upstreamDefaults, name: 'app', protocol: 'http', servers: [{ host: '127.0.0.1', port: 9000 }] }],
      routes: [{ hosts: [], pathPrefix: '/', stripPrefix: false, upstream: 'app' }],
      forwarding: forwardingDefaults,
      websocket: websocketDefaults,
      limits: limitDefaults,
    },
  });
  t.notOk('hostHeader' in config.proxy.upstreams[0]!, 'no hostHeader unless set');
  t.notOk('tls' in config.proxy.upstreams[0]!, 'no tls unless set');
});

t.test('durations: units ms, s, m, h, compounds, fractions and plain milliseconds', async (t) => {
  const config = load(`
shutdown_timeout: 2h
drain_delay: 3s
send_timeout: 2m
upstreams:
  app:
    servers: [127.0.0.1:9000]
    idle_timeout: 500ms
    connect_timeout: 4s
    read_timeout: 1m30s
    send_timeout: 250
  two:
    servers: [127.0.0.1:9001]
    idle_timeout: 1.5s
    connect_timeout: "750"
    read_timeout: 1m
    send_timeout: 1h 30m
routes: [{ upstream: app }, { path: /two, upstream: two }]
`);
  t.equal(config.shutdownTimeout, 7_200_000);
  t.equal(config.drainDelay, 3_000);
  t.equal(config.sendTimeout, 120_000, 'the top-level send_timeout (the client side)');
  const [app, two] = config.proxy.upstreams;
  t.match(app, { idleTimeout: 500, connectTimeout: 4_000, readTimeout: 90_000, sendTimeout: 250 });
  t.match(two, { idleTimeout: 1_500, connectTimeout: 750, readTimeout: 60_000, sendTimeout: 5_400_000 });
});

t.test('every upstream key maps to its ProxyOptions field', async (t) => {
  const config = load(`
upstreams:
  app:
    servers: [127.0.0.1:9000]
    keepalive: 0
    max_connections: 64
    max_requests_per_socket: 5
    pipelining: 64
    host_header: app.internal:8080
`);
  t.match(config.proxy.upstreams[0], { keepalive: 0, maxConnections: 64, maxRequestsPerSocket: 5, pipelining: 64, hostHeader: 'app.internal:8080' });
});

t.test('server addresses: host:port, URLs, IPv6, default ports by protocol, one bare string', async (t) => {
  const config = load(`
upstreams:
  plain:
    servers: [127.0.0.1:9000, "http://localhost:9001", "[::1]:9002", backend.internal]
  secure:
    servers: ["https://api.example.com", "10.0.0.2:8443", "https://[::1]"]
  single:
    servers: 127.0.0.1:9003
routes: [{ upstream: plain }, { path: /s, upstream: secure }, { path: /one, upstream: single }]
`);
  const [plain, secure, single] = config.proxy.upstreams;
  t.equal(plain!.protocol, 'http');
  t.same(plain!.servers, [
    { host: '127.0.0.1', port: 9000 },
    { host: 'localhost', port: 9001 },
    { host: '::1', port: 9002 },
    { host: 'backend.internal', port: 80 },
  ]);
  t.equal(secure!.protocol, 'https', 'a server without a scheme takes the scheme of the others');
  t.same(secure!.servers, [
    { host: 'api.example.com', port: 443 },
    { host: '10.0.0.2', port: 8443 },
    { host: '::1', port: 443 },
  ]);
  t.same(single!.servers, [{ host: '127.0.0.1', port: 9003 }]);
});

t.test('listen: host:port, IPv6 in brackets, a bare port means 127.0.0.1', async (t) => {
  const config = load(`
listen: [0.0.0.0:80, "[::]:8443", 8080, "9090", localhost:3000]
upstreams: { app: { servers: [127.0.0.1:9000] } }
`);
  t.same(config.listeners, [
    { host: '0.0.0.0', port: 80 },
    { host: '::', port: 8443 },
    { host: '127.0.0.1', port: 8080 },
    { host: '127.0.0.1', port: 9090 },
    { host: 'localhost', port: 3000 },
  ]);
  t.same(load('listen: 127.0.0.1:81\nupstreams: { app: { servers: [x:1] } }').listeners, [{ host: '127.0.0.1', port: 81 }], 'one address without a list');
});

t.test('server settings: workers, "auto", log, forwarding', async (t) => {
  const config = load(`
workers: 3
log: { level: DEBUG, access: false }
trusted_proxies: [10.0.0.0/8, 192.168.1.10, "fd00::/8"]
forwarded: true
via: edge-1
upstreams: { app: { servers: [127.0.0.1:9000] } }
`);
  t.match(config, { workers: 3, logLevel: 'debug', accessLog: false });
  t.same(config.proxy.forwarding, { trustedProxies: ['10.0.0.0/8', '192.168.1.10', 'fd00::/8'], forwarded: true, via: 'edge-1' });
  const auto = load('workers: auto\nvia: true\nupstreams: { app: { servers: [x:1] } }');
  t.equal(auto.workers, availableParallelism());
  t.equal(auto.proxy.forwarding.via, 'portcullis', 'via: true uses the name "portcullis"');
});

t.test('routes: host or hosts (lower-cased, leading wildcard), path prefix, strip_prefix, order kept', async (t) => {
  const config = load(`
upstreams:
  app: { servers: [127.0.0.1:9000] }
  api: { servers: [127.0.0.1:9001] }
routes:
  - hosts: [API.Example.com, "*.api.example.com", "example.org."]
    upstream: api
  - host: example.com
    path: /api/
    strip_prefix: true
    upstream: api
  - path: /
    upstream: app
`);
  t.same(config.proxy.routes, [
    { hosts: ['api.example.com', '*.api.example.com', 'example.org'], pathPrefix: '/', stripPrefix: false, upstream: 'api' },
    { hosts: ['example.com'], pathPrefix: '/api/', stripPrefix: true, upstream: 'api' },
    { hosts: [], pathPrefix: '/', stripPrefix: false, upstream: 'app' },
  ]);
});

t.test('YAML anchors and merge keys share settings; top-level x- keys are ignored', async (t) => {
  const config = load(`
x-common: &common
  keepalive: 32
  read_timeout: 5s
upstreams:
  app: { <<: *common, servers: [127.0.0.1:9000] }
  api: { <<: *common, servers: [127.0.0.1:9001], keepalive: 2 }
routes: [{ upstream: app }, { path: /api, upstream: api }]
`);
  t.match(config.proxy.upstreams[0], { keepalive: 32, readTimeout: 5_000 });
  t.match(config.proxy.upstreams[1], { keepalive: 2, readTimeout: 5_000 });
});

t.test('upstream tls: files are read relative to the config file', async (t) => {
  const sub = mkdtempSync(join(tmpdir(), 'portcullis-config-tls-'));
  writeFileSync(join(sub, 'ca.pem'), 'CA PEM');
  writeFileSync(join(sub, 'client.pem'), 'CERT PEM');
  writeFileSync(join(sub, 'client-key.pem'), 'KEY PEM');
  const path = join(sub, 'portcullis.yaml');
  writeFileSync(
    path,
    `upstreams:
  api:
    servers: ["https://10.0.0.1:8443"]
    tls: { verify: false, server_name: api.internal, ca: ca.pem, cert: client.pem, key: ${join(sub, 'client-key.pem')} }
`,
  );
  t.same(loadConfigFile(path).proxy.upstreams[0]!.tls, {
    verify: false,
    servername: 'api.internal',
    ca: 'CA PEM',
    cert: 'CERT PEM',
    key: 'KEY PEM',
  });
});

t.test('an empty document is an empty mapping (and needs upstreams)', async (t) => {
  t.throws(() => parseConfigText('', 'empty.yaml'), { message: /^empty\.yaml: has no "upstreams"/ });
});

t.test('examples/portcullis.yaml is valid and uses every key', async (t) => {
  const example = join(dirname(fileURLToPath(import.meta.url)), '../../../examples/portcullis.yaml');
  const config = loadConfigFile(example);
  t.match(config, {
    workers: 2,
    logLevel: 'info',
    accessLog: true,
    shutdownTimeout: 10_000,
    drainDelay: 5_000,
    sendTimeout: 60_000,
    listeners: [{ host: '127.0.0.1', port: 8080 }, { host: '::1', port: 8080 }],
    proxy: {
      forwarding: { trustedProxies: ['10.0.0.0/8', '192.168.1.10', 'fd00::/8'], forwarded: true, via: 'edge-1' },
      websocket: { maxMessageSize: 16 * 1024 * 1024, idleTimeout: 120_000, compression: 'off', upstreamCompression: false },
      limits: { maxUrlLength: 8192, maxHeaderSize: 8192, maxHeadersSize: 32768, maxHeaders: 100 },
      upstreams: [
        { name: 'app', protocol: 'http', connectTimeout: 2_000, readTimeout: 30_000, sendTimeout: 30_000, keepalive: 10 },
        { name: 'api', protocol: 'https', hostHeader: 'api.internal', tls: { verify: true, servername: 'api.internal' } },
      ],
    },
  });
  t.equal(config.proxy.routes.length, 4);
});

t.test('drain_delay: 0, off and 0s mean none; a negative or a word is refused with the key and a fix', async (t) => {
  const base = 'upstreams:\n  app: { servers: [127.0.0.1:9000] }\n';
  for (const v of ['0', 'off', '0s', '0ms']) t.equal(parseConfigText(`drain_delay: ${v}\n${base}`, 'p.yaml').drainDelay, 0, v);
  t.equal(parseConfigText(`drain_delay: 10s\n${base}`, 'p.yaml').drainDelay, 10_000);
  t.throws(() => parseConfigText(`drain_delay: soon\n${base}`, 'p.yaml'), /p\.yaml:1:14: drain_delay: .*Fix: /);
});
