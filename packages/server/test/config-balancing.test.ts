// The upstream keys that choose a server and judge its health: servers with weight/backup/down,
// balance and hash_key, passive_health, health_check, retry; and routes[].name. Good values parse
// to the core's options (defaults from the core's own objects), bad ones name file, line, key, fix.
import { healthCheckDefaults, normalizeOptions, passiveHealthDefaults, ProxyConfigError, retryDefaults, upstreamDefaults } from '@portcullis/core';
import t from 'tap';
import { configFiles } from './fixtures/config-files.js';

const { load, message } = configFiles('config-balancing');

/** The only upstream of a file whose upstream `app` has these lines (indented 4) after its servers. */
const app = (lines = '', servers = '[127.0.0.1:9000, 127.0.0.1:9001]') => load(`upstreams:\n  app:\n    servers: ${servers}\n${lines}`).proxy.upstreams[0]!;
/** The error message of the same, with "portcullis.yaml" for the file. */
const bad = (lines: string, servers = '[127.0.0.1:9000, 127.0.0.1:9001]') => message(`upstreams:\n  app:\n    servers: ${servers}\n${lines}`);

t.test('defaults: the core\'s own objects, no hash key, no active checks', async (t) => {
  const u = app();
  t.same(u, { ...upstreamDefaults, name: 'app', protocol: 'http', servers: [{ host: '127.0.0.1', port: 9000 }, { host: '127.0.0.1', port: 9001 }] });
  t.equal(u.balance, upstreamDefaults.balance);
  t.same(u.passiveHealth, passiveHealthDefaults);
  t.same(u.retry, retryDefaults);
  t.notOk('hashKey' in u, 'no hashKey unless set');
  t.notOk('healthCheck' in u, 'no health checks unless set');
});

t.test('servers: the string form as before, the mapping form with weight, backup and down', async (t) => {
  const u = app('', `
      - 127.0.0.1:9000
      - { address: 127.0.0.1:9001, weight: 3 }
      - { address: 127.0.0.1:9002, backup: true }
      - address: "[::1]:9003"
        down: true
        weight: 1000
      - { address: app.internal, backup: false, down: false }`);
  t.same(u.servers, [
    { host: '127.0.0.1', port: 9000 },
    { host: '127.0.0.1', port: 9001, weight: 3 },
    { host: '127.0.0.1', port: 9002, backup: true },
    { host: '::1', port: 9003, weight: 1000, down: true },
    { host: 'app.internal', port: 80 },
  ]);
  t.notOk('backup' in u.servers[4]! || 'down' in u.servers[4]!, 'false is the default, left out');
  const https = app('', '[{ address: "https://a.internal", weight: 2 }, b.internal:8443]');
  t.equal(https.protocol, 'https');
  t.same(https.servers, [{ host: 'a.internal', port: 443, weight: 2 }, { host: 'b.internal', port: 8443 }], 'the scheme of a mapping\'s address counts like a string\'s');
  t.same(app('', '{ address: 127.0.0.1:9000, weight: 2 }').servers, [{ host: '127.0.0.1', port: 9000, weight: 2 }], 'one bare mapping');
});

