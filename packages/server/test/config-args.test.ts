// The command line: flags, demo mode, --to upstreams, overriding a file, and flag errors.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { forwardingDefaults, upstreamDefaults, websocketDefaults } from '@portcullis/core';
import { adminDefaults } from '../src/config/types.js';
import t from 'tap';
import { ConfigError, parseArgs, resolveConfig, usage, withDemoOrigin, type ParsedArgs } from '../src/config/index.js';

const dir = mkdtempSync(join(tmpdir(), 'portcullis-config-args-'));

function args(...argv: string[]): ParsedArgs {
  const parsed = parseArgs(argv);
  if ('help' in parsed || 'version' in parsed) throw new Error('expected ParsedArgs');
  return parsed;
}

/** The message of the ConfigError that parsing `argv` throws. */
function flagError(...argv: string[]): string {
  try {
    parseArgs(argv);
  } catch (error) {
    if (error instanceof ConfigError) return error.message;
    throw error;
  }
  throw new Error(`expected ${argv.join(' ')} to be rejected`);
}

t.test('--help and --version win over every other flag', async (t) => {
  t.same(parseArgs(['--help']), { help: true });
  t.same(parseArgs(['-h', '--bogus', '--workers', 'x']), { help: true });
  t.same(parseArgs(['--version']), { version: true });
  t.same(parseArgs(['-v']), { version: true });
  t.match(usage, /--listen ADDR[\s\S]*--to URL[\s\S]*--config FILE[\s\S]*--workers N[\s\S]*--log-level L[\s\S]*--no-access-log[\s\S]*--trust-proxy CIDR/);
});

t.test('demo mode: no --to and no --config', async (t) => {
  const config = resolveConfig(args());
  t.same(config, {
    source: 'command line',
    listeners: [{ host: '127.0.0.1', port: 8080 }],
    workers: availableParallelism(),
    logLevel: 'info',
    accessLog: true,
    demo: true,
    shutdownTimeout: 10_000,
    drainDelay: 0,
    watch: false,
    sendTimeout: 60_000,
    admin: { host: adminDefaults.host, port: adminDefaults.port, token: null, tokenFile: null, scrapeTimeout: adminDefaults.scrapeTimeout },
    proxy: {
      upstreams: [{ ...upstreamDefaults, name: 'demo', protocol: 'http', servers: [] }],
      routes: [{ hosts: [], pathPrefix: '/', stripPrefix: false, upstream: 'demo' }],
      forwarding: forwardingDefaults,
      websocket: websocketDefaults,
    },
  });
  const started = withDemoOrigin(config, { host: '127.0.0.1', port: 41234 });
  t.same(started.proxy.upstreams[0]!.servers, [{ host: '127.0.0.1', port: 41234 }], 'the supervisor fills in the origin');
  t.same(config.proxy.upstreams[0]!.servers, [], 'without changing the original');
  t.same(resolveConfig(args('--listen', '9090')).listeners, [{ host: '127.0.0.1', port: 9090 }], 'demo on another port');
});

t.test('--to: one upstream of several servers, round-robin, with a catch-all route', async (t) => {
  const config = resolveConfig(args('--listen', '127.0.0.1:8080', '--to', 'http://127.0.0.1:9000', '--to=http://127.0.0.1:9001', '--to', '127.0.0.1:9002'));
  t.equal(config.demo, false);
  t.equal(config.source, 'command line');
  t.same(config.proxy.upstreams, [
    {
      ...upstreamDefaults,
      name: 'default',
      protocol: 'http',
      servers: [
        { host: '127.0.0.1', port: 9000 },
        { host: '127.0.0.1', port: 9001 },
        { host: '127.0.0.1', port: 9002 },
      ],
    },
  ]);
  t.same(config.proxy.routes, [{ hosts: [], pathPrefix: '/', stripPrefix: false, upstream: 'default' }]);
  const https = resolveConfig(args('--to', 'https://api.example.com', '--to', 'https://[::1]:8443/'));
  t.equal(https.proxy.upstreams[0]!.protocol, 'https');
  t.same(https.proxy.upstreams[0]!.servers, [
    { host: 'api.example.com', port: 443 },
    { host: '::1', port: 8443 },
  ]);
});

t.test('flags: listen (repeatable, IPv6, bare port), workers, log level, access log, trusted proxies', async (t) => {
  const parsed = args(
    '-l', '[::1]:8080', '--listen', '8081', '--listen=0.0.0.0:80',
    '--to', 'http://127.0.0.1:9000',
    '-w', '3', '--log-level', 'Debug', '--no-access-log',
    '--trust-proxy', '10.0.0.0/8,192.168.0.1', '--trust-proxy', 'fd00::/8',
  );
  t.same(parsed.listen, [
    { host: '::1', port: 8080 },
    { host: '127.0.0.1', port: 8081 },
    { host: '0.0.0.0', port: 80 },
  ]);
  t.match(parsed, { workers: 3, logLevel: 'debug', accessLog: false, trustProxy: ['10.0.0.0/8', '192.168.0.1', 'fd00::/8'] });
  const config = resolveConfig(parsed);
  t.match(config, { workers: 3, logLevel: 'debug', accessLog: false, listeners: parsed.listen });
  t.same(config.proxy.forwarding.trustedProxies, ['10.0.0.0/8', '192.168.0.1', 'fd00::/8']);
  t.equal(args('--workers', 'auto').workers, availableParallelism());
  t.notOk('accessLog' in args(), 'unset flags are absent');
});

