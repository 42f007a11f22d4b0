// The admin endpoint: `admin:` in the file (listen, token_file, scrape_timeout and the rules on its
// address), the demo's default, and `--admin` over both.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { ConfigError, parseArgs, resolveConfig, usage, type ParsedArgs } from '../src/config/index.js';
import { adminDefaults } from '../src/config/types.js';
import { configFiles } from './fixtures/config-files.js';

const dir = mkdtempSync(join(tmpdir(), 'portcullis-config-admin-'));
const { load, message } = configFiles('config-admin', dir);
writeFileSync(join(dir, 'admin.token'), '  s3cret-token\n');
writeFileSync(join(dir, 'empty.token'), ' \n\n');
writeFileSync(join(dir, 'two-words.token'), 'two words\n');

const app = 'upstreams: { app: { servers: [127.0.0.1:9000] } }\n';
const defaults = { host: adminDefaults.host, port: adminDefaults.port, token: null, tokenFile: null, scrapeTimeout: adminDefaults.scrapeTimeout };

function args(...argv: string[]): ParsedArgs {
  const parsed = parseArgs(argv);
  if ('help' in parsed || 'version' in parsed) throw new Error('expected ParsedArgs');
  return parsed;
}

/** The message of the ConfigError that `fn` throws. */
function thrown(fn: () => unknown): string {
  try {
    fn();
  } catch (error) {
    if (error instanceof ConfigError) return error.message;
    throw error;
  }
  throw new Error('expected a ConfigError');
}

t.test('off unless configured', async (t) => {
  t.equal(load(app).admin, null);
  t.equal(load(`admin: off\n${app}`).admin, null);
  t.equal(load(`admin: false\n${app}`).admin, null);
});

t.test('listen, token_file (relative to the config file, trimmed) and scrape_timeout', async (t) => {
  t.same(load(`admin:\n  listen: 127.0.0.1:9901\n${app}`).admin, defaults);
  t.same(load(`admin: { listen: 9902 }\n${app}`).admin, { ...defaults, port: 9902 }, 'a bare port is 127.0.0.1');
  t.same(load(`admin: { listen: "[::1]:9901" }\n${app}`).admin, { ...defaults, host: '::1' });
  t.same(load(`admin: { listen: "localhost:9901" }\n${app}`).admin, { ...defaults, host: 'localhost' });
  t.same(load(`admin:\n  listen: 0.0.0.0:9901\n  token_file: admin.token\n  scrape_timeout: 250ms\n${app}`).admin, {
    host: '0.0.0.0',
    port: 9901,
    token: 's3cret-token',
    tokenFile: join(dir, 'admin.token'),
    scrapeTimeout: 250,
  });
  t.same(load(`admin: { listen: 127.0.0.1:9901, token_file: admin.token }\n${app}`).admin!.token, 's3cret-token', 'a token on loopback too');
});

