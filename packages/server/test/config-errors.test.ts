// Invalid config files: every error names the file (with line and column), the key, what is
// wrong and the fix; all problems of a file are reported together.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { loadConfigFile } from '../src/config/index.js';
import { configFiles } from './fixtures/config-files.js';

const dir = mkdtempSync(join(tmpdir(), 'portcullis-config-errors-'));
const { reject, message } = configFiles('config-errors', dir);

const app = 'upstreams:\n  app:\n    servers: [127.0.0.1:9000]\n';

t.test('a bad value names file, line, column, key, what is wrong and the fix', async (t) => {
  t.equal(
    message(`${app}    keepalive: ten\n`),
    'portcullis.yaml:4:16: upstreams.app.keepalive: expected a whole number >= 0, got "ten". ' +
      'Fix: set it to the number of idle connections to keep, e.g. 10 (0 closes each connection after its response).',
  );
  const { path, error } = reject(`${app}    keepalive: ten\n`);
  t.same(error.issues, [
    {
      source: path,
      key: 'upstreams.app.keepalive',
      line: 4,
      column: 16,
      problem: 'expected a whole number >= 0, got "ten"',
      fix: 'set it to the number of idle connections to keep, e.g. 10 (0 closes each connection after its response)',
    },
  ]);
  t.equal(error.name, 'ConfigError');
});

t.test('unknown keys: "did you mean" for typos, other spellings and nginx names', async (t) => {
  t.equal(message(`${app}    keepaliv: 10\n`), 'portcullis.yaml:4:5: upstreams.app.keepaliv: unknown key (did you mean "keepalive"?). Fix: rename it to "keepalive".');
  t.match(message(`${app}    maxConnections: 10\n`), /upstreams\.app\.maxConnections: unknown key \(did you mean "max_connections"\?\)/);
  t.match(message(`${app}    proxy_read_timeout: 10s\n`), /upstreams\.app\.proxy_read_timeout: unknown key \(did you mean "read_timeout"\?\)/);
  t.match(message(`worker_processes: 4\n${app}`), /^portcullis\.yaml:1:1: worker_processes: unknown key \(did you mean "workers"\?\)/);
  t.match(message(`log: { levle: info }\n${app}`), /log\.levle: unknown key \(did you mean "level"\?\)/);
  t.match(message(`${app}routes:\n  - upstream: app\n    strip: true\n`), /routes\[0\]\.strip: unknown key \(did you mean "strip_prefix"\?\)/);
  t.match(
    message(`colour: blue\n${app}`),
    /^portcullis\.yaml:1:1: colour: unknown key\. Fix: remove it; the keys allowed at the top level are "workers", "log", .* and "routes"\.$/,
  );
});

t.test('wrong types are named with what was found', async (t) => {
  t.match(message(`workers: [1]\n${app}`), /workers: expected a whole number >= 1, got a list\. Fix: .*"auto"/);
  t.match(message(`log: loud\n${app}`), /log: expected a mapping of keys .*got "loud"\. Fix: write it like/);
  t.match(message(`forwarded: yes\n${app}`), /forwarded: expected true or false, got "yes"\. Fix: write true/);
  t.match(message(`${app}    connect_timeout: soon\n`), /upstreams\.app\.connect_timeout: expected a duration, got "soon"\. Fix: write a duration such as "5s" \(units ms, s, m, h\) or a number of milliseconds\./);
  t.match(message('upstreams: [app]\n'), /upstreams: is a list, but upstreams are a mapping/);
  t.match(message(`${app}routes: { upstream: app }\n`), /routes: expected a list of routes, got a mapping/);
  t.match(message(`${app}    keepalive:\n`), /upstreams\.app\.keepalive: has no value\. Fix: give it a value, or remove the key to use the default \(10\)\./);
  t.match(message(`via: 42\n${app}`), /^portcullis\.yaml:1:6: via: expected false, true or a pseudonym, got 42\. Fix: write a name such as "portcullis"/);
  t.match(message(`${app}    idle_timeout:\n`), /idle_timeout: has no value\. Fix: give it a value, or remove the key to use the default \(4s\)\./);
  t.match(message('upstreams:\n  app:\n    servers: ["https://a"]\n    tls: { key: k.pem }\n'), /upstreams\.app\.tls: has "key" without "cert"/);
  t.match(message(`${app}routes:\n  - { host: [a.com], upstream: app }\n`), /routes\[0\]\.host: is a list\. Fix: rename "host" to "hosts" for a list\./);
});