t.test('servers: bad entries and rules on the whole list', async (t) => {
  t.equal(
    bad('', '\n      - { address: 127.0.0.1:9000, weight: 0 }'),
    'portcullis.yaml:4:44: upstreams.app.servers[0].weight: expected a whole number from 1 to 1000, got 0. ' +
      "Fix: set it to the server's share of requests relative to the others, e.g. 3 (1 to 1000).",
  );
  t.match(bad('', '[{ address: a:1, weight: 1001 }]'), /^portcullis\.yaml:3:39: upstreams\.app\.servers\[0\]\.weight: expected a whole number from 1 to 1000, got 1001\./);
  t.match(bad('', '[{ address: a:1, weight: 2.5 }]'), /servers\[0\]\.weight: expected a whole number from 1 to 1000, got 2\.5/);
  t.match(bad('', '[{ address: a:1, backup: yes }]'), /^portcullis\.yaml:3:39: upstreams\.app\.servers\[0\]\.backup: expected true or false, got "yes"\. Fix: write true to use this server only while no other is usable/);
  t.match(bad('', '[{ address: a:1, down: 1 }, b:1]'), /servers\[0\]\.down: expected true or false, got 1\. Fix: write true to keep this server out of rotation/);
  t.equal(
    bad('', '[{ weight: 2 }]'),
    'portcullis.yaml:3:15: upstreams.app.servers[0]: has no "address". Fix: add the server\'s address, e.g. "address: 127.0.0.1:9001".',
  );
  t.equal(
    bad('', '[{ adress: a:1 }]'),
    'portcullis.yaml:3:15: upstreams.app.servers[0]: has no "address". Fix: add the server\'s address, e.g. "address: 127.0.0.1:9001".\n' +
      'portcullis.yaml:3:17: upstreams.app.servers[0].adress: unknown key (did you mean "address"?). Fix: rename it to "address".',
  );
  t.match(bad('', '[{ address: "a:1/x" }]'), /servers\[0\]\.address: "a:1\/x" has a path/);
  // weight, backup and down only in the mapping form: nginx's way of writing them is explained.
  t.equal(
    bad('', '\n      - 127.0.0.1:9000 weight=3 backup'),
    'portcullis.yaml:4:9: upstreams.app.servers[0]: "127.0.0.1:9000 weight=3 backup" has settings after the address, which only the mapping form takes. ' +
      'Fix: write it as { address: 127.0.0.1:9000, weight: 3, backup: true }.',
  );
  t.match(bad('', '["a:1 down"]'), /servers\[0\]: "a:1 down" has settings after the address.*Fix: write it as \{ address: a:1, down: true \}/);

  t.equal(
    bad('', '[{ address: a:1, down: true }, { address: b:1, down: true }]'),
    'portcullis.yaml:3:14: upstreams.app.servers: marks all 2 servers down, so the upstream could serve no request. ' +
      'Fix: remove "down" from one of them, or remove the upstream (and its routes).',
  );
  t.match(bad('', '{ address: a:1, down: true }'), /upstreams\.app\.servers: marks its only server down/);
  t.equal(
    bad('', '[{ address: a:1, backup: true }, { address: b:1, backup: true }]'),
    'portcullis.yaml:3:14: upstreams.app.servers: marks all 2 servers as backup, but backups serve only while no other server is usable. ' +
      'Fix: remove "backup" from the servers that should take requests normally.',
  );
  t.same(app('', '[{ address: a:1, down: true }, { address: b:1, backup: true }]').servers.length, 2, 'a backup with every primary down is allowed (the operator took them out)');
});