t.test('bad values name file, line, key and fix', async (t) => {
  t.equal(
    message(`admin:\n  scrape_timeout: 1s\n${app}`),
    'portcullis.yaml:2:3: admin: has no "listen". Fix: add the address to serve it on, e.g. "listen: 127.0.0.1:9901".',
  );
  t.equal(
    message(`admin:\n  listen: "::1:9901"\n${app}`),
    'portcullis.yaml:2:11: admin.listen: "::1:9901" looks like an IPv6 address without brackets. Fix: write it as "[::1]:9901".',
  );
  t.match(message(`admin: { listen: "127.0.0.1" }\n${app}`), /admin\.listen: "127\.0\.0\.1" has no port\. Fix: add one, e.g. "127\.0\.0\.1:9901"\./);
  t.match(message(`admin: { listen: "http://127.0.0.1:9901" }\n${app}`), /admin\.listen: "http:\/\/127\.0\.0\.1:9901" is a URL/);
  t.match(message(`admin: { listen: { address: 127.0.0.1:9901 } }\n${app}`), /admin\.listen: expected a "host:port" string, got a mapping\. Fix: write "host:port" such as "127\.0\.0\.1:9901"; the admin endpoint has no TLS/);
  t.match(message(`admin: { listen: 127.0.0.1:9901, scrape_timeout: soon }\n${app}`), /admin\.scrape_timeout: expected a duration, got "soon"\. Fix: write a duration such as "1s"/);
  t.match(message(`admin: { listen: 127.0.0.1:9901, lisen: 1 }\n${app}`), /admin\.lisen: unknown key \(did you mean "listen"\?\)/);
  t.match(message(`admin: 127.0.0.1:9901\n${app}`), /^portcullis\.yaml:1:8: admin: expected a mapping of keys \("listen", "token_file" and "scrape_timeout"\), got "127\.0\.0\.1:9901"\. Fix: write it like "admin: \{ listen: 127\.0\.0\.1:9901 \}"\./);

  t.match(
    message(`admin:\n  listen: 127.0.0.1:9901\n  token_file: missing.token\n${app}`),
    /^portcullis\.yaml:3:15: admin\.token_file: cannot read "missing\.token" \(.*missing\.token\): no such file\. Fix: check the path; a relative path is relative to the directory of the config file\.$/,
  );
  t.equal(
    message(`admin:\n  listen: 127.0.0.1:9901\n  token_file: empty.token\n${app}`),
    'portcullis.yaml:3:15: admin.token_file: "empty.token" is empty, so there is no token. Fix: write the token into it, e.g. "openssl rand -hex 32 > empty.token".',
  );
  t.match(message(`admin: { listen: 127.0.0.1:9901, token_file: two-words.token }\n${app}`), /admin\.token_file: "two-words\.token" holds more than one word/);
  t.match(message(`admin: { listen: 127.0.0.1:9901, token_file: 3 }\n${app}`), /admin\.token_file: expected a file path, got 3/);
});

t.test('a non-loopback address needs a token', async (t) => {
  t.equal(
    message(`admin:\n  listen: 0.0.0.0:9901\n${app}`),
    'portcullis.yaml:2:11: admin.listen: 0.0.0.0:9901 is not a loopback address, and there is no token_file, so anyone who reaches it could read /metrics and /status. ' +
      'Fix: add "token_file" (a file holding the bearer token clients must send), or listen on 127.0.0.1:9901.',
  );
  t.match(message(`admin: { listen: "[::]:9901" }\n${app}`), /admin\.listen: \[::\]:9901 is not a loopback address/);
  t.match(message(`admin: { listen: "10.0.0.1:9901" }\n${app}`), /admin\.listen: 10\.0\.0\.1:9901 is not a loopback address/);
  for (const host of ['127.0.0.1', '127.1.2.3', '[::1]', 'localhost']) {
    t.ok(load(`admin: { listen: "${host}:9901" }\n${app}`).admin, `${host} is loopback`);
  }
  t.notMatch(
    message(`admin: { listen: 0.0.0.0:9901, token_file: missing.token }\n${app}`),
    /not a loopback address/,
    'an unreadable token file is the one problem',
  );
});

t.test("the admin port is not a listener's", async (t) => {
  t.equal(
    message(`listen: [127.0.0.1:8080]\nadmin:\n  listen: 127.0.0.1:8080\n${app}`),
    'portcullis.yaml:3:11: admin.listen: 127.0.0.1:8080 takes port 8080, on which the listener 127.0.0.1:8080 accepts connections. ' +
      'Fix: give the admin endpoint a port of its own, e.g. 127.0.0.1:9901.',
  );
  t.match(message(`listen: [0.0.0.0:9901]\nadmin: { listen: 127.0.0.1:9901 }\n${app}`), /admin\.listen: 127\.0\.0\.1:9901 takes port 9901, on which the listener 0\.0\.0\.0:9901 accepts connections\. Fix: .*e\.g\. 127\.0\.0\.1:9902\./);
  t.match(message(`listen: ["[::]:8443"]\nadmin: { listen: 127.0.0.1:8443 }\n${app}`), /takes port 8443/, ':: takes IPv4 too');
  t.match(message(`listen: [{ address: 127.0.0.1:80, redirect_https: true }]\nadmin: { listen: 80 }\n${app}`), /takes port 80/, 'redirecting listeners count');
  t.ok(load(`listen: [127.0.0.2:9901]\nadmin: { listen: 127.0.0.1:9901 }\n${app}`).admin, 'another address, same port');
  t.ok(load(`listen: ["[::1]:9901"]\nadmin: { listen: 127.0.0.1:9901 }\n${app}`).admin, 'another family, same port');
});