t.test('ranges: ports, workers, keepalive, pipelining, timeouts', async (t) => {
  t.match(message(`listen: [127.0.0.1:70000]\n${app}`), /^portcullis\.yaml:1:10: listen\[0\]: "127\.0\.0\.1:70000" has port "70000", which is not a port number from 1 to 65535\. Fix: use a port such as "127\.0\.0\.1:8080"\./);
  t.match(message(`listen: 0\n${app}`), /listen: port 0 is not from 1 to 65535/);
  t.match(message(`workers: 0\n${app}`), /^portcullis\.yaml:1:10: workers: expected a whole number >= 1, got 0\./);
  t.match(message(`${app}    keepalive: -1\n`), /upstreams\.app\.keepalive: expected a whole number >= 0, got -1/);
  t.match(message(`${app}    pipelining: 65\n`), /upstreams\.app\.pipelining: expected a whole number from 1 to 64, got 65\. Fix: set it to 1 for no pipelining/);
  t.match(message(`${app}    max_connections: 0\n`), /upstreams\.app\.max_connections: expected a whole number >= 1, got 0/);
  t.match(message(`${app}    read_timeout: 0s\n`), /upstreams\.app\.read_timeout: expected a duration > 0, got "0s"/);
  t.match(message(`shutdown_timeout: 0\n${app}`), /shutdown_timeout: expected a duration > 0, got 0/);
  t.match(message(`send_timeout: soon\n${app}`), /send_timeout: .*"60s"/);
  t.match(message(`${app}    idle_timeout: 30d\n`), /idle_timeout: expected a duration, got "30d"/);
  t.match(message(`${app}    idle_timeout: 1000h\n`), /idle_timeout: "1000h" is longer than the longest timer Node can set/);
});

t.test('addresses: IPv6 without brackets, missing port, URL as listen address, path in a server', async (t) => {
  t.match(message(`listen: ["::1:8080"]\n${app}`), /listen\[0\]: "::1:8080" looks like an IPv6 address without brackets\. Fix: write it as "\[::1\]:8080"\./);
  t.match(message(`listen: [example.com]\n${app}`), /listen\[0\]: "example\.com" has no port\. Fix: add one, e\.g\. "example\.com:8080"\./);
  t.match(message(`listen: ["*:80"]\n${app}`), /listen\[0\]: "\*:80" has no host\. Fix: write "0\.0\.0\.0:PORT"/);
  t.match(message(`listen: ["http://0.0.0.0:80"]\n${app}`), /is a URL; a listen address is "host:port" without a scheme/);
  t.match(message(`listen: [127.0.0.1:80, "127.0.0.1:80"]\n${app}`), /listen\[1\]: repeats the address of listen\[0\]/);
  t.match(
    message('upstreams:\n  app:\n    servers: ["http://127.0.0.1:9000/api"]\n'),
    /^portcullis\.yaml:3:15: upstreams\.app\.servers\[0\]: "http:\/\/127\.0\.0\.1:9000\/api" has a path, .*the request path is passed upstream unchanged\. Fix: write "http:\/\/127\.0\.0\.1:9000"; .*strip_prefix/,
  );
  t.match(message('upstreams:\n  app:\n    servers: [127.0.0.1:9000/api]\n'), /servers\[0\]: "127\.0\.0\.1:9000\/api" has a path/);
  t.match(message('upstreams:\n  app:\n    servers: ["ws://x:1"]\n'), /uses the scheme "ws"; upstreams speak http or https/);
  t.match(
    message('upstreams:\n  app:\n    servers: ["http://a:1", "https://b:2"]\n'),
    /upstreams\.app\.servers: mixes http:\/\/ and https:\/\/ servers, but one upstream speaks one protocol\. Fix: split them into two upstreams/,
  );
});

t.test('upstreams: none, empty server lists, duplicate names, bad names, tls on http', async (t) => {
  t.match(message('workers: 1\n'), /^portcullis\.yaml: has no "upstreams", so there is nothing to proxy to\. Fix: add one, e\.g\./);
  t.match(message('upstreams: {}\n'), /^portcullis\.yaml:1:12: upstreams: defines no upstream/);
  t.match(message('upstreams:\n  app:\n    servers: []\n'), /^portcullis\.yaml:3:14: upstreams\.app\.servers: lists no servers\. Fix: list at least one/);
  t.match(message('upstreams:\n  app:\n    keepalive: 1\n'), /^portcullis\.yaml:3:5: upstreams\.app: has no "servers"/);
  t.match(
    message('upstreams:\n  app:\n    servers: [a:1]\n  app:\n    servers: [b:1]\nroutes: [{ upstream: app }]\n'),
    /^portcullis\.yaml:4:3: upstreams\.app: two upstreams are named "app"\. Fix: give each upstream its own name\./,
  );
  t.match(message('workers: 1\nworkers: 2\nupstreams: { a: { servers: [a:1] } }\n'), /^portcullis\.yaml:2:1: workers: "workers" appears twice/);
  t.match(message('upstreams:\n  "my app":\n    servers: [a:1]\n'), /upstreams\.my app: the upstream name "my app" has characters other than/);
  t.match(message(`${app}    tls: { verify: false }\n`), /upstreams\.app\.tls: is set but the servers are plain http/);
  t.match(message('upstreams:\n  app:\n    servers: ["https://a"]\n    tls: { cert: c.pem }\n'), /upstreams\.app\.tls\.cert: cannot read "c\.pem" \(.*\): no such file\. Fix: check the path; a relative path is relative to the directory of the config file/);
  t.match(message('upstreams:\n  app:\n    servers: ["https://a"]\n    tls: { ca: "" }\n'), /upstreams\.app\.tls\.ca: expected a file path/);
});