t.test('balance and hash_key', async (t) => {
  for (const policy of ['round_robin', 'least_request', 'random'] as const) t.equal(app(`    balance: ${policy}\n`).balance, policy);
  t.equal(app('    balance: Least-Request\n').balance, 'least_request', 'case and dashes do not matter');
  const hashed = (key: string) => app(`    balance: hash\n    hash_key: "${key}"\n`);
  t.same(hashed('client_ip').hashKey, { kind: 'client_ip' });
  t.same(hashed('uri').hashKey, { kind: 'uri' });
  t.same(hashed('header:X-User-Id').hashKey, { kind: 'header', name: 'x-user-id' }, 'header names lower-cased');
  t.same(hashed('cookie:Session').hashKey, { kind: 'cookie', name: 'Session' }, 'cookie names keep their case');
  t.equal(hashed('uri').balance, 'hash');

  t.equal(
    bad('    balance: least_conn\n'),
    'portcullis.yaml:4:14: upstreams.app.balance: expected a balancing policy, got "least_conn" (did you mean "least_request"?). Fix: write "least_request".',
  );
  t.match(bad('    balance: ip_hash\n'), /balance: expected a balancing policy, got "ip_hash" \(did you mean "hash"\?\)\. Fix: write "balance: hash" with "hash_key: client_ip"\./);
  t.match(bad('    balance: fastest\n'), /balance: expected a balancing policy, got "fastest"\. Fix: use "round_robin", "least_request", "random" or "hash"\./);
  t.match(bad('    balance: [hash]\n'), /balance: expected a balancing policy, got a list/);
  t.equal(
    bad('    balance: hash\n'),
    'portcullis.yaml:4:14: upstreams.app.balance: is hash, but there is no "hash_key" to say what to hash. Fix: add "hash_key: client_ip" (or uri, header:<Name>, cookie:<name>).',
  );
  t.equal(
    bad('    hash_key: client_ip\n'),
    'portcullis.yaml:4:15: upstreams.app.hash_key: is set, but balance is round_robin (the default), which hashes nothing. Fix: add "balance: hash", or remove hash_key.',
  );
  t.match(bad('    balance: random\n    hash_key: uri\n'), /^portcullis\.yaml:5:15: upstreams\.app\.hash_key: is set, but balance is random, which hashes nothing\./);
  t.notMatch(bad('    balance: rendom\n    hash_key: uri\n'), /hashes nothing/, 'a misspelt policy is the one problem');
  const key = (k: string) => bad(`    balance: hash\n    hash_key: "${k}"\n`);
  t.equal(
    key('ip'),
    'portcullis.yaml:5:15: upstreams.app.hash_key: expected a hash key, got "ip" (did you mean "client_ip"?). ' +
      'Fix: write client_ip, uri, header:<Name> (e.g. "header:X-User-Id") or cookie:<name> (e.g. "cookie:session").',
  );
  t.match(key('header:'), /hash_key: "header:" names no header\. Fix: write the header's name after the colon, e.g. "header:X-User-Id"\./);
  t.match(key('header:X User'), /hash_key: "X User" is not a valid header name/);
  t.match(key('cookie:a;b'), /hash_key: "a;b" is not a valid cookie name/);
  t.match(key('$http_x_user'), /hash_key: "\$http_x_user" is an nginx variable\. Fix: write "header:x-user"\./);
  t.match(key('$remote_addr'), /did you mean "client_ip"/);
  t.match(key('hedaer'), /did you mean "header:<name>"/);
});

t.test('passive_health: on by default, off, and every key', async (t) => {
  t.same(app('    passive_health: off\n').passiveHealth, { ...passiveHealthDefaults, consecutiveFailures: 0 });
  t.same(app('    passive_health: false\n').passiveHealth, { ...passiveHealthDefaults, consecutiveFailures: 0 });
  t.same(app('    passive_health: true\n').passiveHealth, passiveHealthDefaults);
  t.same(
    app('    passive_health:\n      consecutive_failures: 3\n      count_5xx: false\n      window: 10s\n      base_ejection_time: 10s\n      max_ejection_time: 2m\n      max_ejected_percent: 100\n').passiveHealth,
    { consecutiveFailures: 3, count5xx: false, window: 10_000, baseEjectionTime: 10_000, maxEjectionTime: 120_000, maxEjectedPercent: 100 },
  );
  t.same(app('    passive_health: { consecutive_failures: 2 }\n').passiveHealth, { ...passiveHealthDefaults, consecutiveFailures: 2 }, 'the others keep their defaults');
  t.equal(app('    passive_health: { consecutive_failures: off }\n').passiveHealth.consecutiveFailures, 0);
  t.equal(app('    passive_health: { consecutive_failures: 0 }\n').passiveHealth.consecutiveFailures, 0);
  t.equal(app('    passive_health: { window: off }\n').passiveHealth.window, 0);
  t.equal(app('    passive_health: { max_ejected_percent: 0 }\n').passiveHealth.maxEjectedPercent, 0);
  t.equal(app('    passive_health: { max_ejected_percent: "25%" }\n').passiveHealth.maxEjectedPercent, 25);
  t.equal(app('    passive_health: { base_ejection_time: 5m }\n').passiveHealth.baseEjectionTime, 300_000, 'equal to max_ejection_time is fine');

  t.equal(
    bad('    passive_health:\n      consecutive_failures: -1\n'),
    'portcullis.yaml:5:29: upstreams.app.passive_health.consecutive_failures: expected a whole number >= 0, got -1. ' +
      'Fix: set it to how many failures in a row eject a server, e.g. 5; 0 or off never ejects.',
  );
  t.match(bad('    passive_health: { count_5xx: maybe }\n'), /passive_health\.count_5xx: expected true or false, got "maybe"/);
  t.match(bad('    passive_health: { window: soon }\n'), /passive_health\.window: expected a duration, got "soon"\. Fix: write a duration such as "10s" \(units ms, s, m, h\) or a number of milliseconds, or off\./);
  t.match(bad('    passive_health: { base_ejection_time: 0 }\n'), /passive_health\.base_ejection_time: expected a duration > 0, got 0/);
  t.match(bad('    passive_health: { max_ejected_percent: 101 }\n'), /passive_health\.max_ejected_percent: expected a whole number from 0 to 100, got 101/);
  t.equal(
    bad('    passive_health:\n      base_ejection_time: 1m\n      max_ejection_time: 30s\n'),
    'portcullis.yaml:6:26: upstreams.app.passive_health.max_ejection_time: is shorter than base_ejection_time. Fix: make max_ejection_time at least as long as base_ejection_time.',
  );
  t.equal(
    bad('    passive_health:\n      base_ejection_time: 10m\n'),
    'portcullis.yaml:5:27: upstreams.app.passive_health.base_ejection_time: is longer than max_ejection_time (5m, the default). Fix: make max_ejection_time at least as long as base_ejection_time.',
  );
  t.match(bad('    passive_health: { max_ejection_time: 10s }\n'), /passive_health\.max_ejection_time: is shorter than base_ejection_time \(30s, the default\)/);
  t.match(bad('    passive_health: { max_fails: 3 }\n'), /passive_health\.max_fails: unknown key \(did you mean "consecutive_failures"\?\)/, 'nginx names lead to ours');
  t.match(bad('    passive_health: { consecutive_failure: 3 }\n'), /passive_health\.consecutive_failure: unknown key \(did you mean "consecutive_failures"\?\)/);
  t.match(bad('    passive_health: 3\n'), /upstreams\.app\.passive_health: expected a mapping of keys .*Fix: write it like "passive_health: \{ consecutive_failures: 5, base_ejection_time: 30s \}", or off/);
  t.match(bad('    passive_health:\n'), /upstreams\.app\.passive_health: has no value/);
});

t.test('health_check: off unless given, a path alone, and every key', async (t) => {
  t.same(app('    health_check: /healthz\n').healthCheck, { ...healthCheckDefaults, path: '/healthz' });
  t.notOk('healthCheck' in app('    health_check: off\n'));
  t.same(
    app('    health_check:\n      path: /status?full=1\n      interval: 10s\n      timeout: 1s\n      expect_status: 204\n      rise: 1\n      fall: 5\n      host: app.internal\n').healthCheck,
    { path: '/status?full=1', interval: 10_000, timeout: 1_000, expectStatus: [[204, 204]], rise: 1, fall: 5, host: 'app.internal' },
  );
  const statuses = (v: string) => app(`    health_check: { path: /, expect_status: ${v} }\n`).healthCheck!.expectStatus;
  t.same(statuses('"2xx"'), [[200, 299]]);
  t.same(statuses('"200-399"'), [[200, 399]]);
  t.same(statuses('"204"'), [[204, 204]]);
  t.same(statuses('[200, "3xx", "401-403"]'), [[200, 200], [300, 399], [401, 403]]);
  t.same(app('    health_check: { interval: 30s }\n').healthCheck, { ...healthCheckDefaults, interval: 30_000 }, 'the others keep their defaults');
  t.notOk('host' in app('    health_check: /healthz\n').healthCheck!, 'no host unless set');

  t.equal(
    bad('    health_check: healthz\n'),
    'portcullis.yaml:4:19: upstreams.app.health_check: "healthz" does not start with "/". Fix: write "/healthz".',
  );
  t.equal(
    bad('    health_check:\n      path: healthz\n'),
    'portcullis.yaml:5:13: upstreams.app.health_check.path: "healthz" does not start with "/". Fix: write "/healthz".',
  );
  t.match(bad('    health_check: { path: "http://a/healthz" }\n'), /health_check\.path: "http:\/\/a\/healthz" is a URL; the probe goes to each server of the upstream/);
  t.match(bad('    health_check: { path: "/a b" }\n'), /health_check\.path: "\/a b" has spaces/);
  t.equal(
    bad('    health_check:\n      interval: 2s\n      timeout: 2s\n'),
    'portcullis.yaml:6:16: upstreams.app.health_check.timeout: is not shorter than interval. Fix: make timeout shorter than interval, so that one probe ends before the next begins.',
  );
  t.match(bad('    health_check: { interval: 1s }\n'), /health_check\.interval: is not longer than timeout \(2s, the default\)/);
  t.match(bad('    health_check: { timeout: 5s }\n'), /health_check\.timeout: is not shorter than interval \(5s, the default\)/);
  t.match(bad('    health_check: { interval: never }\n'), /health_check\.interval: expected a duration, got "never"/);
  t.equal(
    bad('    health_check:\n      expect_status: [200, "2xy", 600, "399-200"]\n'),
    [
      'portcullis.yaml:5:28: upstreams.app.health_check.expect_status[1]: expected a status, got "2xy". Fix: write a status such as 200, a class such as "2xx", a range such as "200-399", or a list of those.',
      'portcullis.yaml:5:35: upstreams.app.health_check.expect_status[2]: 600 is not an HTTP status (100 to 599). Fix: write a status such as 200, a class such as "2xx", a range such as "200-399", or a list of those.',
      'portcullis.yaml:5:40: upstreams.app.health_check.expect_status[3]: "399-200" runs backwards. Fix: write "200-399".',
    ].join('\n'),
  );
  t.match(bad('    health_check: { expect_status: [] }\n'), /health_check\.expect_status: lists no status, so every probe would fail/);
  t.match(bad('    health_check: { expect_status: 99 }\n'), /health_check\.expect_status: 99 is not an HTTP status/);
  t.match(bad('    health_check: { rise: 0 }\n'), /health_check\.rise: expected a whole number from 1 to 1000, got 0\. Fix: set it to how many passing probes in a row bring a server back, e.g. 2\./);
  t.match(bad('    health_check: { fall: two }\n'), /health_check\.fall: expected a whole number from 1 to 1000, got "two"\. Fix: set it to how many failing probes in a row take a server out, e.g. 3\./);
  t.match(bad('    health_check: { host: "a b" }\n'), /health_check\.host: "a b" is not a valid Host header value\. Fix: write a host name such as "app.internal"/);
  t.match(bad('    health_check: { url: /x }\n'), /health_check\.url: unknown key/);
  t.match(bad('    health_check: 5\n'), /upstreams\.app\.health_check: expected a mapping of keys/);
});

t.test('retry: on (a list, or one), tries, timeout', async (t) => {
  t.same(app('    retry:\n      on: [error, timeout, http_502, http_503, http_504]\n      tries: 3\n      timeout: 10s\n').retry, {
    on: ['error', 'timeout', 'http_502', 'http_503', 'http_504'],
    tries: 3,
    timeout: 10_000,
  });
  t.same(app('    retry: { on: timeout }\n').retry, { ...retryDefaults, on: ['timeout'] }, 'a single string is a one-item list, without "error"');
  t.same(app('    retry: { on: [http_503, HTTP_503] }\n').retry.on, ['http_503'], 'once each');
  t.same(app('    retry: { on: [] }\n').retry.on, []);
  t.same(app('    retry: off\n').retry, { ...retryDefaults, on: [] });
  t.same(app('    retry: { tries: 2 }\n').retry, { ...retryDefaults, tries: 2 }, 'the others keep their defaults');
  t.equal(app('    retry: { timeout: off }\n').retry.timeout, 0);
  t.equal(app('    retry: { timeout: 0 }\n').retry.timeout, 0);

  t.equal(
    bad('    retry:\n      on: [error, timeot]\n'),
    'portcullis.yaml:5:19: upstreams.app.retry.on[1]: expected a retry condition, got "timeot" (did you mean "timeout"?). Fix: write "timeout".',
  );
  t.match(bad('    retry: { on: http_500 }\n'), /^portcullis\.yaml:4:18: upstreams\.app\.retry\.on: "http_500" is not a condition Portcullis retries on\. Fix: use "error", "timeout", "http_502", "http_503" or "http_504"/);
  t.match(bad('    retry: { on: [non_idempotent] }\n'), /retry\.on\[0\]: "non_idempotent" is not a condition Portcullis retries on/);
  t.match(bad('    retry: { on: [3] }\n'), /retry\.on\[0\]: expected a retry condition, got 3/);
  t.match(bad('    retry: { tries: -1 }\n'), /retry\.tries: expected a whole number >= 0, got -1\. Fix: set it to the most attempts in all, the first included, e.g. 3; 0 tries each usable server once\./);
  t.match(bad('    retry: { timeout: later }\n'), /retry\.timeout: expected a duration, got "later"\. Fix: .*, or off\./);
  t.match(bad('    retry: { attempts: 3 }\n'), /retry\.attempts: unknown key/);
  t.match(bad('    retry: 3\n'), /upstreams\.app\.retry: expected a mapping of keys/);
});

t.test('routes[].name: letters, digits, - _ . and unique', async (t) => {
  const routes = load('upstreams: { app: { servers: [a:1] } }\nroutes:\n  - { name: api.v2, path: /api/, upstream: app }\n  - { path: /, upstream: app }\n').proxy.routes;
  t.equal(routes[0]!.name, 'api.v2');
  t.notOk('name' in routes[1]!, 'no name unless set (the core names it)');
  t.equal(
    message('upstreams: { app: { servers: [a:1] } }\nroutes:\n  - { name: "my api", path: /api/, upstream: app }\n'),
    'portcullis.yaml:3:13: routes[0].name: the route name "my api" has characters other than letters, digits, "-", "_" and ".". Fix: use letters, digits, "-", "_" and ".", e.g. "api" or "static.v2".',
  );
  t.equal(
    message('upstreams: { app: { servers: [a:1] } }\nroutes:\n  - { name: api, path: /api/, upstream: app }\n  - { name: api, path: /, upstream: app }\n'),
    'portcullis.yaml:4:13: routes[1].name: is also the name of routes[0]. Fix: give each route its own name, since metrics tell routes apart by it.',
  );
  t.match(message('upstreams: { app: { servers: [a:1] } }\nroutes:\n  - { name: [a], upstream: app }\n'), /routes\[0\]\.name: expected a name, got a list/);
});

t.test('embedders: normalizeOptions fills partial objects and checks weight and hashKey', async (t) => {
  const options = normalizeOptions({
    upstreams: [
      {
        name: 'app',
        servers: ['127.0.0.1:9000', { host: '127.0.0.1', port: 9001, weight: 5 }],
        balance: 'hash',
        hashKey: { kind: 'header', name: 'X-User' },
        passiveHealth: { consecutiveFailures: 2 },
        retry: { tries: 3 },
        healthCheck: { path: '/healthz' },
      },
      { name: 'plain', servers: ['127.0.0.1:9002'] },
    ],
    routes: [{ pathPrefix: '/', upstream: 'app' }, { pathPrefix: '/plain/', upstream: 'plain' }],
  });
  const [u, plain] = options.upstreams;
  t.same(u!.passiveHealth, { ...passiveHealthDefaults, consecutiveFailures: 2 });
  t.same(u!.retry, { ...retryDefaults, tries: 3 });
  t.same(u!.healthCheck, { ...healthCheckDefaults, path: '/healthz' });
  t.same(u!.hashKey, { kind: 'header', name: 'x-user' });
  t.same(plain!.passiveHealth, passiveHealthDefaults);
  t.same(plain!.retry, retryDefaults);
  t.notOk('healthCheck' in plain!);

  try {
    normalizeOptions({ upstreams: [{ name: 'app', servers: [{ host: 'a', port: 1, weight: 0 }, { host: 'b', port: 1, weight: 1001 }], balance: 'hash' }] });
    t.fail('expected a ProxyConfigError');
  } catch (error) {
    if (!(error instanceof ProxyConfigError)) throw error;
    t.same(
      error.problems.map((p) => p.path),
      [['upstreams', 0, 'servers', 0, 'weight'], ['upstreams', 0, 'servers', 1, 'weight'], ['upstreams', 0, 'hashKey']],
    );
    t.match(error.message, /upstreams\[0\]\.hashKey: is required with balance "hash"/);
  }
});