t.test('the demo serves it at the default address; --to leaves it off', async (t) => {
  t.same(resolveConfig(args()).admin, defaults);
  t.equal(resolveConfig(args('--to', 'http://127.0.0.1:9000')).admin, null);
  t.equal(resolveConfig(args('--admin', 'off')).admin, null, '--admin off turns the demo\'s off');
  t.same(resolveConfig(args('--admin', '9902')).admin, { ...defaults, port: 9902 });
  t.equal(
    thrown(() => resolveConfig(args('--listen', '127.0.0.1:9901'))),
    'command line: --listen: 127.0.0.1:9901 takes port 9901, on which the demo serves its admin endpoint. ' +
      'Fix: listen on another port, or move the admin endpoint, e.g. --admin 127.0.0.1:9902 (or --admin off).',
  );
  t.ok(resolveConfig(args('--listen', '127.0.0.1:9901', '--admin', '127.0.0.1:9902')).admin);
});

t.test('--admin [ADDR]: the default address without a value, and over the file', async (t) => {
  t.same(args('--admin').admin, { host: adminDefaults.host, port: adminDefaults.port });
  t.same(args('--admin', '--workers', '2'), { listen: [], trustProxy: [], admin: { host: adminDefaults.host, port: adminDefaults.port }, workers: 2 }, 'the next option is not its value');
  t.same(args('--admin', '127.0.0.1:9910').admin, { host: '127.0.0.1', port: 9910 });
  t.same(args('--admin=[::1]:9910').admin, { host: '::1', port: 9910 });
  t.equal(args('--admin', 'OFF').admin, null);
  t.notOk('admin' in args(), 'absent unless given');
  t.match(usage, /--trust-proxy CIDR[\s\S]*--admin \[ADDR\]/);

  t.same(resolveConfig(args('--to', 'http://127.0.0.1:9000', '--admin')).admin, defaults);
  t.equal(
    thrown(() => parseArgs(['--admin', '127.0.0.1'])),
    'command line: --admin: "127.0.0.1" has no port. Fix: add one, e.g. "127.0.0.1:9901".',
  );
  t.match(thrown(() => parseArgs(['--admin', '1', '--admin=2'])), /^command line: --admin: is given twice \(--admin 1, --admin=2\)\. Fix: keep one --admin\.$/);
  t.equal(
    thrown(() => resolveConfig(args('--to', 'http://127.0.0.1:9000', '--admin', '0.0.0.0:9901'))),
    'command line: --admin: 0.0.0.0:9901 is not a loopback address, and there is no token_file, so anyone who reaches it could read /metrics and /status. ' +
      'Fix: write --admin 127.0.0.1:9901; a token needs a config file (admin.token_file).',
  );
  t.match(
    thrown(() => resolveConfig(args('--to', 'http://127.0.0.1:9000', '--listen', '127.0.0.1:8080', '--admin', '8080'))),
    /^command line: --admin: 127\.0\.0\.1:8080 takes port 8080, on which the listener 127\.0\.0\.1:8080 accepts connections\. Fix: give --admin a port of its own, e\.g\. 127\.0\.0\.1:9901\.$/,
  );

  const withToken = join(dir, 'with-token.yaml');
  writeFileSync(withToken, `admin:\n  listen: 127.0.0.1:9901\n  token_file: admin.token\n  scrape_timeout: 2s\n${app}`);
  t.same(
    resolveConfig(args('--config', withToken, '--admin', '0.0.0.0:9911')).admin,
    { host: '0.0.0.0', port: 9911, token: 's3cret-token', tokenFile: join(dir, 'admin.token'), scrapeTimeout: 2_000 },
    'the address is the flag\'s, the token and scrape timeout the file\'s',
  );
  t.equal(resolveConfig(args('--config', withToken, '--admin', 'off')).admin, null);
  const plain = join(dir, 'plain.yaml');
  writeFileSync(plain, app);
  t.equal(resolveConfig(args('--config', plain)).admin, null, 'a file without admin: off');
  t.same(resolveConfig(args('--config', plain, '--admin')).admin, defaults);
  t.match(
    thrown(() => resolveConfig(args('--config', plain, '--admin', '0.0.0.0:9901'))),
    /^command line: --admin: 0\.0\.0\.0:9901 is not a loopback address.*Fix: put "token_file" under admin in .*plain\.yaml \(a file holding the bearer token\), or write --admin 127\.0\.0\.1:9901\.$/,
  );
});