t.test('routes: unknown upstream, host patterns, paths, overlaps, missing routes', async (t) => {
  const two = 'upstreams:\n  app: { servers: [a:1] }\n  api: { servers: [b:1] }\n';
  t.match(message(`${two}routes:\n  - upstream: apii\n`), /^portcullis\.yaml:5:15: routes\[0\]\.upstream: there is no upstream named "apii" \(did you mean "api"\?\)\. Fix: write "api"\./);
  t.match(message(`${two}routes:\n  - upstream: web\n`), /routes\[0\]\.upstream: there is no upstream named "web"\. Fix: use one of "app" or "api", or define "web" under upstreams\./);
  t.match(message(`${two}routes:\n  - path: /\n`), /^portcullis\.yaml:5:5: routes\[0\]: does not say which upstream to use\. Fix: add "upstream: <name>", with a name among "app" or "api"\./);
  t.match(message(`${two}routes:\n  - { host: "a.*.com", upstream: app }\n`), /routes\[0\]\.host: "a\.\*\.com" has a "\*" that is not a leading "\*\."\. Fix: .*"\*\.example\.com"/);
  t.match(message(`${two}routes:\n  - { hosts: ["*"], upstream: app }\n`), /routes\[0\]\.hosts\[0\]: "\*" matches nothing specific\. Fix: leave out the host names to match any host/);
  t.match(message(`${two}routes:\n  - { host: "example.com:8080", upstream: app }\n`), /routes\[0\]\.host: "example\.com:8080" has a port; .*Fix: write "example\.com"\./);
  t.match(message(`${two}routes:\n  - { hosts: [], upstream: app }\n`), /routes\[0\]\.hosts: lists no host/);
  t.match(message(`${two}routes:\n  - { host: a.com, hosts: [b.com], upstream: app }\n`), /routes\[0\]: has both "host" and "hosts"/);
  t.match(message(`${two}routes:\n  - { path: api/, upstream: app }\n`), /routes\[0\]\.path: "api\/" does not start with "\/"\. Fix: write "\/api\/"\./);
  t.match(message(`${two}routes:\n  - { path: "/a?b", upstream: app }\n`), /routes\[0\]\.path: "\/a\?b" contains a query/);
  t.match(
    message(`${two}routes:\n  - { host: a.com, path: /x/, upstream: app }\n  - { hosts: [b.com, A.com], path: /x, upstream: api }\n`),
    /^portcullis\.yaml:6:5: routes\[1\]: host "a\.com" with path "\/x" is already routed by routes\[0\], so this route would never be used for it\./,
  );
  t.match(message(two), /^portcullis\.yaml: has 2 upstreams but no "routes" to choose between them\. Fix: add routes/);
  t.match(message(`${app}routes: []\n`), /routes: lists no route, so every request would get 404\. Fix: add a route, or remove "routes"/);
});

t.test('YAML syntax errors give line and column and show the spot', async (t) => {
  const text = 'upstreams:\n  app:\n    servers: [127.0.0.1:9000\n  api: {}\n';
  const { path, error } = reject(text);
  t.equal(error.issues.length, 1);
  t.match(error.issues[0], { source: path, line: 4, column: 3, fix: /indentation/ });
  t.match(error.message, new RegExp(`^${path.replace(/[.\\]/g, '\\$&')}:4:3: YAML syntax error: .*\\. Fix: check the indentation`));
  t.match(error.message, /\n {4}.*servers: \[127\.0\.0\.1:9000\n/, 'the offending lines follow, indented');
  t.match(message('upstreams:\n\tapp: {}\n'), /^portcullis\.yaml:2:1: YAML syntax error: Tabs are not allowed as indentation\. Fix: indent with spaces/);
  t.match(message(`${app}routes: [{ upstream: app }\n`), /^portcullis\.yaml:\d+:\d+: YAML syntax error: .*\]/);
});

t.test('all problems are reported together, in the order of the file', async (t) => {
  const { error } = reject(`workers: 0
upstreams:
  app:
    servers: [127.0.0.1:9000]
    keepalive: ten
    pipelining: 0
routes:
  - path: nope
    upstream: ap
`);
  t.same(
    error.issues.map((i) => `${i.line}:${i.key}`),
    ['1:workers', '5:upstreams.app.keepalive', '6:upstreams.app.pipelining', '8:routes[0].path', '9:routes[0].upstream'],
  );
  t.equal(error.message.split('\n').length, 5, 'one line per problem');
  t.ok(error.message.split('\n').every((line) => / Fix: .*\.$/.test(line)), 'each line has its fix');
});

t.test('a missing file names the path and the fix', async (t) => {
  const missing = join(dir, 'nope.yaml');
  t.throws(() => loadConfigFile(missing), {
    name: 'ConfigError',
    message: `${missing}: cannot read the config file: no such file. Fix: check the path given to --config (relative paths start from ${process.cwd()}).`,
  });
  t.throws(() => loadConfigFile(dir), { message: /cannot read the config file: it is a directory/ });
});