t.test('--config: the file provides everything; --workers, --log-level and --no-access-log override it', async (t) => {
  const path = join(dir, 'portcullis.yaml');
  writeFileSync(path, 'workers: 2\nlog: { level: warn, access: true }\nlisten: [127.0.0.1:7000]\nupstreams: { app: { servers: [127.0.0.1:9000] } }\n');
  const fromFile = resolveConfig(args('--config', path));
  t.match(fromFile, { source: path, workers: 2, logLevel: 'warn', accessLog: true, demo: false, listeners: [{ host: '127.0.0.1', port: 7000 }] });
  const overridden = resolveConfig(args('-c', path, '--workers', '5', '--log-level', 'trace', '--no-access-log'));
  t.match(overridden, { source: path, workers: 5, logLevel: 'trace', accessLog: false });
  t.same(overridden.proxy, fromFile.proxy, 'the proxy part comes from the file only');
  t.throws(() => resolveConfig(args('--config', join(dir, 'missing.yaml'))), { name: 'ConfigError', message: /missing\.yaml: cannot read the config file: no such file/ });
});

t.test('unknown flags: which flag, a "did you mean", and the fix', async (t) => {
  t.equal(flagError('--lisen', '8080'), 'command line: --lisen: unknown option (did you mean --listen?). Fix: write --listen.');
  t.equal(flagError('--worker', '2'), 'command line: --worker: unknown option (did you mean --workers?). Fix: write --workers.');
  t.equal(flagError('--loglevel=debug'), 'command line: --loglevel: unknown option (did you mean --log-level?). Fix: write --log-level.');
  t.equal(flagError('--frobnicate'), 'command line: --frobnicate: unknown option. Fix: see --help for the options.');
  t.equal(flagError('portcullis.yaml'), 'command line: unexpected argument "portcullis.yaml". Fix: write --config portcullis.yaml.');
});

t.test('bad values: which flag, what is wrong, the fix', async (t) => {
  t.equal(
    flagError('--to', 'http://127.0.0.1:9000/api'),
    'command line: --to: "http://127.0.0.1:9000/api" has a path, query or fragment, but a server address names only a host and port: ' +
      'the request path is passed upstream unchanged. Fix: write "http://127.0.0.1:9000"; to send only some paths to this upstream, ' +
      'or to remove a path prefix, use a route with "path" and "strip_prefix" in a config file.',
  );
  t.match(flagError('--to', 'http://127.0.0.1:9000/?x=1'), /--to: .* has a path, query or fragment/);
  t.match(flagError('--to', 'ftp://files'), /^command line: --to: "ftp:\/\/files" uses the scheme "ftp"; upstreams speak http or https\. Fix: /);
  t.match(flagError('--to', 'http://a:1', '--to', 'https://b:2'), /^command line: --to: the --to servers mix http:\/\/ and https:\/\/ servers.*\. Fix: use the same scheme for every --to/);
  t.match(flagError('--listen', '::1:8080'), /^command line: --listen: "::1:8080" looks like an IPv6 address without brackets\. Fix: write it as "\[::1\]:8080"\.$/);
  t.match(flagError('--listen', '70000'), /^command line: --listen: "70000" has port "70000", which is not a port number from 1 to 65535/);
  t.match(flagError('--workers', 'many'), /^command line: --workers: expected a whole number >= 1, got "many"\. Fix: set it to the number of worker processes, e\.g\. 4, or "auto" for one per CPU\.$/);
  t.match(flagError('--workers', '0'), /--workers: expected a whole number >= 1, got "0"/);
  t.match(flagError('--log-level', 'warning'), /^command line: --log-level: expected a log level, got "warning" \(did you mean "warn"\?\)\. Fix: use one of "fatal", /);
  t.match(flagError('--trust-proxy', '10.0.0.0/40'), /^command line: --trust-proxy: "10\.0\.0\.0\/40" is not an IP address or CIDR range .*\. Fix: write an address range such as "10\.0\.0\.0\/8"/);
  t.match(flagError('--no-access-log=false'), /^command line: --no-access-log: takes no value, got "false"\. Fix: write just --no-access-log\.$/);
});

t.test('missing values, repeated flags and flags that cannot go with --config', async (t) => {
  t.equal(flagError('--to'), 'command line: --to: needs a value. Fix: write it like --to http://127.0.0.1:9000.');
  t.equal(
    flagError('--listen', '--to', 'http://a:1'),
    'command line: --listen: needs a value, but is followed by the option --to. Fix: write it like --listen 127.0.0.1:8080, or --listen=--to if the value really starts with "-".',
  );
  t.equal(flagError('--workers', '2', '--workers', '3'), 'command line: --workers: is given twice ("2" and "3"). Fix: keep one --workers.');
  t.match(flagError('--listen', '8080', '--listen', '127.0.0.1:8080'), /--listen: "127\.0\.0\.1:8080" is given twice/);
  t.match(
    flagError('--config', 'p.yaml', '--to', 'http://a:1'),
    /^command line: --to: cannot be combined with --config, .*\. Fix: put it in the config file \(upstreams\), or drop --config; only --workers, --log-level, --no-access-log and --admin override the file\.$/,
  );
  t.match(flagError('--config', 'p.yaml', '--listen', '8080'), /--listen: cannot be combined with --config/);
  t.match(flagError('--config', 'p.yaml', '--trust-proxy', '10.0.0.0/8'), /--trust-proxy: cannot be combined with --config/);
});

t.test('several bad flags are reported together', async (t) => {
  try {
    parseArgs(['--workers', 'x', '--log-level', 'loud', '--bogus']);
    t.fail('expected a ConfigError');
  } catch (error) {
    t.ok(error instanceof ConfigError);
    t.same((error as ConfigError).issues.map((i) => i.key), ['--bogus', '--workers', '--log-level']);
  }
});
